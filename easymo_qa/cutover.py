"""Cutover checks' machinery: who the AI agents serve, a rollout probe, and the rollback drill.

Everything is decided black-box, from the reply alone: a free-text search answered with an offers list
(rows ``offer:…``) was served by the AI agents; answered with the home menu it went to the legacy flow
(easyMO's menu-driven bot, which has no free-text search).

- :func:`population`: a fixed list of test numbers from the environment's reserved range, the same on
  every run (a seeded generator, not the random pool), so a user's bucket can be compared across runs.
- :func:`probe`: one search per user, concurrently on a bounded thread pool, each answer classified.
- :class:`RollbackDrill`: users keep searching at a steady pace while the flag is flipped off and on
  again; it measures flip → every user served by the new flow, and counts replies per message.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from easymo_qa.flags import AI_AGENTS, FlagClient
from easymo_qa.rollback import RollbackResult
from easymo_qa.whatsapp.expect import ReplyError
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.replies import ReplyReader
from easymo_qa.whatsapp.user import WhatsAppUser

AI, LEGACY, OTHER, NONE = "ai", "legacy", "other", "none"
SEARCH_TEXT = "I need a gas cylinder in Remera"
HOME_ROWS = ("buyer_search", "my_orders")
POPULATION_SEED = "easymo-qa rollout population v1"


def served_by(reply: OutboundMessage) -> str:
    """``ai`` (an offers list), ``legacy`` (the home menu) or ``other``, from one reply to a search."""
    if reply.kind == "list" and any(r.startswith("offer:") for r in reply.row_ids):
        return AI
    if reply.kind == "list" and all(r in reply.row_ids for r in HOME_ROWS):
        return LEGACY
    return OTHER


def population(prefix: str, length: int, size: int, seed: str = POPULATION_SEED) -> list[str]:
    """``size`` distinct numbers ``prefix`` + digits, ``length`` digits long; the same list on every run."""
    free = length - len(prefix)
    if free < 4 or size > 10**free // 10:
        raise ValueError(f"the range {prefix}… ({length} digits) is too small for {size} fixed users")
    rng = random.Random(seed)
    numbers: dict[str, None] = {}
    while len(numbers) < size:
        numbers[f"{prefix}{rng.randrange(10**free):0{free}d}"] = None
    return list(numbers)


@dataclass(frozen=True)
class Served:
    phone: str
    served: str  # ai | legacy | other | none
    summary: str = ""  # the reply, for failure messages


def probe(users: Sequence[WhatsAppUser], text: str = SEARCH_TEXT, *, workers: int = 32) -> dict[str, Served]:
    """Each user sends ``text`` once; who got the AI agents and who the legacy flow (bounded waits)."""

    def one(user: WhatsAppUser) -> Served:
        try:
            user.send_text(text)
            # Who served the user, under a burst of `workers` users at once: a classification, not a
            # latency check (the load and functional latency gates own that), so the whole reply wait.
            reply = user.expect_reply(within=user.target.reply_seconds)
        except ReplyError as exc:
            return Served(user.phone, NONE, exc.title)
        return Served(user.phone, served_by(reply), reply.summary())

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
        return {s.phone: s for s in pool.map(one, users)}


@dataclass
class _Lane:
    """One user of the drill: when each message went out, and every reply that came back."""

    user: WhatsAppUser
    sent: list[float] = field(default_factory=list)
    replies: list[OutboundMessage] = field(default_factory=list)
    send_errors: int = 0
    cursor: int = 0
    error: str = ""  # why this user's thread stopped early

    def settled(self, since: float, want: str, count: int) -> bool:
        """The last ``count`` replies came after ``since`` and were all served by ``want``."""
        tail = self.replies[-count:]
        return len(tail) == count and all(r.received_at >= since and served_by(r) == want for r in tail)

    def switched_at(self, since: float, until: float, want: str) -> float | None:
        """When this user was last switched to ``want`` in ``[since, until)``: the first ``want`` reply
        after the last reply of another kind."""
        window = [r for r in self.replies if since <= r.received_at < until]
        moment = None
        for reply in window:
            if served_by(reply) != want:
                moment = None
            elif moment is None:
                moment = reply.received_at
        return moment


class RollbackDrill:
    """Flip ``FEATURE_AI_AGENTS`` off under load, wait until every user is on the legacy flow, flip it back.

    Each user sends ``text`` every ``interval`` seconds from its own thread and reads its replies in between
    (one long-poll per user). A phase ends when each user's last ``settle`` replies came from the expected
    flow, or after ``phase_limit`` seconds (then its time is None). At most ``max_messages`` per user.
    """

    def __init__(
        self,
        users: Sequence[WhatsAppUser],
        flags: FlagClient,
        reader: ReplyReader,
        *,
        text: str = SEARCH_TEXT,
        interval: float = 0.1,
        phase_limit: float = 60.0,
        settle: int = 3,
        max_messages: int = 2000,
        reply_seconds: float = 5.0,
        quiet_seconds: float = 0.8,
    ) -> None:
        self.lanes = [_Lane(u) for u in users]
        self.flags, self.reader, self.text = flags, reader, text
        self.interval, self.phase_limit, self.settle = interval, phase_limit, settle
        self.max_messages, self.reply_seconds, self.quiet_seconds = max_messages, reply_seconds, quiet_seconds
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self.marks: dict[str, float] = {}  # start, flip, flip_acked, restore, restore_acked, end (epoch s)
        self.completed: dict[str, bool] = {"warm": False, "rollback": False, "restore": False}

    def run(self, environment: str = "") -> RollbackResult:
        threads = [threading.Thread(target=self._drive, args=(lane,), daemon=True) for lane in self.lanes]
        for thread in threads:
            thread.start()
        try:
            for phase, mark, flag, want in (
                ("warm", "start", None, AI),
                ("rollback", "flip", False, LEGACY),
                ("restore", "restore", True, AI),
            ):
                self.marks[mark] = time.time()
                if flag is not None:
                    self.flags.set({AI_AGENTS: flag})
                    self.marks[f"{mark}_acked"] = time.time()
                self.completed[phase] = self._wait(self.marks[mark], want)
                if not self.completed[phase]:
                    break
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(self.phase_limit + self.quiet_seconds + 10)
        self.marks["end"] = time.time()
        return self._result(environment)

    def _wait(self, since: float, want: str) -> bool:
        """Until every user's last replies came after ``since`` from ``want`` (False after phase_limit)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: all(lane.settled(since, want, self.settle) for lane in self.lanes), self.phase_limit
            )

    def _drive(self, lane: _Lane) -> None:
        try:
            next_at = time.monotonic()
            while not self._stop.is_set() and len(lane.sent) < self.max_messages:
                try:
                    lane.user.send_text(self.text)
                    lane.sent.append(time.time())
                except (ReplyError, httpx.HTTPError):
                    lane.send_errors += 1
                next_at += self.interval
                self._read(lane, next_at - time.monotonic())
            self._drain(lane)
            self._read(lane, self.quiet_seconds)  # a second reply to any message would show up here
        except Exception as exc:  # reported with the lanes; the phase waiting on this user times out
            lane.error = f"{type(exc).__name__}: {exc}"

    def _drain(self, lane: _Lane) -> None:
        """Wait for the replies still owed, while the SUT keeps answering (a backlog on a busy machine is
        late, not lost); stop after ``reply_seconds`` without a new reply, or ``phase_limit`` in all."""
        limit = time.monotonic() + self.phase_limit
        quiet_until = time.monotonic() + self.reply_seconds
        while len(lane.replies) < len(lane.sent) and (now := time.monotonic()) < min(quiet_until, limit):
            before = len(lane.replies)
            self._read(lane, min(quiet_until, limit) - now)
            if len(lane.replies) > before:
                quiet_until = time.monotonic() + self.reply_seconds

    def _read(self, lane: _Lane, wait: float) -> None:
        messages = self.reader.poll(lane.user.phone, lane.cursor, max(0.0, wait))
        if not messages:
            return
        with self._changed:
            lane.replies.extend(messages)
            lane.cursor = max(lane.cursor, *(m.seq for m in messages))
            self._changed.notify_all()

    def _seconds(self, phase: str, start: str, end: str, want: str) -> float | None:
        """Flag flipped (``start``) → the last user switched to ``want``; None: the phase never completed."""
        if not self.completed[phase]:
            return None
        since, until = self.marks[start], self.marks[end]
        moments = [lane.switched_at(since, until, want) for lane in self.lanes]
        if any(m is None for m in moments):
            return None
        return round(max(m for m in moments if m is not None) - since, 3)

    def _result(self, environment: str) -> RollbackResult:
        sent = sum(len(lane.sent) for lane in self.lanes)
        lost = sum(max(0, len(lane.sent) - len(lane.replies)) for lane in self.lanes)
        extra = sum(max(0, len(lane.replies) - len(lane.sent)) for lane in self.lanes)
        unexpected = sum(1 for lane in self.lanes for r in lane.replies if served_by(r) == OTHER)
        return RollbackResult(
            rollback_seconds=self._seconds("rollback", "flip", "restore", LEGACY),
            restore_seconds=self._seconds("restore", "restore", "end", AI),
            messages=sent,
            lost=lost,
            users=len(self.lanes),
            duplicated=extra,
            unexpected=unexpected,
            interval_seconds=self.interval,
            flag=AI_AGENTS,
            environment=environment,
            measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def lane_report(self) -> list[str]:
        """One line per user, for failure messages: messages sent, replies and how each was served."""
        lines = []
        for lane in self.lanes:
            kinds = "".join({AI: "A", LEGACY: "L"}.get(served_by(r), "?") for r in lane.replies)
            error = f", stopped by {lane.error}" if lane.error else ""
            lines.append(
                f"{lane.user.phone}: sent {len(lane.sent)}, replies {len(lane.replies)}, "
                f"send errors {lane.send_errors}{error}: {kinds}"
            )
        return lines
