"""The buyer agent: search (free text, through the fallback chain) → offer → drop-off location → checkout.

Paying is in :mod:`reference.agents.checkout`; the order's later steps reach the buyer as notices. The
marketplace agent (off by default) lives here too: it browses the same catalog.
"""

from __future__ import annotations

import math

from .. import defects
from .. import messages as m
from ..catalog import make_offer
from ..context import Context
from ..flags import BUYER, MARKETPLACE
from ..orders import CANCELLED, PENDING_PAYMENT, Line, Order
from ..router import Router, Turn
from ..seed import Vendor
from ..texts import (
    ASK_WHAT_TO_ORDER,
    CURATED_NOTE,
    MARKETPLACE_BODY,
    SEARCH_UNAVAILABLE,
    SHARE_LOCATION,
    asking_for_quotes,
    checkout,
    item_unavailable,
    just_unavailable,
    my_orders,
    no_offers,
)
from ..textsearch import distance_km
from .common import HELP, NEW_SEARCH, OFFERS_STATE, offer_row, offers_message, remember_offers
from .quotes import ask_for_quotes
from .search import SearchChain, SearchRequest, SearchResult

LOCATION_STATE = "buyer_location"
BAD_LOCATION = "😔 I couldn't read that location. " + SHARE_LOCATION
OUTSIDE_KIGALI = "😔 Sorry, we only deliver in Kigali. 📍 Please share a location in Kigali."
TOO_LONG = "✂️ That message is too long. Please keep it under 1000 characters."
MAX_TEXT = 1000
KIGALI_CENTRE, DELIVERY_RADIUS_KM = (-1.95, 30.06), 30.0
MAX_EXAMPLES = 9  # + the "Try again" row
TRY_AGAIN = m.Button("buyer_search", "🔍 Try again")


class BuyerAgent:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.search = SearchChain(ctx)

    def register(self, router: Router) -> None:
        router.on_id("buyer_search", self.prompt, BUYER)
        router.on_text(self.free_text, BUYER)
        router.on_prefix("offer", self.choose_offer, BUYER)
        router.on_state(LOCATION_STATE, self.location, BUYER)
        router.on_prefix("quote", self.choose_quote, BUYER)
        router.on_prefix("vendor", self.vendor_offers, BUYER)
        router.on_id("my_orders", self.my_orders, BUYER)
        router.on_id("marketplace", self.marketplace, MARKETPLACE)

    async def prompt(self, turn: Turn) -> None:
        await turn.text(ASK_WHAT_TO_ORDER)

    async def free_text(self, turn: Turn) -> None:
        text = (turn.inbound.text or "").strip()
        if len(text) > MAX_TEXT and not self._ctx.has_defect(defects.NO_INPUT_VALIDATION):
            await turn.buttons(TOO_LONG, [m.HOME_BUTTON])
            return
        result = await self.search.run(SearchRequest(text, turn.phone, turn.correlation_id))
        await self._answer(turn, result)

    async def _answer(self, turn: Turn, result: SearchResult) -> None:
        if result.kind == "ask":
            await turn.buttons(ASK_WHAT_TO_ORDER, [m.HOME_BUTTON])
        elif result.kind == "offers" and result.offers:
            remember_offers(turn.state, result.offers, result.quantity)
            await turn.send(
                offers_message(
                    turn.phone,
                    result.offers,
                    quantity=result.quantity,
                    query=result.query,
                    area=result.area,
                    note=result.note,
                    uncapped=self._ctx.has_defect(defects.OFFERS_UNCAPPED),
                )  # fmt: skip
            )
        elif result.kind == "offers":
            asked = await ask_for_quotes(self._ctx, turn, result.query, result.quantity, result.area)
            body = asking_for_quotes(result.query) if asked else no_offers(result.query)
            await turn.buttons(body, [NEW_SEARCH, m.HOME_BUTTON])
        elif result.kind == "examples":
            remember_offers(turn.state, result.offers, 1)
            shown = MAX_EXAMPLES
            if self._ctx.has_defect(defects.CURATED_ROWS_OFF_BY_ONE):
                shown += 1
            rows = [offer_row(o) for o in result.offers[:shown]]
            await turn.rows(
                CURATED_NOTE, "View offers", [*rows, m.Row("buyer_search", TRY_AGAIN.title)], "Examples"
            )
        elif self._ctx.has_defect(defects.DEAD_END_APOLOGY):
            await turn.text(SEARCH_UNAVAILABLE)
        else:
            await turn.buttons(SEARCH_UNAVAILABLE, [TRY_AGAIN, HELP, m.HOME_BUTTON])

    async def choose_offer(self, turn: Turn) -> None:
        ctx = self._ctx
        item = ctx.catalog.item(turn.arg)
        vendor = ctx.seed.vendor(item.vendor_id) if item is not None else None
        if item is None or item.removed or vendor is None:
            await turn.buttons("😔 That offer is no longer available.", [NEW_SEARCH, m.HOME_BUTTON])
            return
        if not item.available and not ctx.has_defect(defects.AVAILABILITY_IGNORED):
            await self._unavailable(turn, item.name)
            return
        quantity = 1
        data = turn.state.get("data") or {}
        if turn.state.get("key") == OFFERS_STATE and item.id in data.get("items", []):
            quantity = int(data.get("quantity", 1))
        await self._start_order(turn, vendor, Line(item.id, item.name, quantity, item.price))

    async def _start_order(self, turn: Turn, vendor: Vendor, line: Line) -> None:
        ctx = self._ctx
        order = ctx.orders.create(
            turn.phone, vendor.id, vendor.station.id, line, ctx.settings.delivery_fee_rwf, turn.correlation_id
        )
        turn.state.clear()
        turn.state.update({"key": LOCATION_STATE, "data": {"order_id": order.id}})
        await turn.text(SHARE_LOCATION)

    async def choose_quote(self, turn: Turn) -> None:
        """``quote:<Q-id>:<vendor_id>``: the quoted price becomes an order, as an offer would."""
        ctx = self._ctx
        request_id, _, vendor_id = turn.arg.partition(":")
        request = ctx.quotes.get(request_id)
        quote = ctx.quotes.quote(request.id, vendor_id) if request is not None else None
        if request is not None and quote is not None and ctx.has_defect(defects.QUOTE_WRONG_PRICE):
            priced = [q for q in ctx.quotes.answers(request.id) if q.price]
            quote = max(priced, key=lambda q: q.price or 0, default=quote)
        vendor = ctx.seed.vendor(vendor_id)
        if request is None or request.buyer != turn.phone or quote is None or not quote.price or not vendor:
            await turn.buttons("😔 That quote is no longer available.", [NEW_SEARCH, m.HOME_BUTTON])
            return
        name = request.query[:1].upper() + request.query[1:]
        await self._start_order(turn, vendor, Line(request.id, name, request.quantity, quote.price))

    async def vendor_offers(self, turn: Turn) -> None:
        """``vendor:<vendor_id>`` (top-ranked vendors, when no quote came): what that vendor sells."""
        ctx = self._ctx
        vendor = ctx.seed.vendor(turn.arg)
        items = [i for i in ctx.catalog.vendor_items(vendor.id) if i.available] if vendor else []
        if vendor is None or not items:
            await turn.buttons("😔 That vendor has nothing on sale right now.", [NEW_SEARCH, m.HOME_BUTTON])
            return
        offers = [make_offer(item, vendor, None) for item in items[:MAX_EXAMPLES]]
        remember_offers(turn.state, offers, 1)
        rows = [offer_row(o) for o in offers]
        await turn.rows(f"🏪 {vendor.name}: tap an item to order it.", "View offers", rows, "Offers")

    async def _unavailable(self, turn: Turn, name: str) -> None:
        others = self._ctx.catalog.search(name)
        if not others:
            await turn.buttons(item_unavailable(name), [NEW_SEARCH, m.HOME_BUTTON])
            return
        await turn.text(item_unavailable(name) + " Here are other offers:")
        remember_offers(turn.state, others, 1)
        await turn.send(offers_message(turn.phone, others, quantity=1, query=name, area=None, note=None))

    async def location(self, turn: Turn) -> bool:
        if turn.inbound.type != "location":
            return False  # text: a new search; a tap: its own handler
        place = turn.inbound.location
        if place is None:
            await turn.text(BAD_LOCATION)
            return True
        order = self._ctx.orders.get(str((turn.state.get("data") or {}).get("order_id", "")))
        if order is None or order.state != PENDING_PAYMENT or order.buyer != turn.phone:
            turn.state.clear()
            return False
        radius = math.inf if self._ctx.has_defect(defects.DELIVERY_RADIUS_IGNORED) else DELIVERY_RADIUS_KM
        if distance_km(KIGALI_CENTRE, place) > radius:
            await turn.text(OUTSIDE_KIGALI)  # the state stays: the next location is the drop-off
            return True
        turn.state.clear()
        if not await self._still_available(turn, order):
            return True
        self._ctx.orders.set_dropoff(order.id, *place)
        vendor = self._ctx.seed.vendor(order.vendor_id)
        choices = [
            m.Button(f"pay_momo:{order.id}", "📲 MoMo"),
            m.Button(f"pay_wallet:{order.id}", "💳 Wallet"),
            m.HOME_BUTTON,
        ]
        await turn.buttons(checkout(order, vendor.name if vendor else order.vendor_id), choices)
        return True

    async def _still_available(self, turn: Turn, order: Order) -> bool:
        """The vendor may have paused the item since the buyer chose it: then cancel and offer others."""
        line = order.lines[0]
        if line.item_id.startswith("Q-") or self._ctx.has_defect(defects.AVAILABILITY_NOT_RECHECKED):
            return True  # a quoted price is not a catalogue item
        item = self._ctx.catalog.item(line.item_id)
        if item is not None and not item.removed:
            if item.available or self._ctx.has_defect(defects.AVAILABILITY_IGNORED):
                return True
        self._ctx.orders.transition(order.id, CANCELLED, turn.correlation_id)
        others = self._ctx.catalog.search(line.name)
        if not others:
            await turn.buttons(just_unavailable(line.name), [NEW_SEARCH, m.HOME_BUTTON])
            return False
        await turn.text(just_unavailable(line.name) + " Here are other offers:")
        remember_offers(turn.state, others, line.quantity)
        message = offers_message(
            turn.phone, others, quantity=line.quantity, query=line.name, area=None, note=None
        )
        await turn.send(message)
        return False

    async def my_orders(self, turn: Turn) -> None:
        if self._ctx.has_defect(defects.MY_ORDERS_ALL_BUYERS):
            await turn.text(my_orders(self._ctx.orders.since(0)[-5:]))
            return
        await turn.text(my_orders(self._ctx.orders.of_buyer(turn.phone)))

    async def marketplace(self, turn: Turn) -> None:
        rows = []
        for vendor in self._ctx.seed.vendors:
            available = [i for i in self._ctx.catalog.vendor_items(vendor.id) if i.available]
            if available:
                item = available[0]  # the top of the vendor's menu
                rows.append(m.Row(f"offer:{item.id}", f"{vendor.short} {item.price:,} RWF", item.name))
        if not rows:
            await turn.buttons(SEARCH_UNAVAILABLE, [HELP, m.HOME_BUTTON])
            return
        await turn.rows(MARKETPLACE_BODY, "Browse", rows[:10], "Popular")
