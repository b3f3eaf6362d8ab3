"""One journey at a time per seeded staff number that carries conversation state.

A seeded driver waiting for a delivery code, or a vendor asked for a new price, holds a session on the
SUT: two journeys playing the same number at once (pytest-xdist workers) would answer each other's
prompts. Each such number gets an exclusive file lock (``fcntl.flock``) for the whole journey, so
journeys sharing one run one after the other and every other journey runs alongside. Stations are
stateless (taps only) and buyers are fresh numbers: they are never locked.

(pytest-xdist's ``--dist loadgroup`` would do this per test, but it renames items through ``_nodeid``,
which pytest 9 no longer reads.)
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from easymo_qa.conversation.model import Journey

STATEFUL_ROLES = ("driver", "vendor")

try:
    import fcntl
except ImportError:  # not POSIX: no locks, journeys sharing staff may interfere under xdist
    fcntl = None  # type: ignore[assignment]


def stateful_numbers(journey: Journey) -> list[str]:
    """The seeded numbers of this journey whose conversation state another journey could disturb."""
    return sorted({a.phone for a in journey.actors.values() if a.phone and a.role in STATEFUL_ROLES})


@contextmanager
def seeded_actor_locks(journey: Journey, sut: str, directory: Path | None = None) -> Iterator[None]:
    """Hold an exclusive lock on each stateful seeded number of ``journey`` on the SUT at ``sut``.

    Locks are taken in sorted order, so two journeys never wait on each other.
    """
    numbers = stateful_numbers(journey)
    if not numbers or fcntl is None:
        yield
        return
    folder = directory or Path(tempfile.gettempdir()) / "easymo-qa-actor-locks"
    folder.mkdir(parents=True, exist_ok=True)
    scope = hashlib.sha256(sut.encode()).hexdigest()[:12]  # another stack, other locks
    with ExitStack() as held:
        for number in numbers:
            handle: IO[bytes] = held.enter_context((folder / f"{scope}-{number}.lock").open("ab"))
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            held.callback(fcntl.flock, handle.fileno(), fcntl.LOCK_UN)
        yield
