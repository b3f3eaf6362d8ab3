"""``POST /payments/callback``: the payment provider reports a request-to-pay's outcome.

The signature (``X-Callback-Signature``, HMAC-SHA256 of the raw body with ``PAYMENTS_CALLBACK_SECRET``)
is checked first: 401 when wrong. The money moves synchronously and exactly once (see
:meth:`reference.payments.Payments.settle`); the messages it causes are queued behind the payer's own
messages and carry the callback's correlation id. A duplicate callback is acknowledged (200) and recorded
with ``duplicate: true``; it changes nothing.
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
from .agents.checkout import pending_key
from .agents.station import announce_paid
from .clients.payments import verify_signature
from .context import Context
from .observability import PAYMENT_CALLBACK_RECEIVED, PAYMENT_PENDING_NOTIFIED
from .payments import ORDER, Callback, Settlement
from .texts import late_payment, payment_failed, receipt, topped_up, topup_failed

SIGNATURE_HEADER = "x-callback-signature"
MAX_BODY = 64 * 1024
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
STATUS_CODES = {"unknown": 404, "mismatch": 422}


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
    settlement = ctx.payments.settle(callback, corr)
    payment = settlement.payment
    # Settled (or not ours): the "still pending" notice is no longer needed.
    notice_was_due = ctx.deadlines.cancel(pending_key(callback.reference_id))
    reminded = not notice_was_due and _reminded(ctx, callback)
    ctx.events.record(
        corr, PAYMENT_CALLBACK_RECEIVED, payment.phone if payment else None,
        reference_id=callback.reference_id, external_id=callback.external_id,
        order_id=payment.external_id if payment and payment.kind == ORDER else None,
        status=callback.status, outcome=settlement.outcome, duplicate=settlement.outcome == "duplicate",
    )  # fmt: skip
    if payment is not None and settlement.outcome not in ("duplicate", "mismatch"):

        async def notices() -> None:
            await send_notices(ctx, settlement, corr)
            if reminded and settlement.outcome == "order_paid" and ctx.has_defect(defects.PAYMENT_PAID_TWICE):
                await _reconcile_again(ctx, settlement, corr)

        ctx.processor.run_later(payment.phone, notices, name="payment_notices", correlation_id=corr)
    status = STATUS_CODES.get(settlement.outcome, 200)
    return JSONResponse({"status": settlement.outcome}, status_code=status)


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
        await notify.send(m.buttons(payment.phone, payment_failed(order.id), choices), corr)
    elif outcome == "order_late":
        await notify.text(
            payment.phone, late_payment(payment.external_id, payment.amount, settlement.balance or 0), corr
        )
    elif outcome == "topup_credited":
        await notify.text(payment.phone, topped_up(payment.amount, settlement.balance or 0), corr)
    elif outcome == "topup_failed":
        choices = [m.Button("wallet_topup", "➕ Top up"), m.HOME_BUTTON]
        await notify.send(m.buttons(payment.phone, topup_failed(payment.amount), choices), corr)
