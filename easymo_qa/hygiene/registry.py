"""Hygiene rules as named checks on a registry object, and the violations they find."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from easymo_qa.whatsapp.outbound import OutboundMessage

Check = Callable[[OutboundMessage], Iterator[tuple[str, str]]]  # yields (where, what) for each problem


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Check


@dataclass(frozen=True)
class Violation:
    """One rule broken by one message: where in the message, and what exactly."""

    rule: str
    description: str
    where: str  # body, button title, row id ...
    detail: str
    to: str
    seq: int
    message: str  # the message's one-line summary

    def line(self) -> str:
        return f"[{self.rule}] {self.detail} (in the {self.where}) — to {self.to}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Registry(dict[str, Rule]):
    """Rules by name, in the order they were registered (the order reports list them)."""

    def rule(self, name: str, description: str) -> Callable[[Check], Check]:
        """Register a check: a generator of ``(where, what)`` for each problem it finds in a message."""

        def register(check: Check) -> Check:
            if name in self:
                raise ValueError(f"hygiene rule {name!r} is registered twice")
            self[name] = Rule(name, description, check)
            return check

        return register

    def check(self, message: OutboundMessage) -> list[Violation]:
        """Every violation of every rule in one message the bot sent."""
        summary = message.summary()
        return [
            Violation(r.name, r.description, where, detail, message.to, message.seq, summary)
            for r in self.values()
            for where, detail in r.check(message)
        ]
