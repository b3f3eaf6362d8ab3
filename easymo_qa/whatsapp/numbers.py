"""Phone numbers for simulated users, from a reserved range of Rwandan test numbers."""

from __future__ import annotations

import os

from faker import Faker


class TestNumberPool:
    """Unique numbers ``prefix`` + ``shard digit`` + random digits, ``length`` digits long, no plus sign.

    The shard digit (the pytest-xdist worker index, or a load-test worker's) keeps parallel processes from
    ever handing out the same number; the rest comes from Faker with a random seed.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, prefix: str = "25079", length: int = 12, shard: int = 0) -> None:
        free = length - len(prefix) - 1
        if free < 3:
            raise ValueError(
                f"test number prefix {prefix!r} leaves too few digits for {length}-digit numbers"
            )
        self.prefix = prefix + str(shard % 10)
        self._free = free
        self._faker = Faker()
        self._faker.seed_instance(int.from_bytes(os.urandom(8), "big"))
        self._used: set[str] = set()

    def next(self, suffix: str = "") -> str:
        """A fresh number; ``suffix`` fixes its last digits (a journey actor's ``phone_suffix``)."""
        if len(suffix) > self._free - 2:
            raise ValueError(f"suffix {suffix!r} is too long for this number range")
        for _ in range(1000):
            number = self.prefix + self._digits(self._free - len(suffix)) + suffix
            if number not in self._used:
                self._used.add(number)
                return number
        raise RuntimeError(f"test number range {self.prefix}… is exhausted")

    def _digits(self, count: int) -> str:
        """``count`` uniformly random digits (the one thing a cheaper pool replaces)."""
        return self._faker.numerify("#" * count)

    def owns(self, number: str) -> bool:
        """Whether ``number`` belongs to the reserved test range (used to find test data to clean up)."""
        return number.lstrip("+").startswith(self.prefix[:-1])
