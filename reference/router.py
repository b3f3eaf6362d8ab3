"""The conversation: guards first (STOP / START / opt-out / rate limit), then registered handlers.

Handlers live in registries so journeys are added without touching this flow: keywords (whole text
message, case-insensitive), interactive ids (exact, or a prefix such as ``offer:`` for ``offer:<item>``),
session states (``state["key"]``, easyMO's ``chat_state`` shape ``{"key", "data"}``) and one handler for
any other free text (the buyer agent). Each route names the agent it belongs to; the feature flags decide
per user whether that agent answers. An agent that is off gets the legacy flow: its ids answer "not
available yet", its keywords, states and free text fall through to the home menu. A handler returns False
to decline, letting the next registry (or the defaults) answer.
"""

from __future__ import annotations

import asyncio
import re
import time
import traceback
from collections.abc import Callable
from typing import Any

from . import defects
from . import messages as m
from .config import Settings
from .envelope import Inbound
from .flags import MARKETPLACE
from .graph_client import GraphClient
from .observability import (
    AGENT_CALLED,
    AGENT_DISABLED,
    MESSAGE_DEFERRED,
    OPTED_IN,
    OPTED_OUT,
    RATE_LIMITED,
    REACTION_IGNORED,
    REPLY_SUPPRESSED,
    SESSION_EXPIRED,
    EventLog,
)
from .ratelimit import RateLimiter
from .store import Contact, Store
from .texts import RATE_LIMITED as RATE_LIMITED_TEXT
from .turn import Handler, Route, Turn

__all__ = ["GREETINGS", "HOME_SECTION", "Handler", "Route", "Router", "Turn", "home"]

STOP_WORDS = frozenset({"stop", "unsubscribe"})
START_WORD = "start"
GREETINGS = ("hi", "hello", "hey", "muraho", "bonjour", "salut")
FRENCH_GREETINGS = ("bonjour", "salut")
FRENCH_WELCOME_HEADER = "easyMO — Bienvenue ! Commandez, payez et faites-vous livrer en un message"

OPTED_OUT_TEXT = "You're opted out of easyMO messages. Reply START to opt back in."
OPTED_IN_TEXT = "Welcome back! You're opted in again."
NOT_AVAILABLE_TEXT = "That option isn't available yet. What next?"
LOCATION_TEXT = "📍 Thanks, location received. What next?"
UNSUPPORTED_TEXT = "😔 Sorry, I can't read that kind of message yet. Please type what you need."
APOLOGY_TEXT = "😔 Sorry, something went wrong on our side. Please try again in a moment."

HOME_SECTION = m.Section(
    "Services",
    [
        m.Row("buyer_search", "🛒 Order something"),
        m.Row("my_orders", "📦 My orders"),
        m.Row("my_wallet", "💳 Wallet"),
        m.Row("vendor_hub", "🏪 My shop"),
        m.Row("station_hub", "⛽ Station orders"),
        m.Row("driver_hub", "🛵 Deliveries"),
        m.Row("support_help", "🆘 Help"),
    ],
)
_GREETING = "✨ Hello {name}! What would you like to do today?"


class Router:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        events: EventLog,
        graph: GraphClient,
        *,
        exempt_from_rate_limit: Callable[[str], bool] = lambda phone: False,
    ) -> None:
        self._settings = settings
        self._store = store
        self._events = events
        self._graph = graph
        self._limiter = RateLimiter(
            settings.rate_limit_per_user, settings.rate_limit_window_seconds, exempt=exempt_from_rate_limit
        )
        self._keywords: dict[str, Route] = {}
        self._ids: dict[str, Route] = {}
        self._prefixes: dict[str, Route] = {}
        self._states: dict[str, Route] = {}
        self._patterns: list[tuple[re.Pattern[str], Route]] = []
        self._text: Route | None = None
        for word in ("home", "menu", *GREETINGS):
            self.on_keyword(word, home)
        if settings.has_defect(defects.FRENCH_HEADER_TOO_LONG):
            for word in FRENCH_GREETINGS:
                self.on_keyword(word, _home_with_french_header)
        self.on_id(m.BACK_HOME_ID, home)

    def on_keyword(self, word: str, handler: Handler, agent: str | None = None) -> None:
        self._keywords[word.casefold()] = Route(handler, agent)

    def on_id(self, interactive_id: str, handler: Handler, agent: str | None = None) -> None:
        self._ids[interactive_id] = Route(handler, agent)

    def on_prefix(self, prefix: str, handler: Handler, agent: str | None = None) -> None:
        """Ids of the form ``<prefix>:<argument>``; ``prefix`` is given without the colon."""
        self._prefixes[prefix] = Route(handler, agent)

    def on_pattern(self, pattern: str, handler: Handler, agent: str | None = None) -> None:
        """Text matching ``pattern`` (whole message, case-insensitive), whatever the session state: a
        vendor's ``Q-XXXXXX 4500`` quote may come in the middle of another conversation."""
        self._patterns.append((re.compile(pattern, re.IGNORECASE), Route(handler, agent)))

    def on_state(self, key: str, handler: Handler, agent: str | None = None) -> None:
        self._states[key] = Route(handler, agent)

    def on_text(self, handler: Handler, agent: str) -> None:
        """Free text no keyword or state took (the buyer agent); it records its own agent_called."""
        self._text = Route(handler, agent, records=False)

    async def handle(self, inbound: Inbound) -> int:
        """Answer one message; return how many replies were sent."""
        contact = self._remember(inbound)
        word = (inbound.text or "").strip()
        if not self._settings.has_defect(defects.KEYWORDS_CASE_SENSITIVE):
            word = word.casefold()
        enforce_optout = not self._settings.has_defect(defects.OPTOUT_IGNORED)
        opted_out = contact is not None and contact.opted_out

        if word == START_WORD:
            return await self._opt_in(inbound, contact)
        if opted_out and enforce_optout:
            self._events.record(inbound.correlation_id, REPLY_SUPPRESSED, inbound.phone, reason="opted_out")
            return 0
        if word in STOP_WORDS:
            return await self._opt_out(inbound, contact)
        if inbound.type == "reaction" and not self._settings.has_defect(defects.REACTION_ANSWERED):
            self._events.record(inbound.correlation_id, REACTION_IGNORED, inbound.phone)
            return 0
        notices, dropped = await self._wait_for_rate_limit(inbound, contact)
        if dropped:  # the rate_limit_drops_messages defect: the message is gone
            return notices

        state = self._load_state(inbound)
        turn = Turn(inbound, contact, dict(state), self._graph)
        await self._route(turn, word)
        self._save_state(inbound.phone, state, turn.state)
        return turn.replies + notices

    async def apologise(self, inbound: Inbound) -> None:
        """A friendly reply after an internal error (never the error itself), unless opted out."""
        contact = self._store.get_contact(inbound.phone)
        if (
            contact is not None
            and contact.opted_out
            and not self._settings.has_defect(defects.OPTOUT_IGNORED)
        ):
            return
        await Turn(inbound, contact, {}, self._graph).buttons(APOLOGY_TEXT, [m.HOME_BUTTON])

    async def _route(self, turn: Turn, word: str) -> None:
        inbound = turn.inbound
        keyword = self._keywords.get(word) if word else None
        if keyword is not None and await self._run(turn, keyword):
            return
        if inbound.type == "text" and self._patterns:
            text = (inbound.text or "").strip()
            for pattern, route in self._patterns:
                if pattern.fullmatch(text) and await self._run(turn, route):
                    return
        choice = inbound.interactive_id
        if choice:
            by_id = self._ids.get(choice) or self._prefixes.get(
                choice.partition(":")[0] if ":" in choice else ""
            )
            if by_id is not None:
                if not self._allowed(turn, by_id):
                    await turn.buttons(NOT_AVAILABLE_TEXT, [m.HOME_BUTTON])  # the legacy answer
                    return
                if await self._run(turn, by_id):
                    return
        by_state = self._states.get(str(turn.state.get("key", "")))
        if by_state is not None and await self._run(turn, by_state):
            return
        if inbound.type == "text" and self._text is not None and await self._run(turn, self._text):
            return
        await _default(turn, leak_traces=self._settings.has_defect(defects.STACK_TRACE_LEAK))

    def _allowed(self, turn: Turn, route: Route) -> bool:
        if route.agent is None:
            return True
        force = route.agent == MARKETPLACE and self._settings.has_defect(defects.MARKETPLACE_AGENT_ON)
        ignores = (
            ("ai_agents", defects.AI_AGENTS_FLAG_IGNORED),
            ("agent", defects.AGENT_FLAGS_IGNORED),
            ("rollout_salt", defects.ROLLOUT_HASH_UNSALTED),
        )
        ignored = {flag for flag, defect in ignores if self._settings.has_defect(defect)}
        decision = self._settings.flags.decide(route.agent, turn.phone, force_on=force, ignored=ignored)
        if not decision.enabled:
            self._events.record(
                turn.correlation_id, AGENT_DISABLED, turn.phone, agent=route.agent, reason=decision.reason
            )
        return decision.enabled

    async def _run(self, turn: Turn, route: Route) -> bool:
        """Call the handler if its agent answers this user; True when it handled the message."""
        if not self._allowed(turn, route):
            return False
        if route.agent is not None and route.records:
            self._events.record(
                turn.correlation_id, AGENT_CALLED, turn.phone, agent=route.agent, tier="rules"
            )
        return await route.handler(turn) is not False

    async def _wait_for_rate_limit(self, inbound: Inbound, contact: Contact | None) -> tuple[int, bool]:
        """Defer the message until the user's window allows it: the notices sent (0 or 1), and whether
        the message was dropped instead (only with the ``rate_limit_drops_messages`` defect)."""
        sent = 0
        drops = self._settings.has_defect(defects.RATE_LIMIT_DROPS_MESSAGES)
        while True:
            verdict = self._limiter.check(inbound.phone)
            if verdict.allowed:
                return sent, False
            if verdict.notify:
                settings = self._settings
                self._events.record(
                    inbound.correlation_id, RATE_LIMITED, inbound.phone,
                    limit=settings.rate_limit_per_user, window_s=settings.rate_limit_window_seconds,
                )  # fmt: skip
                turn = Turn(inbound, contact, {}, self._graph)
                await turn.text(RATE_LIMITED_TEXT)
                sent += turn.replies
            if drops:
                return sent, True
            self._events.record(
                inbound.correlation_id, MESSAGE_DEFERRED, inbound.phone, wait_s=round(verdict.retry_after, 3)
            )
            await asyncio.sleep(verdict.retry_after + 0.001)

    async def _opt_out(self, inbound: Inbound, contact: Contact | None) -> int:
        self._store.set_opted_out(inbound.phone, True)
        self._store.clear_session(inbound.phone)
        self._events.record(inbound.correlation_id, OPTED_OUT, inbound.phone)
        turn = Turn(inbound, contact, {}, self._graph)
        await turn.text(OPTED_OUT_TEXT)
        return turn.replies

    async def _opt_in(self, inbound: Inbound, contact: Contact | None) -> int:
        self._store.set_opted_out(inbound.phone, False)
        self._store.clear_session(inbound.phone)
        self._events.record(inbound.correlation_id, OPTED_IN, inbound.phone)
        turn = Turn(inbound, contact, {}, self._graph)
        await turn.text(OPTED_IN_TEXT)
        await home(turn)
        return turn.replies

    def _remember(self, inbound: Inbound) -> Contact | None:
        contact = self._store.get_contact(inbound.phone)
        name = inbound.profile_name
        if name and (contact is None or contact.name != name):
            self._store.save_name(inbound.phone, name)
        return contact

    def _load_state(self, inbound: Inbound) -> dict[str, Any]:
        session = self._store.load_session(inbound.phone)
        if session is None:
            return {}
        expired = time.time() - session.updated_at > self._settings.session_ttl_seconds
        if expired and not self._settings.has_defect(defects.SESSION_NEVER_EXPIRES):
            self._store.clear_session(inbound.phone)
            self._events.record(
                inbound.correlation_id, SESSION_EXPIRED, inbound.phone, key=session.state.get("key")
            )
            return {}
        return session.state

    def _save_state(self, phone: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        # A live state is re-saved on every message: the TTL counts silence, not age.
        if after == before and self._settings.has_defect(defects.SESSION_TTL_COUNTS_AGE):
            return
        if after:
            self._store.save_session(phone, after)
        elif before:
            self._store.clear_session(phone)


async def home(turn: Turn) -> None:
    """The home menu; it also ends whatever journey was in progress."""
    turn.state.clear()
    await turn.send(_home_menu(turn))


def _home_menu(turn: Turn) -> dict[str, Any]:
    fixed = len(_GREETING.format(name=""))
    name = m.truncate(turn.display_name, m.BODY_MAX - fixed)
    return m.list_message(turn.phone, _GREETING.format(name=name), "Open", [HOME_SECTION], header="easyMO")


async def _home_with_french_header(turn: Turn) -> None:
    """The french_header_too_long defect: a translated header set after the builder's truncation."""
    turn.state.clear()
    message = _home_menu(turn)
    message["interactive"]["header"]["text"] = FRENCH_WELCOME_HEADER
    await turn.send(message)


async def _default(turn: Turn, *, leak_traces: bool = False) -> None:
    """What a message gets when no keyword, id or state handler took it."""
    inbound = turn.inbound
    if inbound.type == "text":
        await home(turn)
    elif inbound.interactive_id is not None:
        if leak_traces:  # the defect: the handler lookup's KeyError, formatted for the user
            await turn.buttons(_traceback_of_unknown(inbound.interactive_id), [m.HOME_BUTTON])
            return
        await turn.buttons(NOT_AVAILABLE_TEXT, [m.HOME_BUTTON])
    elif inbound.location is not None:
        await turn.buttons(LOCATION_TEXT, [m.HOME_BUTTON])
    else:
        # Media, invalid locations, and kinds easyMO never handled (contacts, order, unsupported...).
        await turn.buttons(UNSUPPORTED_TEXT, [m.HOME_BUTTON])


def _traceback_of_unknown(interactive_id: str) -> str:
    try:
        {}[interactive_id]
    except KeyError:
        return m.truncate(traceback.format_exc(), m.BODY_MAX)
    return NOT_AVAILABLE_TEXT
