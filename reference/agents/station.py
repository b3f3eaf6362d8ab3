"""The station agent: the vendor's outlet staff accept, prepare, and hand over paid orders (or reject them).

Every step tells the buyer; ``ready`` offers the job to the drivers on duty. Rejecting refunds the full
total to the buyer's wallet (MoMo payments too) in the same transaction as the state change, then offers
the buyer the same item from other vendors. A paid order none of the station's staff phones could be told
about (:func:`announce_paid`) is cancelled the same way: refunded, the buyer told, other offers shown.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import defects
from .. import messages as m
from ..context import Context, today_start
from ..flags import STATION
from ..ledger import REFUND
from ..observability import STATION_UNREACHABLE
from ..orders import (
    ACCEPTED,
    CANCELLED,
    CLOSED,
    PENDING_PAYMENT,
    PREPARING,
    READY,
    REJECTED,
    InvalidTransitionError,
    Order,
)
from ..router import Router, Turn
from ..seed import Station
from ..texts import money, rejected, short_items, state_label, station_unreachable
from .common import NEW_SEARCH, find_order, not_registered, offers_message, offers_state
from .dispatch import offer_job


class StationAgent:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def register(self, router: Router) -> None:
        router.on_id("station_hub", self.hub, STATION)
        router.on_prefix("st_accept", self.accept, STATION)
        router.on_prefix("st_preparing", self.preparing, STATION)
        router.on_prefix("st_ready", self.ready, STATION)
        router.on_prefix("st_reject", self.reject, STATION)

    async def _staff_order(self, turn: Turn) -> tuple[Station, Order] | None:
        station = self._ctx.seed.station_of_staff(turn.phone)
        if station is None:
            await not_registered(turn, "station staff")
            return None
        order = await find_order(self._ctx, turn)
        if order is None:
            return None
        if order.station_id != station.id:
            await turn.buttons(f"⛔ Order {order.id} isn't for your station.", [m.HOME_BUTTON])
            return None
        return station, order

    async def _step(self, turn: Turn, to: str) -> Order | None:
        """Move the tapped order of this staff member's station to ``to``; None after saying why not."""
        found = await self._staff_order(turn)
        if found is None:
            return None
        order = found[1]
        try:
            return self._ctx.orders.transition(order.id, to, turn.correlation_id)
        except InvalidTransitionError as exc:
            await _already(turn, order.id, exc.current)
            return None

    async def accept(self, turn: Turn) -> None:
        moved = await self._step(turn, ACCEPTED)
        if moved is not None:
            button = m.Button(f"st_preparing:{moved.id}", "👩‍🍳 Preparing")
            await turn.buttons(f"✅ Order {moved.id} accepted. Tap 👩‍🍳 Preparing when you start.", [button])
            await self._ctx.notify.buyer_update(moved, turn.correlation_id)

    async def preparing(self, turn: Turn) -> None:
        moved = await self._step(turn, PREPARING)
        if moved is not None:
            button = m.Button(f"st_ready:{moved.id}", "📦 Ready")
            await turn.buttons(f"👩‍🍳 Order {moved.id} is being prepared. Tap 📦 Ready for pickup.", [button])
            await self._ctx.notify.buyer_update(moved, turn.correlation_id)

    async def ready(self, turn: Turn) -> None:
        moved = await self._step(turn, READY)
        if moved is not None:
            await turn.text(f"📦 Order {moved.id} is ready. We're finding a driver 🛵")
            await self._ctx.notify.buyer_update(moved, turn.correlation_id)
            await offer_job(self._ctx, moved, turn.correlation_id)

    async def reject(self, turn: Turn) -> None:
        found = await self._staff_order(turn)
        if found is None:
            return
        ctx, corr, order = self._ctx, turn.correlation_id, found[1]
        try:
            with ctx.store.transaction():
                moved = ctx.orders.transition(order.id, REJECTED, corr, payment_status="refunded")
                refund = ctx.ledger.credit_wallet(
                    order.buyer, order.total, REFUND, corr, order_id=order.id, reference=order.payment_ref
                )
        except InvalidTransitionError as exc:
            await _already(turn, order.id, exc.current)
            return
        await turn.text(
            f"❌ Order {order.id} rejected. The buyer gets a full refund of {money(order.total)}."
        )
        if ctx.has_defect(defects.BUYER_NOT_TOLD_OF_REJECTION):
            return
        await self._tell_buyer(moved, refund.balance_after or 0, corr)

    async def _tell_buyer(self, order: Order, balance: int, corr: str) -> None:
        await tell_buyer_with_alternatives(self._ctx, order, balance, corr, rejected)

    async def hub(self, turn: Turn) -> None:
        station = self._ctx.seed.station_of_staff(turn.phone)
        if station is None:
            await not_registered(turn, "station staff")
            return
        orders = [
            o
            for o in self._ctx.orders.since(today_start(), station_id=station.id)
            if o.state not in CLOSED and o.state != PENDING_PAYMENT
        ]
        if not orders:
            await turn.text(f"⛽ {station.name}: no open orders today.")
            return
        rows = [f"• {o.id}: {state_label(o.state)}, {short_items(o)}" for o in orders[-20:]]
        await turn.text(f"⛽ {station.name}: open orders today\n" + "\n".join(rows))


async def _already(turn: Turn, order_id: str, state: str | None) -> None:
    await turn.buttons(
        f"ℹ️ Order {order_id} is {state_label(state or '')}: nothing to change.", [m.HOME_BUTTON]
    )


async def tell_buyer_with_alternatives(
    ctx: Context, order: Order, balance: int, corr: str, text: Callable[[str, str, int, int, bool], str]
) -> None:
    """The buyer's "refunded" notice (``text(vendor, order id, refund, balance, alternatives)``), then the
    same item from other vendors when there is any."""
    line = order.lines[0]
    others = ctx.catalog.search(
        line.name,
        exclude_vendor=order.vendor_id,
        include_unavailable=ctx.has_defect(defects.AVAILABILITY_IGNORED),
    )
    vendor = ctx.seed.vendor(order.vendor_id)
    body = text(vendor.name if vendor else order.vendor_id, order.id, order.total, balance, bool(others))
    await ctx.notify.send(m.buttons(order.buyer, body, [NEW_SEARCH, m.HOME_BUTTON]), corr, order_id=order.id)
    if others:
        message = offers_message(
            order.buyer, others, quantity=line.quantity, query=line.name, area=None, note=None
        )
        if await ctx.notify.send(message, corr, order_id=order.id):
            ctx.store.save_session(order.buyer, offers_state(line.quantity, others))


async def announce_paid(ctx: Context, order: Order, corr: str, *, tell_buyer: bool) -> None:
    """The receipt (unless the buyer is the one being answered) and the station's new-order notice.

    When not one staff phone of the station could be reached, the order cannot go on: it is cancelled,
    the total refunded to the buyer's wallet, and the buyer offered the same item elsewhere.
    """
    reached = await ctx.notify.order_paid(order, corr, tell_buyer=tell_buyer)
    station = ctx.seed.station(order.station_id)
    if (
        reached
        or station is None
        or not station.staff
        or ctx.has_defect(defects.STATION_NOT_NOTIFIED)  # that defect never tries
        or ctx.has_defect(defects.NOTIFY_FAILURE_IGNORED)
    ):
        return
    try:
        with ctx.store.transaction():
            moved = ctx.orders.transition(order.id, CANCELLED, corr, payment_status="refunded")
            refund = ctx.ledger.credit_wallet(
                order.buyer, order.total, REFUND, corr, order_id=order.id, reference=order.payment_ref
            )
    except InvalidTransitionError:
        return  # a staff member got to it after all (a retry came through)
    ctx.events.record(
        corr, STATION_UNREACHABLE, order.buyer, order_id=order.id, station_id=order.station_id,
        staff=len(station.staff), refund=order.total,
    )  # fmt: skip
    await tell_buyer_with_alternatives(ctx, moved, refund.balance_after or 0, corr, station_unreachable)
