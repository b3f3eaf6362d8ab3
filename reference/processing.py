"""Background processing of webhook messages: per-user order, cross-user concurrency, no lost work.

The webhook answers 200 before any message is handled. Each message becomes an asyncio task chained
after the previous task of the same user (so one user's messages are answered in the order they came),
while different users run concurrently. A failing message is recorded as ``message_failed`` with its
error class, gets a friendly apology, and never stops the messages queued after it.

Who a message is from is settled when it is queued (:mod:`reference.identity`: BSUID first, then phone),
so one user's messages share a queue whatever they were named by. A ``user_changed_user_id`` system
message is queued behind the user's messages, moves them to the new BSUID and is never answered.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from . import defects
from . import messages as m
from .config import Settings
from .envelope import Envelope, IdentityChange, Inbound, StatusUpdate
from .graph_client import GraphClient, ReplyFailedError
from .identity import Identities
from .observability import (
    DUPLICATE_IGNORED,
    IDENTITY_LINKED,
    JOB_FAILED,
    MESSAGE_FAILED,
    MESSAGE_HANDLED,
    MESSAGE_RECEIVED,
    STATUS_RECEIVED,
    USER_ID_CHANGED,
    EventLog,
)
from .router import Router
from .store import Store

log = logging.getLogger("reference.processing")

Job = Callable[[], Awaitable[None]]


class Processor:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        events: EventLog,
        router: Router,
        graph: GraphClient,
        identities: Identities | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        # The phone_only_identity defect: no identities at all, the sender is `from` (as in 2025).
        phone_only = settings.has_defect(defects.PHONE_ONLY_IDENTITY)
        self._identities = None if phone_only else identities or Identities(store)
        self._events = events
        self._router = router
        self._graph = graph
        self._tails: dict[str, asyncio.Task[None]] = {}  # the last queued task of each user
        self._tasks: set[asyncio.Task[None]] = set()  # strong references until done

    def submit(self, envelope: Envelope) -> None:
        """Queue every message and status of a payload; returns at once."""
        for inbound in envelope.messages:
            inbound = self._identify(inbound)
            self._enqueue(inbound.phone, functools.partial(self._handle_message, inbound))
        for change in envelope.identity_changes:
            key = self._key_for(change.old_user_id)
            self._enqueue(key, functools.partial(self._handle_identity_change, change))
        for status in envelope.statuses:
            status = replace(status, recipient=self._key_for(status.recipient))
            self._enqueue(status.recipient, functools.partial(self._handle_status, status))

    def _identify(self, inbound: Inbound) -> Inbound:
        """The message with its sender's user key (BSUID first, then phone); links what it teaches."""
        identities = self._identities
        if identities is None:
            return replace(inbound, phone=inbound.sender_phone or inbound.phone)
        try:
            key, link = identities.resolve(inbound.user_id, inbound.sender_phone, inbound.username)
        except Exception:  # the database failed: answer the user under what the message calls them
            log.exception("could not identify the sender of %s", inbound.correlation_id)
            return replace(inbound, phone=inbound.sender_phone or inbound.phone)
        if link is not None:
            self._events.record(inbound.correlation_id, IDENTITY_LINKED, key, **link.data)
        return replace(inbound, phone=key)

    def _key_for(self, who: str) -> str:
        if self._identities is None:
            return who
        try:
            return self._identities.key_for(who)
        except Exception:
            log.exception("could not look up user %s", who[-4:])
            return who

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

    async def _handle_identity_change(self, change: IdentityChange) -> None:
        """Move the user to their new BSUID; acknowledged, never answered."""
        corr = change.correlation_id
        if self._identities is None:  # never parsed with the phone_only_identity defect
            return
        try:
            if not self._settings.has_defect(defects.NO_DEDUPE) and not self._store.claim_message(
                self._claim_key(change.wamid)
            ):
                self._events.record(
                    corr, DUPLICATE_IGNORED, change.old_user_id, wamid=change.wamid, scope="store"
                )
                return
            self._events.record(corr, MESSAGE_RECEIVED, change.old_user_id, wamid=change.wamid, type="system")
            key, data = self._identities.change(change.old_user_id, change.new_user_id, change.phone)
            self._events.record(corr, USER_ID_CHANGED, key or change.new_user_id, **data)
            self._events.record(
                corr, MESSAGE_HANDLED, key or change.new_user_id, wamid=change.wamid, replies=0
            )
        except Exception as exc:
            log.exception("could not move user %s to a new BSUID", change.old_user_id[-4:])
            self._events.record(
                corr, MESSAGE_FAILED, change.old_user_id, wamid=change.wamid, error=type(exc).__name__
            )

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
