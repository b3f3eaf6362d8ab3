"""Finding a driver for a ready order: offer the job, and offer it again when nobody takes it in time.

``offer_job`` sends the delivery job to every driver on duty and sets a deadline of
``DRIVER_ACCEPT_DEADLINE_MS``. If the order is still ``ready`` (no driver) when it fires, the buyer hears
``⏳ Still looking for a driver``, the station ``⏳ No driver yet``, the job goes to the drivers on duty
again (``driver_redispatched``), and a new deadline is set: at most ``MAX_REDISPATCH_ROUNDS`` times.
A driver's accept cancels the deadline (:func:`driver_found`).
"""

from __future__ import annotations

from .. import defects
from ..context import Context
from ..observability import DRIVER_REDISPATCHED
from ..orders import READY, Order
from ..texts import no_driver_yet, still_looking_for_driver

MAX_REDISPATCH_ROUNDS = 3


def dispatch_key(order_id: str) -> str:
    return f"dispatch:{order_id}"


async def offer_job(ctx: Context, order: Order, corr: str) -> int:
    """Offer the job to the drivers on duty and watch for an accept; return how many got the offer."""
    sent = await ctx.notify.offer_to_drivers(order, corr)
    _watch(ctx, order, corr, 1)
    return sent


def driver_found(ctx: Context, order_id: str) -> None:
    ctx.deadlines.cancel(dispatch_key(order_id))


def _watch(ctx: Context, order: Order, corr: str, round_no: int) -> None:
    if round_no > MAX_REDISPATCH_ROUNDS or ctx.has_defect(defects.NO_REDISPATCH):
        return

    async def nobody_accepted() -> None:
        current = ctx.orders.get(order.id)
        if current is None or current.state != READY:
            return  # a driver took it (or the order ended) meanwhile
        ctx.events.record(corr, DRIVER_REDISPATCHED, current.buyer, order_id=current.id, round=round_no)
        await ctx.notify.text(current.buyer, still_looking_for_driver(current.id), corr, order_id=current.id)
        await ctx.notify.station_text(current, no_driver_yet(current.id), corr)
        await ctx.notify.offer_to_drivers(current, corr)
        _watch(ctx, current, corr, round_no + 1)

    ctx.deadlines.schedule(
        dispatch_key(order.id), ctx.settings.driver_accept_deadline_ms / 1000, order.buyer, nobody_accepted,
        name="driver_redispatch", correlation_id=corr,
    )  # fmt: skip
