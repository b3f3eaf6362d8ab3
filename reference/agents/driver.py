"""The driver agent: take a ready order (first accept wins), navigate, confirm with the buyer's code.

On accept the driver gets the pickup and drop-off pins and the route from the maps service; when maps
fails, the two pins alone (``fallback_triggered`` tier ``plain_pins``). The delivery is confirmed only by
the buyer's 4-digit code; three wrong codes lock the order for support.
"""

from __future__ import annotations

import hmac
import math
import re

from .. import defects
from .. import messages as m
from ..clients.maps import MapsError
from ..context import Context, today_start
from ..flags import DRIVER
from ..observability import FALLBACK_TRIGGERED
from ..orders import DELIVERED, OUT_FOR_DELIVERY, READY, InvalidTransitionError, Order
from ..router import Router, Turn
from ..seed import Driver
from ..texts import short_items, state_label
from .common import HELP, find_order, not_registered
from .dispatch import driver_found

CODE_STATE = "drv_code"
MAX_CODE_ATTEMPTS = 3
CODE_PROMPT = "Please type the buyer's 4-digit delivery code"
PLAIN_PINS = "🧭 Route unavailable; use the pins. Pickup first, then drop-off."
NAVIGATION_BROKEN = "😔 Sorry, navigation isn't available right now. Please try again later."
_CODE = re.compile(r"[0-9]{4}")


class DriverAgent:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def register(self, router: Router) -> None:
        router.on_id("driver_hub", self.hub, DRIVER)
        router.on_prefix("drv_accept", self.accept, DRIVER)
        router.on_prefix("drv_delivered", self.delivered, DRIVER)
        router.on_state(CODE_STATE, self.code, DRIVER)

    async def _driver(self, turn: Turn) -> Driver | None:
        driver = self._ctx.seed.driver(turn.phone)
        if driver is None:
            await not_registered(turn, "a driver")
        return driver

    async def accept(self, turn: Turn) -> None:
        driver = await self._driver(turn)
        if driver is None:
            return
        order = await find_order(self._ctx, turn)
        if order is None:
            return
        try:
            order = self._ctx.orders.transition(
                order.id, OUT_FOR_DELIVERY, turn.correlation_id, driver=turn.phone
            )
        except InvalidTransitionError as exc:
            late = exc.current == OUT_FOR_DELIVERY and order.driver != turn.phone
            if not (late and self._ctx.has_defect(defects.LATE_ACCEPT_REASSIGNS)):
                await turn.buttons(_not_yours(order, exc.current, turn.phone), [m.HOME_BUTTON])
                return
            self._ctx.store.execute("UPDATE orders SET driver = ? WHERE id = ?", (turn.phone, order.id))
            order = self._ctx.orders.get(order.id) or order
        driver_found(self._ctx, order.id)
        await self._navigate(turn, order)
        await self._ctx.notify.buyer_update(order, turn.correlation_id, driver=driver.name)
        await self._ctx.notify.station_text(
            order,
            f"🛵 {driver.name} accepted order {order.id} and is coming to pick it up.",
            turn.correlation_id,
        )

    async def _navigate(self, turn: Turn, order: Order) -> None:
        ctx = self._ctx
        vendor = ctx.seed.vendor(order.vendor_id)
        assert vendor is not None
        assert order.dropoff is not None
        pickup, dropoff = (vendor.lat, vendor.lng), order.dropoff
        if ctx.has_defect(defects.MAPS_FAILURE_BREAKS_NAVIGATION):
            try:
                await ctx.maps.route(pickup, dropoff, corr=turn.correlation_id, phone=turn.phone)
            except MapsError:
                await turn.buttons(NAVIGATION_BROKEN, [m.HOME_BUTTON])
                return
        await turn.send(m.location(turn.phone, *pickup, name=vendor.name, address=f"{vendor.area}, Kigali"))
        await turn.send(m.location(turn.phone, *dropoff, name=f"Drop-off {order.id}"))
        try:
            route = await ctx.maps.route(pickup, dropoff, corr=turn.correlation_id, phone=turn.phone)
            minutes = max(1, math.ceil(route.duration_s / 60))
            body = f"🧭 Route: {route.distance_m / 1000:.1f} km, about {minutes} min: {route.url}"
        except MapsError as exc:
            ctx.events.record(
                turn.correlation_id, FALLBACK_TRIGGERED, turn.phone, agent="driver", tier="plain_pins",
                failed=["maps"], reasons={"maps": exc.reason}, order_id=order.id,
            )  # fmt: skip
            body = PLAIN_PINS
        body += "\nTap 📦 Delivered at the buyer's door."
        await turn.buttons(body, [m.Button(f"drv_delivered:{order.id}", "📦 Delivered")])

    async def delivered(self, turn: Turn) -> None:
        driver = await self._driver(turn)
        if driver is None:
            return
        order = await find_order(self._ctx, turn)
        if order is None:
            return
        if order.driver != turn.phone:
            await turn.buttons(f"😔 Order {order.id} isn't assigned to you.", [m.HOME_BUTTON])
        elif order.state != OUT_FOR_DELIVERY:
            await turn.buttons(f"ℹ️ Order {order.id} is {state_label(order.state)}.", [m.HOME_BUTTON])
        elif order.code_attempts >= MAX_CODE_ATTEMPTS:
            await turn.buttons(_locked(order.id), [HELP, m.HOME_BUTTON])
        else:
            # A driver may carry several parcels: every order tapped Delivered waits for its code.
            waiting = [i for i in _awaiting(turn.state) if i != order.id] + [order.id]
            if self._ctx.has_defect(defects.ONE_PARCEL_AT_A_TIME):
                waiting = [order.id]
            turn.state.clear()
            turn.state.update({"key": CODE_STATE, "data": {"order_ids": waiting}})
            await turn.text(CODE_PROMPT)

    async def code(self, turn: Turn) -> bool:
        if turn.inbound.type != "text":
            return False
        ctx, corr = self._ctx, turn.correlation_id
        waiting = [
            o
            for o in (ctx.orders.get(i) for i in _awaiting(turn.state))
            if o is not None and o.state == OUT_FOR_DELIVERY and o.driver == turn.phone
        ]
        if not waiting:
            turn.state.clear()
            return False
        typed = (turn.inbound.text or "").strip()
        if not _CODE.fullmatch(typed):
            await turn.text(CODE_PROMPT)
            return True
        if ctx.has_defect(defects.DELIVERY_CODE_NOT_CHECKED):
            matching = waiting[-1:]
        else:
            matching = [o for o in waiting if hmac.compare_digest(typed, o.delivery_code or "")]
        if not matching:
            order = waiting[-1]  # a wrong code counts against the parcel tapped last
            attempts = ctx.orders.add_code_attempt(order.id)
            left = MAX_CODE_ATTEMPTS - attempts
            if left > 0:
                await turn.text(f"❌ That code doesn't match. {left} {'try' if left == 1 else 'tries'} left.")
            else:
                _keep_waiting(turn, [o.id for o in waiting if o.id != order.id])
                await turn.buttons("❌ That code doesn't match. " + _locked(order.id), [HELP, m.HOME_BUTTON])
            return True
        order = matching[0]
        _keep_waiting(turn, [o.id for o in waiting if o.id != order.id])
        try:
            order = ctx.orders.transition(order.id, DELIVERED, corr)
        except InvalidTransitionError as exc:
            await turn.buttons(f"ℹ️ Order {order.id} is {state_label(exc.current or '')}.", [m.HOME_BUTTON])
            return True
        await turn.text(f"✅ Delivery confirmed: order {order.id}. Thank you!")
        await ctx.notify.buyer_update(order, corr)
        await ctx.notify.station_text(order, f"✅ Order {order.id} delivered", corr)
        return True

    async def hub(self, turn: Turn) -> None:
        if await self._driver(turn) is None:
            return
        today = self._ctx.orders.since(today_start())
        mine = [o for o in today if o.driver == turn.phone and o.state == OUT_FOR_DELIVERY]
        jobs = m.MAX_BUTTONS + 1 if self._ctx.has_defect(defects.DRIVER_JOBS_FOUR_BUTTONS) else m.MAX_BUTTONS
        waiting = [o for o in today if o.state == READY][:jobs]
        lines = [f"• {o.id}: {state_label(o.state)}, {short_items(o)}" for o in mine]
        body = "🛵 Your deliveries:\n" + "\n".join(lines) if lines else "🛵 No deliveries in progress."
        if not waiting:
            await turn.text(body + "\nNew jobs come here as soon as an order is ready.")
            return
        body += "\nJobs waiting for a driver:\n" + "\n".join(f"• {o.id}: {short_items(o)}" for o in waiting)
        await turn.buttons(body, [m.Button(f"drv_accept:{o.id}", f"✅ {o.id}") for o in waiting])


def _awaiting(state: dict[str, object]) -> list[str]:
    """The order ids waiting for a delivery code in this driver's conversation state."""
    data = state.get("data") if state.get("key") == CODE_STATE else None
    ids = data.get("order_ids", []) if isinstance(data, dict) else []
    return [str(i) for i in ids] if isinstance(ids, list) else []


def _keep_waiting(turn: Turn, order_ids: list[str]) -> None:
    turn.state.clear()
    if order_ids:
        turn.state.update({"key": CODE_STATE, "data": {"order_ids": order_ids}})


def _not_yours(order: Order, current: str | None, phone: str) -> str:
    if current in (OUT_FOR_DELIVERY, DELIVERED):
        if order.driver == phone:
            return f"ℹ️ Order {order.id} is already yours."
        return f"Order {order.id} was taken by another driver."
    if current in ("paid", "accepted", "preparing"):
        return f"ℹ️ Order {order.id} isn't ready for pickup yet."
    return f"ℹ️ Order {order.id} is {state_label(current or '')}."


def _locked(order_id: str) -> str:
    return f"No tries left for order {order_id}: please contact support."
