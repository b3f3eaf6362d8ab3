"""The vendor agent: a shop owner manages the menu (add, price, pause/resume, remove) and sees today's orders.

Changes reach buyers at once: search reads the catalog on every request. Prompts (a new item, a new
price) keep a session state until a valid answer comes; ``home`` or any button leaves them.
"""

from __future__ import annotations

import re

from .. import defects
from .. import messages as m
from ..catalog import Item
from ..context import Context, today_start
from ..flags import VENDOR
from ..orders import PENDING_PAYMENT
from ..router import Router, Turn
from ..seed import Vendor
from ..texts import money, state_label
from .common import not_registered

ADD_STATE, PRICE_STATE = "vnd_add", "vnd_price"
MAX_PRICE = 10_000_000
MENU_ROWS = 9  # + "Add item" = the 10 rows a list allows
ADD_PROMPT = "➕ Send the new item as: name, price\nFor example: Sugar 1kg, 1800"
ADD_AGAIN = "😔 Please send it as: name, price (for example: Sugar 1kg, 1800)"
PRICE_AGAIN = "😔 Please send the price as a whole number of RWF, for example 3500"
_NAME_PRICE = re.compile(r"^(?P<name>.+?)\s*,\s*(?P<price>[0-9][0-9,. ]*)\s*(?:rwf|frw)?\s*$", re.IGNORECASE)


def parse_price(text: str) -> int | None:
    """``3500``, ``3,500``, ``3 500 RWF`` → 3500; None for anything else (or out of range)."""
    digits = re.sub(r"[,. ]", "", re.sub(r"(?i)\s*(rwf|frw)\s*$", "", text.strip()))
    if not digits.isdigit():
        return None
    value = int(digits)
    return value if 0 < value <= MAX_PRICE else None


SHOWN_ORDERS = 20


class VendorAgent:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def register(self, router: Router) -> None:
        router.on_id("vendor_hub", self.hub, VENDOR)
        router.on_id("vnd_menu", self.menu, VENDOR)
        router.on_id("vnd_orders", self.orders, VENDOR)
        router.on_id("vnd_add", self.add_prompt, VENDOR)
        router.on_prefix("vnd_item", self.item, VENDOR)
        router.on_prefix("vnd_price", self.price_prompt, VENDOR)
        router.on_prefix("vnd_toggle", self.toggle, VENDOR)
        router.on_prefix("vnd_remove", self.remove, VENDOR)
        router.on_state(ADD_STATE, self.add, VENDOR)
        router.on_state(PRICE_STATE, self.price, VENDOR)

    async def _vendor(self, turn: Turn) -> Vendor | None:
        vendor = self._ctx.seed.vendor_of_owner(turn.phone)
        if vendor is None:
            await not_registered(turn, "a vendor")
        return vendor

    async def _own_item(self, turn: Turn, item_id: str) -> Item | None:
        vendor = await self._vendor(turn)
        if vendor is None:
            return None
        item = self._ctx.catalog.item(item_id)
        if item is None or item.removed or item.vendor_id != vendor.id:
            await turn.buttons(
                "😔 That item isn't on your menu.", [m.Button("vnd_menu", "📋 Menu"), m.HOME_BUTTON]
            )
            return None
        return item

    async def hub(self, turn: Turn) -> None:
        choices = [m.Button("vnd_menu", "📋 Menu"), m.Button("vnd_orders", "📦 Orders"), m.HOME_BUTTON]
        no_shop = self._ctx.seed.vendor_of_owner(turn.phone) is None
        if no_shop and self._ctx.has_defect(defects.VENDOR_HUB_FOR_ANYONE):
            await turn.buttons("🏪 Your shop: what would you like to manage?", choices)
            return
        vendor = await self._vendor(turn)
        if vendor is not None:
            await turn.buttons(f"🏪 {vendor.name}: what would you like to manage?", choices)

    async def menu(self, turn: Turn) -> None:
        vendor = await self._vendor(turn)
        if vendor is None:
            return
        shown = MENU_ROWS + 1 if self._ctx.has_defect(defects.MENU_ROWS_OFF_BY_ONE) else MENU_ROWS
        items = self._ctx.catalog.vendor_items(vendor.id)[:shown]
        rows = [
            m.Row(
                f"vnd_item:{i.id}", i.name, f"{money(i.price)} · {'on sale' if i.available else '⏸ paused'}"
            )
            for i in items
        ]
        rows.append(m.Row("vnd_add", "➕ Add item"))
        await turn.rows(
            f"📋 {vendor.name} menu: tap an item to change it, or add one.", "Menu", rows, "Items"
        )

    async def add_prompt(self, turn: Turn) -> None:
        if await self._vendor(turn) is not None:
            turn.state.clear()
            turn.state["key"] = ADD_STATE
            await turn.text(ADD_PROMPT)

    async def add(self, turn: Turn) -> bool:
        if turn.inbound.type != "text":
            return False
        vendor = await self._vendor(turn)
        if vendor is None:
            turn.state.clear()
            return True
        match = _NAME_PRICE.match(turn.inbound.text or "")
        price = parse_price(match["price"]) if match else None
        name = " ".join(match["name"].split()) if match else ""
        if price is None or not 0 < len(name) <= 40:
            await turn.text(ADD_AGAIN)
            return True
        item = self._ctx.catalog.add_item(vendor.id, name, price)
        turn.state.clear()
        await turn.buttons(
            f"✅ Added {item.name} at {money(item.price)}", [m.Button("vnd_menu", "📋 Menu"), m.HOME_BUTTON]
        )
        return True

    async def item(self, turn: Turn) -> None:
        item = await self._own_item(turn, turn.arg)
        if item is None:
            return
        toggle = "⏸ Pause" if item.available else "▶️ Resume"
        choices = [
            m.Button(f"vnd_price:{item.id}", "💰 Price"),
            m.Button(f"vnd_toggle:{item.id}", toggle),
            m.Button(f"vnd_remove:{item.id}", "🗑 Remove"),
        ]
        status = "on sale" if item.available else "paused"
        await turn.buttons(f"{item.name}: {money(item.price)} ({status})", choices)

    async def price_prompt(self, turn: Turn) -> None:
        item = await self._own_item(turn, turn.arg)
        if item is not None:
            turn.state.clear()
            turn.state.update({"key": PRICE_STATE, "data": {"item_id": item.id}})
            await turn.text(f"💰 Send the new price of {item.name} in RWF (now {money(item.price)})")

    async def price(self, turn: Turn) -> bool:
        if turn.inbound.type != "text":
            return False
        item = await self._own_item(turn, str((turn.state.get("data") or {}).get("item_id", "")))
        if item is None:
            turn.state.clear()
            return True
        price = parse_price(turn.inbound.text or "")
        if price is None:
            await turn.text(PRICE_AGAIN)
            return True
        if not self._ctx.has_defect(defects.PRICE_CHANGE_IGNORED):
            self._ctx.catalog.set_price(item.id, price)
        turn.state.clear()
        await turn.buttons(
            f"✅ Price updated: {item.name} {money(price)}", [m.Button("vnd_menu", "📋 Menu"), m.HOME_BUTTON]
        )
        return True

    async def toggle(self, turn: Turn) -> None:
        item = await self._own_item(turn, turn.arg)
        if item is None:
            return
        self._ctx.catalog.set_available(item.id, not item.available)
        text = f"⏸ {item.name} is now unavailable" if item.available else f"▶️ {item.name} is available again"
        await turn.buttons(text, [m.Button("vnd_menu", "📋 Menu"), m.HOME_BUTTON])

    async def remove(self, turn: Turn) -> None:
        item = await self._own_item(turn, turn.arg)
        if item is not None:
            self._ctx.catalog.remove(item.id)
            await turn.buttons(f"🗑 Removed {item.name}", [m.Button("vnd_menu", "📋 Menu"), m.HOME_BUTTON])

    async def orders(self, turn: Turn) -> None:
        vendor = await self._vendor(turn)
        if vendor is None:
            return
        orders = [
            o
            for o in self._ctx.orders.since(today_start(), vendor_id=vendor.id)
            if o.state != PENDING_PAYMENT
        ]
        if not orders:
            await turn.text("📦 Today's orders\nNo orders today")
            return
        # A busy vendor has hundreds of orders a day: the 20 that moved last come first.
        moved = self._ctx.orders.last_activity([o.id for o in orders])
        orders.sort(key=lambda o: moved.get(o.id, o.created_at), reverse=True)
        lines = [f"• {o.id}: {state_label(o.state)}, {money(o.total)}" for o in orders[:SHOWN_ORDERS]]
        more = f" ({len(orders)}, latest {SHOWN_ORDERS} first)" if len(orders) > SHOWN_ORDERS else ""
        await turn.text(f"📦 Today's orders{more}\n" + "\n".join(lines))
