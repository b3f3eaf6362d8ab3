"""Pieces several agents share: the offers list, order look-ups with their refusals, buttons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import messages as m
from ..catalog import Offer
from ..context import Context
from ..orders import Order
from ..router import Turn
from ..texts import money, offers_body

MAX_OFFER_ROWS = 5
NEW_SEARCH = m.Button("buyer_search", "🔍 New search")
HELP = m.Button("support_help", "🆘 Help")
OFFERS_STATE = "buyer_offers"


def offer_row(offer: Offer) -> m.Row:
    title = f"{offer.vendor.short} {money(offer.item.price)}"
    parts = [offer.item.name, f"⭐ {offer.vendor.rating:.1f}"]
    if offer.vendor.verified:
        parts.append("verified")
    if offer.distance_km is not None:
        parts.append(f"{offer.distance_km:.1f} km")
    return m.Row(f"offer:{offer.item.id}", title, " · ".join(parts))


def offers_message(
    to: str,
    offers: Sequence[Offer],
    *,
    quantity: int,
    query: str,
    area: str | None,
    note: str | None,
    uncapped: bool = False,
) -> dict[str, Any]:
    rows = [offer_row(o) for o in (offers if uncapped else offers[:MAX_OFFER_ROWS])]
    body = offers_body(quantity, query, area, note)
    return m.list_message(to, body, "View offers", [m.Section("Offers", rows)])


def remember_offers(state: dict[str, Any], offers: Sequence[Offer], quantity: int) -> None:
    """The quantity asked for, so tapping one of these offers orders that many."""
    state.clear()
    state.update({"key": OFFERS_STATE, "data": {"quantity": quantity, "items": [o.item.id for o in offers]}})


def offers_state(quantity: int, offers: Sequence[Offer]) -> dict[str, Any]:
    return {"key": OFFERS_STATE, "data": {"quantity": quantity, "items": [o.item.id for o in offers]}}


async def find_order(ctx: Context, turn: Turn) -> Order | None:
    """The order named by the tapped id, or None after telling the user it does not exist."""
    order = ctx.orders.get(turn.arg) if turn.arg else None
    if order is None:
        await turn.buttons(f"😔 I can't find order {turn.arg or '(none)'}.", [m.HOME_BUTTON])
    return order


async def not_registered(turn: Turn, role: str) -> None:
    await turn.buttons(
        f"You're not registered as {role}. Ask for help to join easyMO.", [HELP, m.HOME_BUTTON]
    )
