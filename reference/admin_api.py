"""The observability read API for orders and wallets (behind ``X-Admin-Token``, like ``/admin/events``).

``GET /admin/orders/{id}``: the order with its items, payment, ledger entries and state history (404
when unknown). ``GET /admin/wallets/{phone}``: a wallet's balance and ledger, so a journey can check that
a declined payment left the wallet unchanged; ``{phone}`` may be a BSUID (a username-only user's wallet).
The delivery code itself is never exposed.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from .context import Context
from .observability import admin_denied


def admin_order(request: Request) -> JSONResponse:
    denied = admin_denied(request)
    if denied is not None:
        return denied
    ctx: Context = request.app.state.ctx
    order = ctx.orders.get(request.path_params["order_id"])
    if order is None:
        return JSONResponse({"error": "not_found"}, status_code=404)
    return JSONResponse(
        {
            "id": order.id,
            "state": order.state,
            "buyer": order.buyer,  # the buyer's user key: their phone, else their first BSUID
            "buyer_user_id": ctx.store.who(order.buyer)[2],
            "vendor_id": order.vendor_id,
            "station_id": order.station_id,
            "driver": order.driver,
            "items": [line.as_dict() for line in order.lines],
            "subtotal": order.subtotal,
            "delivery_fee": order.delivery_fee,
            "total": order.total,
            "dropoff": None if order.dropoff is None else {"lat": order.dropoff[0], "lng": order.dropoff[1]},
            "payment": {
                "method": order.payment_method,
                "status": order.payment_status,
                "reference_id": order.payment_ref,
            },
            "ledger": [entry.as_dict() for entry in ctx.ledger.for_order(order.id)],
            "history": ctx.orders.history(order.id),
            "delivery_code_attempts": order.code_attempts,
            "created_at": order.created_at,
        }
    )


def admin_wallet(request: Request) -> JSONResponse:
    denied = admin_denied(request)
    if denied is not None:
        return denied
    ctx: Context = request.app.state.ctx
    phone = request.path_params["phone"]
    if ctx.identities is not None:
        phone = ctx.identities.key_for(phone)
    entries = [e.as_dict() for e in ctx.ledger.for_phone(phone) if e.account == f"wallet:{phone}"]
    return JSONResponse({"phone": phone, "balance": ctx.ledger.balance(phone), "ledger": entries})
