"""A request-to-pay's outcome, from the provider's callback or from polling its status.

``POST /payments/callback``: the signature (``X-Callback-Signature``, HMAC-SHA256 of the raw body with
``PAYMENTS_CALLBACK_SECRET``) is checked first: 401 when wrong. The money moves synchronously and exactly
once (see :meth:`reference.payments.Payments.settle`); the messages it causes are queued behind the
payer's own messages and carry the callback's correlation id. A duplicate callback (or one arriving after
a poll settled the payment) is acknowledged (200) and recorded with ``duplicate: true``; it changes
nothing. A ``PENDING`` callback is acknowledged and settles nothing.

MTN sends the callback once and never retries it; a partner must poll ``GET requesttopay/{referenceId}``
when none came (https://momodeveloper.mtn.com/api-documentation/callback). So :func:`watch_status` polls
every ``PAYMENT_POLL_INTERVAL_MS`` while the payment is pending here, at most
``PAYMENT_POLL_MAX_ATTEMPTS`` times; a final status settles through the same path as a callback
(``payment_polled`` event instead of ``payment_callback_received``).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from . import defects
from . import messages as m
from .agents.station import announce_paid
from .clients.payments import verify_signature
from .context import Context
from .observability import PAYMENT_CALLBACK_RECEIVED, PAYMENT_PENDING_NOTIFIED, PAYMENT_POLLED
from .payments import ORDER, PENDING, Callback, Payment, Settlement, pending_key, poll_key
from .texts import late_payment, momo_reason, payment_failed, receipt, topped_up, topup_failed

SIGNATURE_HEADER = "x-callback-signature"
MAX_BODY = 64 * 1024
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
STATUS_CODES = {"unknown": 404, "mismatch": 422}
NO_NOTICE = ("duplicate", "mismatch", "not_final")


async def payments_callback(request: Request) -> JSONResponse:
    ctx: Context = request.app.state.ctx
    supplied = request.headers.get("x-request-id", "")
    corr = supplied if _REQUEST_ID.fullmatch(supplied) else str(uuid.uuid4())
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return JSONResponse({"error": "payload_too_large"}, status_code=413)
    secret = ctx.settings.payments_callback_secret
    if not verify_signature(raw, request.headers.get(SIGNATURE_HEADER, ""), secret):
        return JSONResponse({"error": "invalid_signature"}, status_code=401)
    try:
        callback = parse_callback(json.loads(raw))
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        return JSONResponse({"error": f"bad_callback: {exc}"}, status_code=400)
    settlement = settle(ctx, callback, corr)
    status = STATUS_CODES.get(settlement.outcome, 200)
    return JSONResponse({"status": settlement.outcome}, status_code=status)


def settle(ctx: Context, callback: Callback, corr: str, poll_attempt: int | None = None) -> Settlement:
    """Settle an outcome the provider reported (by callback, or by a poll: ``poll_attempt``); notify."""
    settlement = ctx.payments.settle(callback, corr)
    payment = settlement.payment
    notice_was_due = False
    if settlement.outcome != "not_final":
        # Settled (or not ours): the "still pending" notice and the next poll are no longer needed.
        notice_was_due = ctx.deadlines.cancel(pending_key(callback.reference_id))
        ctx.deadlines.cancel(poll_key(callback.reference_id))
    reminded = not notice_was_due and _reminded(ctx, callback)
    name, extra = PAYMENT_CALLBACK_RECEIVED, {}
    if poll_attempt is not None:
        name, extra = PAYMENT_POLLED, {"attempt": poll_attempt}
    ctx.events.record(
        corr, name, payment.phone if payment else None,
        reference_id=callback.reference_id, external_id=callback.external_id,
        order_id=payment.external_id if payment and payment.kind == ORDER else None,
        status=callback.status, outcome=settlement.outcome, duplicate=settlement.outcome == "duplicate",
        **extra,
    )  # fmt: skip
    if payment is not None and settlement.outcome not in NO_NOTICE:

        async def notices() -> None:
            await send_notices(ctx, settlement, corr)
            if reminded and settlement.outcome == "order_paid" and ctx.has_defect(defects.PAYMENT_PAID_TWICE):
                await _reconcile_again(ctx, settlement, corr)

        ctx.processor.run_later(payment.phone, notices, name="payment_notices", correlation_id=corr)
    return settlement


def watch_status(ctx: Context, payment: Payment, corr: str) -> None:
    """Poll the provider for ``payment``'s status until it is final here (the callback may never come)."""
    if payment.status != PENDING or ctx.has_defect(defects.NO_PAYMENT_POLLING):
        return
    _schedule_poll(ctx, payment, corr, 1)


def _schedule_poll(ctx: Context, payment: Payment, corr: str, attempt: int) -> None:
    settings = ctx.settings
    bounded = not ctx.has_defect(defects.PAYMENT_POLL_UNBOUNDED)
    if bounded and attempt > settings.payment_poll_max_attempts:
        return
    reference_id = payment.reference_id

    async def poll() -> None:
        current = ctx.payments.get(reference_id)
        if current is None or current.status != PENDING:
            return  # settled meanwhile (the callback came), or the request itself failed
        body = await ctx.payments.client.status(reference_id)
        try:
            callback = parse_callback({**(body or {}), "referenceId": reference_id})
        except (ValueError, KeyError, TypeError):
            # Unreadable (an error status, a reset, garbage): ask again next time.
            ctx.events.record(
                corr, PAYMENT_POLLED, payment.phone, reference_id=reference_id, attempt=attempt,
                status=None, outcome="unreadable", duplicate=False,
            )  # fmt: skip
            if not ctx.has_defect(defects.POLL_STOPS_ON_ERROR):
                _schedule_poll(ctx, payment, corr, attempt + 1)
            return
        if settle(ctx, callback, corr, poll_attempt=attempt).outcome == "not_final":
            _schedule_poll(ctx, payment, corr, attempt + 1)

    ctx.deadlines.schedule(
        poll_key(reference_id), settings.payment_poll_interval_ms / 1000, payment.phone, poll,
        name="payment_poll", correlation_id=corr,
    )  # fmt: skip


def parse_callback(body: Any) -> Callback:
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    reference_id, external_id, status = body["referenceId"], body["externalId"], body["status"]
    if not all(isinstance(v, str) and v for v in (reference_id, external_id, status)):
        raise ValueError("referenceId, externalId and status must be strings")
    amount = body["amount"]
    if isinstance(amount, bool) or not isinstance(amount, str | int) or not str(amount).isdigit():
        raise ValueError("amount must be a whole number")
    transaction_id, reason = body.get("financialTransactionId"), body.get("reason")
    return Callback(
        reference_id=reference_id,
        external_id=external_id,
        amount=int(amount),
        status=status.upper(),
        transaction_id=transaction_id if isinstance(transaction_id, str) else None,
        reason=reason if isinstance(reason, str) else json.dumps(reason) if reason else None,
    )


def _reminded(ctx: Context, callback: Callback) -> bool:
    """Whether the buyer was told this payment was still pending (only the paid-twice defect asks)."""
    if not ctx.has_defect(defects.PAYMENT_PAID_TWICE):
        return False
    return bool(ctx.store.query_events(name=PAYMENT_PENDING_NOTIFIED, order_id=callback.external_id, limit=1))


async def _reconcile_again(ctx: Context, settlement: Settlement, corr: str) -> None:
    """The paid-twice defect: a reconciliation path pays the order again, without claiming the payment."""
    payment, order = settlement.payment, settlement.order
    assert payment is not None
    assert order is not None
    ctx.ledger.record_collection(
        payment.phone, payment.amount, corr, order_id=order.id, reference=payment.reference_id
    )
    await ctx.notify.text(payment.phone, receipt(order), corr, order_id=order.id)


async def send_notices(ctx: Context, settlement: Settlement, corr: str) -> None:
    payment, order, notify = settlement.payment, settlement.order, ctx.notify
    assert payment is not None
    outcome = settlement.outcome
    if outcome == "order_paid" and order is not None:
        await announce_paid(ctx, order, corr, tell_buyer=True)
    elif outcome == "order_failed" and order is not None and order.state == "pending_payment":
        choices = [
            m.Button(f"pay_momo:{order.id}", "📲 MoMo"),
            m.Button(f"pay_wallet:{order.id}", "💳 Wallet"),
            m.HOME_BUTTON,
        ]
        why = _why(ctx, settlement.reason)
        await notify.send(m.buttons(payment.phone, payment_failed(order.id, why), choices), corr)
    elif outcome == "order_late":
        await notify.text(
            payment.phone, late_payment(payment.external_id, payment.amount, settlement.balance or 0), corr
        )
    elif outcome == "topup_credited":
        await notify.text(payment.phone, topped_up(payment.amount, settlement.balance or 0), corr)
    elif outcome == "topup_failed":
        choices = [m.Button("wallet_topup", "➕ Top up"), m.HOME_BUTTON]
        why = _why(ctx, settlement.reason)
        await notify.send(m.buttons(payment.phone, topup_failed(payment.amount, why), choices), corr)


def _why(ctx: Context, reason: str | None) -> str:
    """The payer's explanation of MoMo's reason (the raw code with the raw_payment_reason_shown defect)."""
    if ctx.has_defect(defects.RAW_PAYMENT_REASON_SHOWN):
        return f"Reason: {reason}."
    return momo_reason(reason)
