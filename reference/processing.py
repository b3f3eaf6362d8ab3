"""Background processing of webhook messages: per-user order, cross-user concurrency, no lost work.

The webhook answers 200 before any message is handled. Each message becomes an asyncio task chained
after the previous task of the same user (so one user's messages are answered in the order they came),
while different users run concurrently. A failing message is recorded as ``message_failed`` with its
error class, gets a friendly apology, and never stops the messages queued after it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable

from . import defects
from . import messages as m
from .config import Settings
from .envelope import Envelope, Inbound, StatusUpdate
from .graph_client import GraphClient, ReplyFailedError
from .observability import (
    DUPLICATE_IGNORED,
    JOB_FAILED,
    MESSAGE_FAILED,
    MESSAGE_HANDLED,
    MESSAGE_RECEIVED,
    STATUS_RECEIVED,
    EventLog,
)
from .router import Router
from .store import Store

log = logging.getLogger("reference.processing")

Job = Callable[[], Awaitable[None]]


class Processor:
    def __init__(
        self, settings: Settings, store: Store, events: EventLog, router: Router, graph: GraphClient
    ) -> None:
        self._settings = settings
        self._store = store
        self._events = events
        self._router = router
        self._graph = graph
        self._tails: dict[str, asyncio.Task[None]] = {}  # the last queued task of each user
        self._tasks: set[asyncio.Task[None]] = set()  # strong references until done

    def submit(self, envelope: Envelope) -> None:
        """Queue every message and status of a payload; returns at once."""
        for inbound in envelope.messages:
            self._enqueue(inbound.phone, functools.partial(self._handle_message, inbound))
        for status in envelope.statuses:
            self._enqueue(status.recipient, functools.partial(self._handle_status, status))

    def run_later(self, key: str, job: Job, *, name: str = "job", correlation_id: str = "") -> None:
        """Queue background work (say, after a payment callback) behind the queued messages of ``key``.

        A failure is logged and recorded as ``job_failed``; it never reaches the caller.
        """

        async def guarded() -> None:
            try:
                await job()
            except Exception as exc:
                log.exception("background %s failed (correlation %s)", name, correlation_id)
                self._events.record(correlation_id, JOB_FAILED, key, job=name, error=type(exc).__name__)

        self._enqueue(key, guarded)

    async def idle(self) -> None:
        """Wait until every queued job (including ones queued meanwhile) has finished."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def shutdown(self, timeout: float) -> None:
        """Let queued work finish for up to ``timeout`` seconds, then cancel what is left."""
        try:
            await asyncio.wait_for(self.idle(), timeout)
        except TimeoutError:
            log.warning("cancelling %d unfinished jobs at shutdown", len(self._tasks))
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _enqueue(self, key: str, job: Job) -> None:
        task = asyncio.create_task(_after(self._tails.get(key), job))
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._finished, key))

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]

    async def _handle_message(self, inbound: Inbound) -> None:
        started = time.perf_counter()
        corr, phone = inbound.correlation_id, inbound.phone
        claimed = False
        try:
            if not self._settings.has_defect(defects.NO_DEDUPE):
                if not self._store.claim_message(self._claim_key(inbound.wamid)):
                    self._events.record(corr, DUPLICATE_IGNORED, phone, wamid=inbound.wamid, scope="store")
                    return
                claimed = True
            self._events.record(
                corr,
                MESSAGE_RECEIVED,
                phone,
                wamid=inbound.wamid,
                type=inbound.type,
                request_id=inbound.request_id,
            )
            replies = await self._router.handle(inbound)
        except Exception as exc:  # one bad message must not take the others down
            try:
                await self._failed(inbound, exc, claimed)
            except Exception:
                log.exception("could not record the failure of %s", corr)
            return
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        self._events.record(
            corr, MESSAGE_HANDLED, phone, wamid=inbound.wamid, replies=replies, duration_ms=duration_ms
        )

    def _claim_key(self, wamid: str) -> str:
        # The defect: a VARCHAR(32)-style key. Meta's ids share their first 30-odd characters per chat.
        return wamid[:32] if self._settings.has_defect(defects.WAMID_KEY_TRUNCATED) else wamid

    async def _failed(self, inbound: Inbound, exc: Exception, claimed: bool) -> None:
        if claimed:
            self._store.release_message(self._claim_key(inbound.wamid))  # a redelivery gets another chance
        data: dict[str, object] = {"wamid": inbound.wamid, "error": type(exc).__name__}
        if isinstance(exc, ReplyFailedError):
            data["status"] = exc.status
        else:
            log.error("message %s failed", inbound.correlation_id, exc_info=exc)
        self._events.record(inbound.correlation_id, MESSAGE_FAILED, inbound.phone, **data)
        if not isinstance(exc, ReplyFailedError):  # when Graph refuses us, an apology would fail too
            await self._router.apologise(inbound)

    async def _handle_status(self, status: StatusUpdate) -> None:
        self._events.record(
            status.correlation_id, STATUS_RECEIVED, status.recipient, wamid=status.wamid, status=status.status
        )
        if self._settings.has_defect(defects.REPLY_TO_STATUSES):
            try:
                await self._graph.send(
                    m.text(status.recipient, "Thanks!"), correlation_id=status.correlation_id
                )
            except Exception:
                log.debug("status reply failed", exc_info=True)  # reply_failed is already recorded


async def _after(previous: asyncio.Task[None] | None, job: Job) -> None:
    if previous is not None:
        # wait() neither raises the previous job's exception nor cancels it.
        await asyncio.wait([previous])
    del previous
    await job()
