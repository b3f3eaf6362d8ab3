"""Fresh test numbers for load users, drawn the cheap way.

The functional suites' :class:`~easymo_qa.whatsapp.numbers.TestNumberPool` draws its digits through Faker,
about 2.5 % of a load worker's CPU at a few thousand journeys a second (py-spy, ``make bench-load``); the
same uniform digits from :class:`random.Random` cost a tenth of that. Same range, same shard digit, same
promise: never the same number twice in one process.
"""

from __future__ import annotations

import os
import random

from easymo_qa.whatsapp.numbers import TestNumberPool


class LoadNumberPool(TestNumberPool):
    """A :class:`TestNumberPool` whose random digits come from a seeded :class:`random.Random`."""

    __test__ = False  # not a pytest test class

    def __init__(self, prefix: str = "25079", length: int = 12, shard: int = 0) -> None:
        super().__init__(prefix, length, shard)
        self._rng = random.Random(int.from_bytes(os.urandom(8), "big"))

    def _digits(self, count: int) -> str:
        return f"{self._rng.randrange(10**count):0{count}d}"
