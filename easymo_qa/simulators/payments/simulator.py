"""The payments simulator's state: the payments, the refused requests, and the resolutions in flight."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import httpx

from easymo_qa.simulators.faults import FaultPlane
from easymo_qa.simulators.outbox import normalise_recipient
from easymo_qa.simulators.payments.callbacks import MALFORMED_CALLBACK, CallbackSender, encode_callback
from easymo_qa.simulators.payments.model import Payment, PaymentsSimConfig, canonical_reference_id
from easymo_qa.simulators.payments.outcomes import FAULT_OPS, Outcome, check_rule

DEFAULT_MAX_PAYMENTS = 200_000
MAX_REJECTIONS = 10_000


class PaymentsSimulator:
    """State behind one payments simulator app; reachable as ``app.state.payments``."""

    def __init__(
        self,
        config: PaymentsSimConfig,
        *,
        callback_transport: httpx.AsyncBaseTransport | None = None,
        max_payments: int = DEFAULT_MAX_PAYMENTS,
    ) -> None:
        self.config = config
        self.max_payments = max_payments
        self.fault_plane = FaultPlane(
            "payments", FAULT_OPS, normalise_key=normalise_recipient, check=check_rule
        )
        self.callbacks = CallbackSender(
            config.callback_secret, callback_transport, config.callbacks_off_machine
        )
        self.payments: dict[str, Payment] = {}  # by canonical reference id, oldest first
        self.rejections: deque[dict[str, Any]] = deque(maxlen=MAX_REJECTIONS)
        # The loop keeps only weak references to tasks; these hold the pending resolutions.
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the store -----------------------------------------------------------------------------------

    def find(self, reference_id: str) -> Payment | None:
        key = canonical_reference_id(reference_id)
        return self.payments.get(key) if key else None

    def add(self, payment: Payment) -> None:
        key = canonical_reference_id(payment.reference_id)
        assert key is not None, "reference ids are validated before a payment is stored"
        self.payments[key] = payment
        while len(self.payments) > self.max_payments:
            del self.payments[next(iter(self.payments))]

    def select(self, msisdn: str | None = None, external_id: str | None = None) -> list[Payment]:
        wanted = normalise_recipient(msisdn) if msisdn is not None else None
        return [
            p
            for p in self.payments.values()
            if (wanted is None or p.msisdn == wanted)
            and (external_id is None or p.request.external_id == external_id)
        ]

    def clear(self) -> None:
        """Forget every payment and cancel pending resolutions, so none calls back into the next test."""
        for task in list(self._tasks):
            if not task.done() and not task.get_loop().is_closed():
                task.cancel()
        self._tasks.clear()
        self.payments.clear()
        self.rejections.clear()

    # --- resolution ----------------------------------------------------------------------------------

    def schedule(self, payment: Payment, outcome: Outcome) -> None:
        """Resolve ``payment`` as ``outcome`` says, in the background; PENDING or no delay = never."""
        if outcome.status == "PENDING" or outcome.delay_seconds is None:
            return
        task = asyncio.get_running_loop().create_task(self._resolve(payment, outcome))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, payment: Payment, outcome: Outcome) -> None:
        await asyncio.sleep(max(outcome.delay_seconds or 0.0, 0.0))
        payment.resolve(outcome.status, outcome.reason)
        if not payment.callback_url:
            return
        body = encode_callback(payment.callback_body())
        rule = self.fault_plane.take("callback", payment.msisdn)
        if rule is not None:
            payment.faults.append(rule.id or "")
            if rule.action == "drop":
                return
            if rule.action == "delay":
                await asyncio.sleep(rule.seconds or 0.0)  # lands after a poll, or a later payment's callback
            elif rule.action == "malformed":
                body = MALFORMED_CALLBACK
        payment.last_callback = body
        await self.callbacks.deliver(payment, body)
        if outcome.repeat_after is not None:
            await asyncio.sleep(outcome.repeat_after)
            await self.callbacks.deliver(payment, body)

    async def aclose(self) -> None:
        """Close the callback client (if it belongs to the running loop)."""
        await self.callbacks.aclose()
