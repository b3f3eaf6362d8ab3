"""One inbound message being answered (a :class:`Turn`), and a registered handler (a :class:`Route`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import messages as m
from .envelope import Inbound
from .graph_client import GraphClient
from .store import Contact


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
    def correlation_id(self) -> str:
        return self.inbound.correlation_id

    @property
    def arg(self) -> str:
        """What follows the first ``:`` of the tapped id (``offer:abc`` → ``abc``), else ""."""
        return (self.inbound.interactive_id or "").partition(":")[2]

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

    async def rows(self, body: str, button: str, rows: list[m.Row], title: str = "") -> None:
        await self.send(m.list_message(self.phone, body, button, [m.Section(title, rows)]))


Handler = Callable[[Turn], Awaitable[bool | None]]


@dataclass(frozen=True)
class Route:
    handler: Handler
    agent: str | None = None  # None: always answered (guards, home)
    records: bool = True  # record agent_called (the buyer search records its own, with its tier)
