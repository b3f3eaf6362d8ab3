"""The support agent (FAQ, escalation to a person with a ticket) and the admin agent (today's metrics)."""

from __future__ import annotations

import sqlite3
import time

from .. import defects
from .. import messages as m
from ..context import Context, today_start
from ..flags import ADMIN, SUPPORT
from ..observability import TICKET_CREATED
from ..orders import DELIVERED, PAID, new_id
from ..router import Router, Turn
from ..texts import ADMIN_DENIED, HELP, money, ticket

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY,
    phone TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    correlation_id TEXT NOT NULL
);
"""


class SupportAgent:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        ctx.store.install(SCHEMA)

    def register(self, router: Router) -> None:
        router.on_id("support_help", self.help, SUPPORT)
        router.on_keyword("help", self.help, SUPPORT)
        router.on_id("sup_human", self.escalate, SUPPORT)

    async def help(self, turn: Turn) -> None:
        # The real easyMO once shipped the key itself when a translation was missing.
        body = "agent.not_available" if self._ctx.has_defect(defects.RAW_I18N_KEY) else HELP
        await turn.buttons(body, [m.Button("sup_human", "🙋 Talk to a person"), m.HOME_BUTTON])

    async def escalate(self, turn: Turn) -> None:
        if self._ctx.has_defect(defects.TICKET_NOT_CREATED):
            await turn.buttons(ticket(None), [m.HOME_BUTTON])
            return
        while True:
            ticket_id = new_id("SUP")
            try:
                self._ctx.store.execute(
                    "INSERT INTO tickets (id, phone, status, created_at, correlation_id) "
                    "VALUES (?, ?, 'open', ?, ?)",
                    (ticket_id, turn.phone, time.time(), turn.correlation_id),
                )
                break
            except sqlite3.IntegrityError:
                continue
        self._ctx.events.record(turn.correlation_id, TICKET_CREATED, turn.phone, ticket_id=ticket_id)
        await turn.buttons(ticket(ticket_id), [m.HOME_BUTTON])


class AdminAgent:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def register(self, router: Router) -> None:
        router.on_keyword("/metrics", self.metrics, ADMIN)
        router.on_id("admin_metrics", self.metrics, ADMIN)

    async def metrics(self, turn: Turn) -> None:
        anyone = self._ctx.has_defect(defects.ADMIN_CHECK_SKIPPED)
        if not self._ctx.seed.is_admin(turn.phone) and not anyone:
            await turn.buttons(ADMIN_DENIED, [m.HOME_BUTTON])
            return
        await turn.text(self.summary())

    def summary(self) -> str:
        ctx, since = self._ctx, today_start()
        created = ctx.orders.since(since)
        paid = set(ctx.orders.reached_since(PAID, since))
        delivered = ctx.orders.reached_since(DELIVERED, since)
        revenue = sum(o.total for o in created if o.id in paid and o.state != "rejected")
        row = ctx.store.fetchone(
            "SELECT SUM(name = 'agent_called') AS searches, "
            "COUNT(DISTINCT CASE WHEN name = 'fallback_triggered' THEN correlation_id END) AS fallbacks "
            "FROM events WHERE ts >= ? AND name IN "
            "('agent_called', 'fallback_triggered') AND json_extract(data, '$.agent') = 'buyer' "
            "AND (name = 'fallback_triggered' OR json_extract(data, '$.tier') != 'rules')",
            (since,),
        )
        searches = int(row["searches"] or 0) if row else 0
        fallbacks = int(row["fallbacks"] or 0) if row else 0
        rate = (
            f"{fallbacks / searches:.0%} ({fallbacks} of {searches} searches)"
            if searches
            else "n/a (no searches)"
        )
        return (
            f"📊 Today:\n• Orders: {len(created)}\n• Paid: {len(paid)}\n• Delivered: {len(delivered)}\n"
            f"• Revenue: {money(revenue)}\n• Fallback rate: {rate}"
        )
