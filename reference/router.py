"""The conversation: guards first (STOP / START / opt-out / home), then registered handlers, then defaults.

Handlers live in three registries so journeys can be added without touching this flow:
keywords (whole text message, case-insensitive), interactive ids (button or list row), and session
states (``state["key"]``, easyMO's ``chat_state`` shape ``{"key", "data"}``). A handler returns False
to decline, letting the defaults answer.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import defects
from . import messages as m
from .config import Settings
from .envelope import Inbound
from .graph_client import GraphClient
from .observability import (
    OPTED_IN,
    OPTED_OUT,
    REACTION_IGNORED,
    REPLY_SUPPRESSED,
    SESSION_EXPIRED,
    EventLog,
)
from .store import Contact, Store

STOP_WORDS = frozenset({"stop", "unsubscribe"})
START_WORD = "start"

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
        m.Row("vendor_hub", "🏪 My shop"),
        m.Row("station_hub", "⛽ Station orders"),
        m.Row("driver_hub", "🛵 Deliveries"),
        m.Row("support_help", "🆘 Help & support"),
    ],
)
_GREETING = "✨ Hello {name}! What would you like to do today?"


@dataclass
class Turn:
    """One inbound message being answered: who, what, the session state, and how to reply."""

    inbound: Inbound
    contact: Contact | None
    state: dict[str, Any]
    graph: GraphClient
    replies: int = 0

    @property
    def phone(self) -> str:
        return self.inbound.phone

    @property
    def display_name(self) -> str:
        name = self.inbound.profile_name or (self.contact.name if self.contact else None)
        return name or "there"

    async def send(self, message: dict[str, Any]) -> None:
        await self.graph.send(message, correlation_id=self.inbound.correlation_id)
        self.replies += 1

    async def text(self, body: str) -> None:
        await self.send(m.text(self.phone, body))

    async def buttons(self, body: str, choices: list[m.Button]) -> None:
        await self.send(m.buttons(self.phone, body, choices))


Handler = Callable[[Turn], Awaitable[bool | None]]


class Router:
    def __init__(self, settings: Settings, store: Store, events: EventLog, graph: GraphClient) -> None:
        self._settings = settings
        self._store = store
        self._events = events
        self._graph = graph
        self._keywords: dict[str, Handler] = {}
        self._ids: dict[str, Handler] = {}
        self._states: dict[str, Handler] = {}
        for word in ("home", "menu"):
            self.on_keyword(word, home)
        self.on_id(m.BACK_HOME_ID, home)

    def on_keyword(self, word: str, handler: Handler) -> None:
        self._keywords[word.casefold()] = handler

    def on_id(self, interactive_id: str, handler: Handler) -> None:
        self._ids[interactive_id] = handler

    def on_state(self, key: str, handler: Handler) -> None:
        self._states[key] = handler

    async def handle(self, inbound: Inbound) -> int:
        """Answer one message; return how many replies were sent."""
        contact = self._remember(inbound)
        word = (inbound.text or "").strip().casefold()
        enforce_optout = not self._settings.has_defect(defects.OPTOUT_IGNORED)
        opted_out = contact is not None and contact.opted_out

        if word == START_WORD:
            return await self._opt_in(inbound, contact)
        if opted_out and enforce_optout:
            self._events.record(inbound.correlation_id, REPLY_SUPPRESSED, inbound.phone, reason="opted_out")
            return 0
        if word in STOP_WORDS:
            return await self._opt_out(inbound, contact)
        if inbound.type == "reaction":
            self._events.record(inbound.correlation_id, REACTION_IGNORED, inbound.phone)
            return 0

        state = self._load_state(inbound)
        turn = Turn(inbound, contact, dict(state), self._graph)
        await self._route(turn, word)
        self._save_state(inbound.phone, state, turn.state)
        return turn.replies

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
        if keyword is not None and await keyword(turn) is not False:
            return
        choice = inbound.interactive_id
        by_id = self._ids.get(choice) if choice else None
        if by_id is not None and await by_id(turn) is not False:
            return
        by_state = self._states.get(str(turn.state.get("key", "")))
        if by_state is not None and await by_state(turn) is not False:
            return
        await _default(turn)

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
        if time.time() - session.updated_at > self._settings.session_ttl_seconds:
            self._store.clear_session(inbound.phone)
            self._events.record(
                inbound.correlation_id, SESSION_EXPIRED, inbound.phone, key=session.state.get("key")
            )
            return {}
        return session.state

    def _save_state(self, phone: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        # A live state is re-saved on every message: the TTL counts silence, not age.
        if after:
            self._store.save_session(phone, after)
        elif before:
            self._store.clear_session(phone)


async def home(turn: Turn) -> None:
    """The home menu; it also ends whatever journey was in progress."""
    turn.state.clear()
    fixed = len(_GREETING.format(name=""))
    name = m.truncate(turn.display_name, m.BODY_MAX - fixed)
    await turn.send(
        m.list_message(turn.phone, _GREETING.format(name=name), "Open", [HOME_SECTION], header="easyMO")
    )


async def _default(turn: Turn) -> None:
    """What a message gets when no keyword, id or state handler took it."""
    inbound = turn.inbound
    if inbound.type == "text":
        await home(turn)
    elif inbound.interactive_id is not None:
        await turn.buttons(NOT_AVAILABLE_TEXT, [m.HOME_BUTTON])
    elif inbound.location is not None:
        await turn.buttons(LOCATION_TEXT, [m.HOME_BUTTON])
    else:
        # Media, invalid locations, and kinds easyMO never handled (contacts, order, unsupported...).
        await turn.buttons(UNSUPPORTED_TEXT, [m.HOME_BUTTON])
