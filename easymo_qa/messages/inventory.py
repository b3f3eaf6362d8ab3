"""The inventory: every distinct message the bot sent in a run, normalised, with where it was first seen.

A *sighting* is one message as one test received it (a plain dict, so it travels from xdist workers with
the test report); the :class:`Inventory` folds sightings into entries by their key (kind, normalised
text, buttons and rows), counting them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from easymo_qa.messages.normalise import RunValues, emojis, message_key, normalise_id, normalise_text
from easymo_qa.whatsapp.outbound import OutboundMessage

SCHEMA = "easymo-qa/messages/v1"
# Tap-id prefixes of the agents (the reference's and easyMO's): a generic "user" gets the agent they name.
_AGENT_PREFIXES = (
    ("drv_", "driver"),
    ("st_", "station"),
    ("vnd_", "vendor"),
    ("sup_", "support"),
    ("support_", "support"),
    ("quote_", "vendor"),
    ("wallet_", "buyer"),
    ("pay_", "buyer"),
    ("offer:", "buyer"),
    ("buyer_", "buyer"),
)
GENERIC_AGENT = "any user"


@dataclass
class Entry:
    """One distinct message of the inventory."""

    key: str
    agent: str
    screen: str
    kind: str
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    emoji: list[str] = field(default_factory=list)
    length: int = 0  # the longest text seen, before normalisation (WhatsApp caps a body at 1024 / 4096)
    count: int = 0
    findings: list[str] = field(default_factory=list)  # hygiene violations, "rule: detail"
    first_test: str = ""
    agents: list[str] = field(default_factory=list)  # every agent it was sent as

    @property
    def tap_ids(self) -> tuple[str, ...]:
        return tuple(b["id"] for b in self.buttons) + tuple(r["id"] for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def agent_of(role: str, tap_ids: Sequence[str]) -> str:
    """The agent a message belongs to: its recipient's role, or for a generic user what its ids name."""
    role = role.rstrip("0123456789_- ") or "user"
    if role != "user":
        return role
    for tap_id in tap_ids:
        for prefix, agent in _AGENT_PREFIXES:
            if tap_id.startswith(prefix):
                return agent
    return GENERIC_AGENT


def _rows(message: OutboundMessage) -> list[dict[str, Any]]:
    action = ((message.body.get("interactive") or {}).get("action")) or {}
    return [r for section in action.get("sections") or [] for r in section.get("rows") or []]


def sighting(
    message: OutboundMessage,
    *,
    values: RunValues,
    role: str,
    screen: str,
    test: str,
    findings: Iterable[str] = (),
) -> dict[str, Any]:
    """One message as one test received it, normalised: the unit that travels with a test report."""
    text = normalise_text(message.text, values)
    buttons = [
        {"id": normalise_id(i, values), "title": normalise_text(t, values)}
        for i, t in zip(message.button_ids, message.button_titles, strict=False)
    ]
    rows = []
    for row in _rows(message):
        shown = {
            "id": normalise_id(str(row.get("id", "")), values),
            "title": normalise_text(str(row.get("title", "")), values),
        }
        if row.get("description"):
            shown["description"] = normalise_text(str(row["description"]), values)
        rows.append(shown)
    return {
        "key": message_key(message.kind, text, buttons, rows),
        "agent": agent_of(role, [*message.button_ids, *message.row_ids, screen.removeprefix("tapped ")]),
        "screen": screen,
        "kind": message.kind,
        "text": text,
        "buttons": buttons,
        "rows": rows,
        "emoji": emojis(message.visible_text),
        "length": len(message.text),
        "findings": sorted(set(findings)),
        "test": test,
    }


def _rank(agent: str, screen: str, test: str) -> tuple[bool, str, str, str]:
    return (agent == GENERIC_AGENT, test, agent, screen)


class Inventory:
    """Distinct messages by key, in the order they were first seen."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, seen: dict[str, Any]) -> None:
        """Count one sighting. Where several tests sent a message, its agent, screen and first test are
        those of the first test by id (a named agent before a generic user): the same whatever order
        xdist workers report in, so the approved file does not churn."""
        entry = self.entries.get(seen["key"])
        test = seen.get("test") or seen.get("first_test", "")
        if entry is None:
            fields = {k: v for k, v in seen.items() if k in Entry.__dataclass_fields__}
            fields |= {"count": 0, "agents": [], "first_test": test}
            entry = self.entries[seen["key"]] = Entry(**fields)
        elif _rank(seen["agent"], seen["screen"], test) < _rank(entry.agent, entry.screen, entry.first_test):
            entry.agent, entry.screen, entry.first_test = seen["agent"], seen["screen"], test
        entry.count += int(seen.get("count", 1))
        entry.length = max(entry.length, int(seen.get("length", 0)))
        entry.findings = sorted(set(entry.findings) | set(seen.get("findings", ())))
        entry.agents = sorted({*entry.agents, seen["agent"], *seen.get("agents", ())})

    def merge(self, other: Inventory) -> None:
        for entry in other.entries.values():
            self.add({**entry.to_dict(), "test": entry.first_test})  # count and agents carry over

    def sorted(self) -> list[Entry]:
        """By agent, screen, then text: how the reports and the approved file list them."""
        return sorted(self.entries.values(), key=lambda e: (e.agent, e.screen, e.text, e.key))

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "messages": [e.to_dict() for e in self.sorted()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Inventory:
        """The inverse of :meth:`to_dict` (``reports/messages.json``); a wrong schema is a ValueError."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            schema = data.get("schema") if isinstance(data, dict) else None
            raise ValueError(f"schema is {schema!r}, not {SCHEMA!r}")
        inventory = cls()
        for item in data.get("messages", []):
            entry = Entry.from_dict(item)
            inventory.entries[entry.key] = entry
        return inventory
