"""Quotes: a search the catalogue cannot answer asks vendors for a price, and the buyer gets what came.

Who is asked: the vendors whose ``area`` is the search area, else (no area, or nobody there) the 4
best-rated. Each gets a buttons message with the request code; a vendor answers by texting
``<Q-id> <price>`` from any point of any conversation (no session state: the router checks the pattern
before session states), or taps ``quote_decline:<Q-id>``.

At ``QUOTE_DEADLINE_MS`` (an in-process deadline, queued behind the buyer's own messages) the request
closes and the buyer gets a list of the quotes, cheapest first (``Quotes so far`` when some vendor did
not answer), or, with none, the top-ranked vendors. When every asked vendor has answered before that,
the request closes at once (``Quotes for``) and the deadline is cancelled. Choosing a quote (or a
vendor) is the buyer agent's job.
"""

from __future__ import annotations

import re

from .. import defects
from .. import messages as m
from ..context import Context
from ..flags import VENDOR
from ..observability import QUOTE_RECEIVED, QUOTE_REQUESTED, QUOTES_SENT
from ..quotes import OPEN, QuoteRequest
from ..router import Router, Turn
from ..seed import Vendor
from ..texts import (
    NO_QUOTES,
    money,
    quote_closed,
    quote_declined,
    quote_price_again,
    quote_request,
    quote_sent,
    quote_unknown,
    quotes_list,
)
from ..textsearch import AREAS, distance_km
from .vendor import parse_price

BEST_RATED = 4
TOP_VENDORS = 5
MAX_QUOTE_ROWS = 10
# The whole text: a code, then (maybe) a price; a bad price still gets a helpful answer.
QUOTE_REPLY = r"\s*(Q-[A-Z0-9]{6})\b[\s:,=-]*(.*)"
_QUOTE_REPLY = re.compile(QUOTE_REPLY, re.IGNORECASE | re.DOTALL)


def deadline_key(request_id: str) -> str:
    return f"quote:{request_id}"


def vendors_to_ask(ctx: Context, area: str | None) -> list[Vendor]:
    near = [v for v in ctx.seed.vendors if area is not None and v.area.lower() == area.lower()]
    return near or best_rated(ctx.seed.vendors)[:BEST_RATED]


def best_rated(vendors: tuple[Vendor, ...], area: str | None = None) -> list[Vendor]:
    """Rating first, then verified, then (with an area) closeness, then the id: always the same order."""
    centre = AREAS.get(area) if area else None

    def key(v: Vendor) -> tuple[float, bool, float, str]:
        distance = distance_km(centre, (v.lat, v.lng)) if centre else 0.0
        return (-v.rating, not v.verified, distance, v.id)

    return sorted(vendors, key=key)


async def ask_for_quotes(ctx: Context, turn: Turn, query: str, quantity: int, area: str | None) -> bool:
    """Open a request and queue the vendors' messages; False when there is nobody to ask.

    The same search while the buyer's request for it is still open asks nobody again.
    """
    vendors = vendors_to_ask(ctx, area)
    if not vendors or not query.strip():
        return False
    if ctx.quotes.open_for(turn.phone, query) is not None:
        return True  # already asked: the answer is on its way
    corr = turn.correlation_id
    request = ctx.quotes.open(turn.phone, query, quantity, area, [v.id for v in vendors])
    ctx.events.record(
        corr, QUOTE_REQUESTED, turn.phone, request_id=request.id, query=query, area=area,
        vendors=list(request.vendors),
    )  # fmt: skip
    if not ctx.has_defect(defects.NO_QUOTE_DEADLINE):

        async def at_deadline() -> None:
            await close_and_send(ctx, request.id, corr)

        ctx.deadlines.schedule(
            deadline_key(request.id), ctx.settings.quote_deadline_ms / 1000, request.buyer, at_deadline,
            name="quote_deadline", correlation_id=corr,
        )  # fmt: skip

    async def ask_vendors() -> None:
        body = quote_request(request.id, query, quantity, area)
        decline = [m.Button(f"quote_decline:{request.id}", "🙅 Can't supply")]
        for vendor in vendors:
            await ctx.notify.send(m.buttons(vendor.owner, body, decline), corr)

    # Not in the buyer's turn: the buyer's reply goes first and the buyer's next message never waits.
    ctx.processor.run_later(deadline_key(request.id), ask_vendors, name="quote_requests", correlation_id=corr)
    return True


async def close_and_send(ctx: Context, request_id: str, corr: str) -> None:
    """Close the request (if nobody did yet) and send the buyer the quotes, or the top-ranked vendors."""
    if not ctx.quotes.close(request_id):
        return
    ctx.deadlines.cancel(deadline_key(request_id))
    request = ctx.quotes.get(request_id)
    assert request is not None
    answers = ctx.quotes.answers(request_id)
    complete = {q.vendor_id for q in answers} >= set(request.vendors)
    priced = sorted((q for q in answers if q.price is not None), key=lambda q: (q.price or 0, q.ts))
    if priced and not complete and ctx.has_defect(defects.PARTIAL_QUOTES_DROPPED):
        priced = []
    rows = []
    for quote in priced[:MAX_QUOTE_ROWS]:
        vendor = ctx.seed.vendor(quote.vendor_id)
        if vendor is not None:
            rows.append(
                m.Row(
                    f"quote:{request.id}:{vendor.id}",
                    f"{vendor.short} {money(quote.price or 0)}",
                    f"{vendor.name} · ⭐ {vendor.rating:.1f}",
                )
            )
    ctx.events.record(
        corr, QUOTES_SENT, request.buyer, request_id=request.id, quotes=len(rows), complete=complete,
    )  # fmt: skip
    if rows:
        body = quotes_list(request.query, complete)
        quotes = m.list_message(request.buyer, body, "View quotes", [m.Section("Quotes", rows)])
        await ctx.notify.send(quotes, corr)
        return
    top = best_rated(ctx.seed.vendors, request.area)[:TOP_VENDORS]
    vendor_rows = [m.Row(f"vendor:{v.id}", v.short, f"{v.name} · ⭐ {v.rating:.1f} · {v.area}") for v in top]
    vendor_rows.append(m.Row(m.BACK_HOME_ID, m.HOME_TITLE))  # an apology is never a dead end
    await ctx.notify.send(
        m.list_message(request.buyer, NO_QUOTES, "Vendors", [m.Section("Top-ranked", vendor_rows)]), corr
    )


class QuoteAgent:
    """The vendor's side: answering a request with a price, or declining it."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def register(self, router: Router) -> None:
        router.on_pattern(QUOTE_REPLY, self.reply, VENDOR)
        router.on_prefix("quote_decline", self.decline, VENDOR)

    async def _request(self, turn: Turn, request_id: str) -> tuple[Vendor, QuoteRequest] | None:
        """The vendor and the open request it was asked, or None after saying why not."""
        vendor = self._ctx.seed.vendor_of_owner(turn.phone)
        assert vendor is not None  # callers checked
        request = self._ctx.quotes.get(request_id)
        if request is None or vendor.id not in request.vendors:
            await turn.text(quote_unknown(request_id))
            return None
        if request.status != OPEN:
            await turn.text(quote_closed(request.id))
            return None
        return vendor, request

    async def reply(self, turn: Turn) -> bool:
        if self._ctx.seed.vendor_of_owner(turn.phone) is None:
            return False  # a buyer typing a code: let the search read it
        request_id, price_text = _match(turn.inbound.text or "")
        found = await self._request(turn, request_id)
        if found is None:
            return True
        vendor, request = found
        price = parse_price(price_text) if price_text else None
        if price is None:
            await turn.text(quote_price_again(request.id))
            return True
        self._ctx.quotes.answer(request.id, vendor.id, price)
        self._ctx.events.record(
            turn.correlation_id, QUOTE_RECEIVED, turn.phone, request_id=request.id, vendor_id=vendor.id,
            price=price, declined=False,
        )  # fmt: skip
        await turn.text(quote_sent(request.id, request.query, price))
        self._maybe_complete(request, turn.correlation_id)
        return True

    async def decline(self, turn: Turn) -> None:
        if self._ctx.seed.vendor_of_owner(turn.phone) is None:
            await turn.buttons(quote_unknown(turn.arg.upper() or "(none)"), [m.HOME_BUTTON])
            return
        found = await self._request(turn, turn.arg.upper())
        if found is None:
            return
        vendor, request = found
        self._ctx.quotes.answer(request.id, vendor.id, None)
        self._ctx.events.record(
            turn.correlation_id, QUOTE_RECEIVED, turn.phone, request_id=request.id, vendor_id=vendor.id,
            price=None, declined=True,
        )  # fmt: skip
        await turn.buttons(quote_declined(request.id), [m.HOME_BUTTON])
        self._maybe_complete(request, turn.correlation_id)

    def _maybe_complete(self, request: QuoteRequest, corr: str) -> None:
        """Every asked vendor answered: no need to wait for the deadline."""
        answered = {q.vendor_id for q in self._ctx.quotes.answers(request.id)}
        if answered >= set(request.vendors):
            ctx = self._ctx

            async def send() -> None:
                await close_and_send(ctx, request.id, corr)

            ctx.processor.run_later(request.buyer, send, name="quotes_complete", correlation_id=corr)


def _match(text: str) -> tuple[str, str]:
    found = _QUOTE_REPLY.fullmatch(text.strip())
    assert found is not None  # the router matched the same pattern
    return found.group(1).upper(), found.group(2).strip()
