"""The buyer's search as a fallback chain: AI → ranking → database → curated → graceful failure.

Each tier either answers (a :class:`SearchResult`) or raises :class:`TierFailedError`, and the chain
tries the next. When a lower tier answered, one ``fallback_triggered`` event says which (``tier``), which
tiers failed before it (``failed``) and why (``reasons``). The last tier cannot fail. The AI tier fails
for real (LLM down, slow, rate limited, malformed); the ranking, database and curated tiers fail when the
catalogue cannot be read, or for one user through the test-fault hook (``ranking_down``,
``database_down``, ``curated_down``, key = the buyer's phone).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from .. import defects
from ..catalog import MAX_OFFERS, Item, Offer, make_offer
from ..clients.llm import Chat, LlmError
from ..context import Context
from ..observability import AGENT_CALLED, FALLBACK_TRIGGERED
from ..testfaults import CURATED_DOWN, DATABASE_DOWN, RANKING_DOWN, SEARCH
from ..textsearch import clean, known_area, parse_query

AI, RANKING, DATABASE, CURATED, FAILURE = "ai", "ranking", "database", "curated", "graceful_failure"
RANKING_NOTE = "Showing top-ranked results"
DATABASE_NOTE = "Showing available options"
UNCAPPED = 10_000  # the offers_uncapped defect's "limit"


@dataclass(frozen=True)
class SearchRequest:
    text: str
    phone: str
    correlation_id: str


@dataclass(frozen=True)
class SearchResult:
    tier: str
    kind: str  # "offers" (maybe none), "ask" (no search intent), "examples", "failure"
    query: str = ""
    quantity: int = 1
    area: str | None = None
    offers: Sequence[Offer] = field(default_factory=tuple)
    note: str | None = None


class TierFailedError(Exception):
    def __init__(self, reason: str, raw: str = "") -> None:
        super().__init__(reason)
        self.reason, self.raw = reason, raw


class Tier(Protocol):
    name: str

    async def run(self, request: SearchRequest) -> SearchResult: ...


class SearchChain:
    def __init__(self, ctx: Context, tiers: Sequence[Tier] | None = None) -> None:
        self._ctx = ctx
        self.tiers: list[Tier] = list(tiers) if tiers is not None else default_tiers(ctx)

    async def run(self, request: SearchRequest) -> SearchResult:
        events = self._ctx.events
        first = self.tiers[0].name
        events.record(request.correlation_id, AGENT_CALLED, request.phone, agent="buyer", tier=first)
        failed: dict[str, str] = {}
        raw = ""
        result = SearchResult(FAILURE, "failure")
        for tier in self.tiers:
            try:
                result = await tier.run(request)
                break
            except TierFailedError as exc:
                failed[tier.name] = exc.reason
                raw = raw or exc.raw
        if raw and self._ctx.has_defect(defects.RAW_LLM_OUTPUT_SHOWN) and result.kind == "offers":
            result = replace(result, note=f"{result.note or ''}\nAI said: {raw}".strip())
        if failed:
            events.record(
                request.correlation_id, FALLBACK_TRIGGERED, request.phone, agent="buyer", tier=result.tier,
                failed=list(failed), reasons=failed,
            )  # fmt: skip
        return result


def default_tiers(ctx: Context) -> list[Tier]:
    if ctx.has_defect(defects.FALLBACK_TIER_SKIPPED):
        return [AiTier(ctx), FailureTier()]
    tiers: list[Tier] = [AiTier(ctx), RankingTier(ctx)]
    if not ctx.has_defect(defects.DATABASE_TIER_SKIPPED):
        tiers.append(DatabaseTier(ctx))
    if not ctx.has_defect(defects.CURATED_TIER_SKIPPED):
        tiers.append(CuratedTier(ctx))
    return [*tiers, FailureTier()]


def _include_unavailable(ctx: Context) -> bool:
    return ctx.has_defect(defects.AVAILABILITY_IGNORED)


def _offer_limit(ctx: Context) -> int:
    return UNCAPPED if ctx.has_defect(defects.OFFERS_UNCAPPED) else MAX_OFFERS


class AiTier:
    """The LLM reads the request; its ``search_offers`` call runs against the ranked catalog."""

    name = AI

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def run(self, request: SearchRequest) -> SearchResult:
        try:
            answer = await self._ctx.llm.understand(request.text, request.phone, request.correlation_id)
        except LlmError as exc:
            raise TierFailedError(exc.reason, exc.raw) from None
        if isinstance(answer, Chat):
            return SearchResult(AI, "ask")
        area = known_area(answer.area)
        query = clean(answer.query)
        try:
            offers = self._ctx.catalog.search(
                query,
                area=area,
                include_unavailable=_include_unavailable(self._ctx),
                limit=_offer_limit(self._ctx),
            )
        except sqlite3.Error as exc:
            raise TierFailedError(f"catalog: {type(exc).__name__}") from None
        return SearchResult(AI, "offers", query, answer.quantity, area, offers)


class RankingTier:
    """No LLM: the raw text is read by rules and the catalog ranks the matches."""

    name = RANKING
    ranked = True
    note = RANKING_NOTE
    fault = RANKING_DOWN

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def run(self, request: SearchRequest) -> SearchResult:
        if self._ctx.faults.take(self.fault, request.phone, SEARCH):
            raise TierFailedError(f"test fault: {self.fault}")
        parsed = parse_query(request.text)
        try:
            offers = self._ctx.catalog.search(
                parsed.query,
                area=parsed.area,
                include_unavailable=_include_unavailable(self._ctx),
                ranked=self.ranked,
                limit=_offer_limit(self._ctx),
            )
        except sqlite3.Error as exc:
            raise TierFailedError(f"catalog: {type(exc).__name__}") from None
        return SearchResult(
            self.name, "offers", parsed.query, parsed.quantity, parsed.area, offers, self.note
        )


class DatabaseTier(RankingTier):
    """Plain matches from the database, cheapest first, when the ranking cannot run."""

    name = DATABASE
    ranked = False
    note = DATABASE_NOTE
    fault = DATABASE_DOWN


class CuratedTier:
    """Examples from the seed (no database needed): one available item per vendor, with a retry prompt."""

    name = CURATED

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def run(self, request: SearchRequest) -> SearchResult:
        if self._ctx.faults.take(CURATED_DOWN, request.phone, SEARCH):
            raise TierFailedError(f"test fault: {CURATED_DOWN}")
        offers = []
        for vendor in self._ctx.seed.vendors:
            item = next((i for i in vendor.items if i.available), None)
            if item is not None:
                as_item = Item(item.id, vendor.id, item.name, item.keywords, item.price, True, False)
                offers.append(make_offer(as_item, vendor, None))
        if not offers:
            raise TierFailedError("no curated examples")
        return SearchResult(CURATED, "examples", offers=offers)


class FailureTier:
    name = FAILURE

    async def run(self, request: SearchRequest) -> SearchResult:
        return SearchResult(FAILURE, "failure")
