"""A small record of the calls a simulator received, and the ``/_sim/calls`` routes that expose it.

The LLM and maps simulators both need "what did the SUT ask me, in order"; this is that record. Like
:class:`~easymo_qa.simulators.outbox.Outbox`, every record gets a ``seq`` that never goes back, not even
after :meth:`CallLog.clear`, so a harness holding an old ``after`` cursor keeps seeing new calls instead
of silently missing the first ones after a reset. Memory is capped (oldest records dropped first).

Not thread-safe: use it from the event loop that serves the app.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

Record = dict[str, Any]

DEFAULT_MAX_RECORDS = 200_000


class CallLog:
    """Calls in arrival order: dicts with ``seq``, ``at`` (epoch seconds) and the caller's fields."""

    def __init__(self, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        self._seq = 0
        self._records: deque[Record] = deque(maxlen=max_records)

    @property
    def last_seq(self) -> int:
        """The highest ``seq`` handed out so far, 0 before any call."""
        return self._seq

    def record(self, **fields: Any) -> Record:
        """Store one call; ``seq`` and ``at`` are added here and come first in the record."""
        self._seq += 1
        record: Record = {"seq": self._seq, "at": time.time(), **fields}
        self._records.append(record)
        return record

    def calls(self, after: int = 0, **match: Any) -> list[Record]:
        """Calls with ``seq > after``, oldest first, whose fields equal every ``match`` given (None = any)."""
        wanted = {key: value for key, value in match.items() if value is not None}
        found: list[Record] = []
        # Newest first and stop at the cursor: a caught-up poll costs nothing however long the log is.
        for record in reversed(self._records):
            if record["seq"] <= after:
                break
            if all(record.get(key) == value for key, value in wanted.items()):
                found.append(record)
        found.reverse()
        return found

    def clear(self) -> None:
        """Forget every call; ``seq`` keeps counting up (see the module docstring)."""
        self._records.clear()


def call_log_routes(
    path: str, log_of: Callable[[Request], CallLog], filters: Iterable[str] = ()
) -> list[Route]:
    """``GET path?after=&<filter>=`` → ``{"calls": [...], "last_seq": N}`` and ``DELETE path``.

    ``filters`` names record fields the query string may match exactly (e.g. ``user`` for the LLM).
    """
    names = tuple(filters)

    async def get_calls(request: Request) -> JSONResponse:
        params = request.query_params
        try:
            after = int(params.get("after", "0"))
        except ValueError:
            return JSONResponse({"error": "after must be an integer"}, status_code=400)
        log = log_of(request)
        match = {name: params.get(name) for name in names}
        return JSONResponse({"calls": log.calls(after, **match), "last_seq": log.last_seq})

    async def delete_calls(request: Request) -> JSONResponse:
        log_of(request).clear()
        return JSONResponse({"cleared": True})

    return [Route(path, get_calls, methods=["GET"]), Route(path, delete_calls, methods=["DELETE"])]
