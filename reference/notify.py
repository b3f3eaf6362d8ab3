"""Messages to other users than the one who wrote: station staff, drivers, and the buyer.

A notice carries the correlation id of what caused it (the station's tap, the payment callback), so one
id follows an order step across every party. A notice that cannot be delivered is recorded
(``reply_failed`` by the Graph client, ``notification_failed`` with the order here) and skipped: one
unreachable staff phone must not stop the order or the other notices. Users who opted out get nothing
(``reply_suppressed``). The ``notify_down`` test fault makes notices fail as if Graph had refused them:
those to other users about the orders of the rule's key (the buyer still hears about them), or, for a
notice about no order, those to the key itself.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from . import defects
from . import messages as m
from .config import Settings
from .graph_client import GraphClient, ReplyFailedError
from .messages import describe
from .observability import NOTIFICATION_FAILED, REPLY_SUPPRESSED, EventLog
from .orders import Order
from .seed import Seed
from .store import Store
from .testfaults import NOTIFY_DOWN, TestFaults
from .texts import lines_text, money, receipt, tracking
from .textsearch import distance_km

log = logging.getLogger("reference.notify")


class Notifier:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        events: EventLog,
        graph: GraphClient,
        seed: Seed,
        faults: TestFaults | None = None,
    ) -> None:
        self._settings, self._store, self._events, self._graph, self._seed = (
            settings,
            store,
            events,
            graph,
            seed,
        )
        self._faults = faults if faults is not None else TestFaults()

    async def send(self, message: dict[str, Any], corr: str, *, order_id: str | None = None) -> bool:
        """Deliver one message; False when the recipient opted out or Graph refused it."""
        to = str(message["to"])
        contact = self._store.get_contact(to)
        if (
            contact is not None
            and contact.opted_out
            and not self._settings.has_defect(defects.OPTOUT_IGNORED)
            and not self._settings.has_defect(defects.NOTICES_IGNORE_OPTOUT)
        ):
            self._events.record(corr, REPLY_SUPPRESSED, to, reason="opted_out", kind="notice")
            return False
        try:
            if self._notify_down(to, order_id):
                raise ReplyFailedError(None, "test fault: notify_down")
            await self._graph.send(message, correlation_id=corr)
        except ReplyFailedError as exc:
            log.warning("notice to %s failed (correlation %s)", to[-4:], corr)
            self._events.record(
                corr, NOTIFICATION_FAILED, to, order_id=order_id, status=exc.status, kind=describe(message)
            )
            return False
        return True

    def _notify_down(self, to: str, order_id: str | None) -> bool:
        if not self._faults.active:
            return False
        row = self._store.fetchone("SELECT buyer FROM orders WHERE id = ?", (order_id,)) if order_id else None
        if row is None:
            return self._faults.take(NOTIFY_DOWN, to)
        buyer = str(row["buyer"])
        return to != buyer and self._faults.take(NOTIFY_DOWN, buyer)

    async def text(self, to: str, body: str, corr: str, *, order_id: str | None = None) -> bool:
        return await self.send(m.text(to, body), corr, order_id=order_id)

    # -- the order's steps ---------------------------------------------------------------------------

    async def order_paid(self, order: Order, corr: str, *, tell_buyer: bool) -> int:
        """The buyer's receipt (unless the buyer is the one being answered) and the station's notice."""
        if tell_buyer:
            await self.text(order.buyer, receipt(order), corr, order_id=order.id)
        return await self.new_order(order, corr)

    async def new_order(self, order: Order, corr: str) -> int:
        """Announce a paid order to every staff phone of its station; return how many got it."""
        if self._settings.has_defect(defects.STATION_NOT_NOTIFIED):
            return 0
        body = f"🆕 New order {order.id}\n{lines_text(order.lines)}\nItems total: {money(order.subtotal)}"
        choices = [
            m.Button(f"st_accept:{order.id}", "✅ Accept"),
            m.Button(f"st_reject:{order.id}", "❌ Reject"),
        ]
        reached = await self.station(order, lambda to: m.buttons(to, body, choices), corr)
        if self._settings.has_defect(defects.RECEIPT_TO_STATION):
            await self.station_text(order, receipt(order), corr)
        return reached

    async def station(self, order: Order, build: Any, corr: str) -> int:
        """Send to every staff phone of the order's station; return how many got it."""
        station = self._seed.station(order.station_id)
        sent = 0
        for phone in station.staff if station else ():
            if await self.send(build(phone), corr, order_id=order.id):
                sent += 1
            elif self._settings.has_defect(defects.NOTIFY_STOPS_AT_FIRST_FAILURE):
                break
        return sent

    async def station_text(self, order: Order, body: str, corr: str) -> int:
        return await self.station(order, lambda to: m.text(to, body), corr)

    async def buyer_update(self, order: Order, corr: str, *, driver: str = "") -> bool:
        vendor = self._seed.vendor(order.vendor_id)
        body = tracking(order, vendor=vendor.name if vendor else "", driver=driver)
        if self._settings.has_defect(defects.LATE_BUYER_UPDATE):
            await asyncio.sleep(1.0)
        sent = await self.text(order.buyer, body, corr, order_id=order.id)
        if self._settings.has_defect(defects.STATUS_UPDATE_TWICE):
            await self.text(order.buyer, body, corr, order_id=order.id)
        return sent

    async def offer_to_drivers(self, order: Order, corr: str) -> int:
        """The delivery job, to every driver on duty (first to accept wins)."""
        if self._settings.has_defect(defects.DRIVER_NOT_NOTIFIED):
            return 0
        vendor = self._seed.vendor(order.vendor_id)
        if vendor is None:
            return 0
        lines = [f"🛵 Delivery job {order.id}", f"Pickup: {vendor.name}, {vendor.area}"]
        if order.dropoff is not None:
            lines.append(
                f"Drop-off: about {distance_km((vendor.lat, vendor.lng), order.dropoff):.1f} km away"
            )
        lines.append(f"Fee: {money(order.delivery_fee)}")
        body = "\n".join(lines)
        accept = [m.Button(f"drv_accept:{order.id}", "✅ Accept")]
        sent = 0
        for driver in self._seed.drivers:
            if driver.on_duty:
                sent += await self.send(m.buttons(driver.phone, body, accept), corr, order_id=order.id)
        return sent
