"""What the SUT sent to the Graph API simulator: accepted messages and refused requests, with long-polling.

Every record gets a ``seq`` from one counter shared by messages and rejections, so a harness can keep a
single cursor. The counter never goes back, not even after :meth:`Outbox.clear`: a poller still holding
an old cursor then keeps seeing new records instead of silently missing the first ones after a reset.

Besides messages the outbox keeps *events*: the SUT marking a user's message read, or showing him the
typing indicator (``type`` ``read`` / ``typing``, ``"event": true``). They sit in the user's stream with
the same ``seq`` counter, but :meth:`Outbox.messages` leaves them out unless asked (``events=True``):
they are no replies, and every reader that counts replies must never see one.

Memory is capped: at most ``max_records`` messages (200,000 by default) and as many rejections are kept;
past that the oldest are dropped. A test run that reads its messages as they arrive never notices; one
that reads after 200k messages will find the oldest gone.

Waiting costs nothing while idle: each long-poll parks on its own :class:`asyncio.Event`, registered
under the recipient it waits for, and only a record for that recipient sets it. Events are created by
the waiter itself, inside the running loop, so the outbox is not tied to any one event loop (tests run
several ``asyncio.run`` calls against one app). The outbox is not thread-safe: use it from the loop
that serves the app.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Reversible
from typing import Any

Record = dict[str, Any]

DEFAULT_MAX_RECORDS = 200_000
_EVERYONE = ""  # waiter key for "any recipient"; no normalised phone number is empty


def normalise_recipient(value: Any) -> str:
    """Digits of a phone number as Meta's ``wa_id`` spells them: no ``+``, spaces, dashes or brackets.

    Query strings decode ``+`` as a space, so ``?to=+2507...`` arrives as `` 2507...``; both normalise
    to the same key.
    """
    if not isinstance(value, str):
        return ""
    return "".join(ch for ch in value if ch.isdigit())


def _newer_than(records: Reversible[Record], after: int) -> list[Record]:
    """Records with ``seq > after``, oldest first; scans from the newest end, so a caught-up poll is O(1)."""
    found: list[Record] = []
    for record in reversed(records):
        if record["seq"] <= after:
            break
        found.append(record)
    found.reverse()
    return found


class Outbox:
    """Recorded messages and rejections, queryable by recipient and sequence number."""

    def __init__(self, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        self.max_records = max_records
        self._seq = 0
        self._messages: deque[Record] = deque()
        self._by_recipient: dict[str, deque[Record]] = {}
        self._rejections: deque[Record] = deque(maxlen=max_records)
        self._waiters: dict[str, set[asyncio.Event]] = {}

    @property
    def last_seq(self) -> int:
        """The highest ``seq`` handed out so far (messages and rejections alike), 0 before any."""
        return self._seq

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def record_message(
        self,
        *,
        wamid: str,
        to: str,
        kind: str,
        body: dict[str, Any],
        recipient: str | None = None,
        addressed_by: str = "phone",
    ) -> Record:
        """Store an accepted message under the phone digits ``to`` and wake whoever waits for them.

        ``recipient`` is the BSUID the body named (``None``: none), ``addressed_by`` how the SUT
        addressed the user (``phone`` or ``bsuid``); the record is filed under his phone either way.
        """
        record: Record = {
            "seq": self._next_seq(),
            "wamid": wamid,
            "to": normalise_recipient(to),
            "type": kind,
            "received_at": time.time(),
            "body": body,
            "recipient": recipient,
            "addressed_by": addressed_by,
        }
        return self._store(record)

    def record_event(self, *, kind: str, to: str, message_id: str, body: dict[str, Any]) -> Record:
        """Store a read / typing event for the user with phone digits ``to`` (``""``: nobody known)."""
        record: Record = {
            "seq": self._next_seq(),
            "wamid": "",
            "to": normalise_recipient(to),
            "type": kind,
            "event": True,
            "message_id": message_id,
            "received_at": time.time(),
            "body": body,
        }
        return self._store(record)

    def _store(self, record: Record) -> Record:
        recipient = record["to"]
        self._messages.append(record)
        self._by_recipient.setdefault(recipient, deque()).append(record)
        self._evict()
        for key in (recipient, _EVERYONE):
            for event in self._waiters.get(key, ()):
                event.set()
        return record

    def record_rejection(
        self,
        *,
        to: Any,
        body: Any,
        error: dict[str, Any],
        http_status: int,
        raw_body: str | None = None,
        recipient: str | None = None,
    ) -> Record:
        """Store a refused request and the Graph ``error`` object it was answered with.

        ``to`` is the user's phone digits (also for a message addressed to his BSUID, which is kept in
        ``recipient``). ``body`` is kept only when it is a JSON object, else ``None`` (readers do
        ``body.get(...)``); a body that was not a JSON object is kept as text in ``raw_body`` instead.
        """
        record: Record = {
            "seq": self._next_seq(),
            "to": normalise_recipient(to),
            "received_at": time.time(),
            "body": body if isinstance(body, dict) else None,
            "error": error,
            "http_status": http_status,
        }
        if recipient is not None:
            record["recipient"] = recipient
        if raw_body is not None and not isinstance(body, dict):
            record["raw_body"] = raw_body
        self._rejections.append(record)
        return record

    def _evict(self) -> None:
        # Records are appended in seq order everywhere, so the globally oldest message is also the
        # oldest of its recipient: dropping it is a popleft on both queues.
        while len(self._messages) > self.max_records:
            oldest = self._messages.popleft()
            mine = self._by_recipient[oldest["to"]]
            mine.popleft()
            if not mine:
                del self._by_recipient[oldest["to"]]

    def messages(self, to: str | None = None, after: int = 0, *, events: bool = False) -> list[Record]:
        """Messages with ``seq > after``, oldest first: to ``to``, or to everyone when ``to`` is None;
        read / typing events too when ``events``."""
        if to is None:
            found = _newer_than(self._messages, after)
        else:
            found = _newer_than(self._by_recipient.get(normalise_recipient(to), ()), after)
        return found if events else [r for r in found if not r.get("event")]

    def rejections(self, to: str | None = None, after: int = 0) -> list[Record]:
        """Refused requests with ``seq > after``, oldest first, optionally only those addressed to ``to``."""
        found = _newer_than(self._rejections, after)
        if to is None:
            return found
        recipient = normalise_recipient(to)
        return [r for r in found if r["to"] == recipient]

    async def wait_for_messages(
        self, to: str | None, after: int, timeout: float, *, events: bool = False
    ) -> list[Record]:
        """Messages (and events, when ``events``) newer than ``after``; if none yet, wait up to
        ``timeout`` seconds for the first."""
        found = self.messages(to, after, events=events)
        if found or timeout <= 0:
            return found
        key = _EVERYONE if to is None else normalise_recipient(to)
        event = asyncio.Event()
        waiters = self._waiters.setdefault(key, set())
        waiters.add(event)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while not found:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    break
                event.clear()
                found = self.messages(to, after, events=events)
        finally:
            waiters.discard(event)
            if not waiters and self._waiters.get(key) is waiters:
                del self._waiters[key]
        return found

    def clear(self) -> None:
        """Forget every message and rejection; ``seq`` keeps counting up (see the module docstring)."""
        self._messages.clear()
        self._by_recipient.clear()
        self._rejections.clear()
