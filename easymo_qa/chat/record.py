"""A chat session written as a ``*.journey.yaml`` that the suite runs as-is (``easymo-qa chat --record``).

Every actor the session used, its steps in order, and every message any actor got as an expectation of
its kind, with button and row ids and a short regex of the text. Values that change from run to run are
never literals: a value a later step needs is captured where it first appears and named ``${…}`` after
that; the others are matched by their shape (``ORD-[A-Z0-9]{6}``, ``[\\d,]+``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from easymo_qa.chat.model import ChatActor, Received, Turn
from easymo_qa.chat.patterns import Token, find_tokens, id_capture, lead_in, render, substitute, text_capture
from easymo_qa.hygiene.message_parts import body_text
from easymo_qa.whatsapp.identity import Identity
from easymo_qa.whatsapp.outbound import OutboundMessage

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


@dataclass(frozen=True)
class Recording:
    """What the writer needs besides the session: the journey's name and title, and where it came from."""

    journey: str
    title: str
    origin: str  # one comment line: the command and the environment it was recorded against
    reply_budget_seconds: float = 1.0


def journey_name(path: Path) -> str:
    """``buyer_to_delivered`` for ``buyer_to_delivered.journey.yaml``, in the journey id's alphabet."""
    stem = path.name.removesuffix(".journey.yaml").removesuffix(".yaml")
    slug = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_")
    return slug or "recorded-chat"


def own_values(actors: dict[str, ChatActor]) -> dict[str, str]:
    """The run's own values (phones, BSUIDs, usernames) and the journey variables that name them."""
    values: dict[str, str] = {}
    for name, actor in actors.items():
        identity = Identity(actor.phone, actor.identity)
        values[actor.phone] = f"{name}.phone"
        values[identity.bsuid] = f"{name}.bsuid"
        if identity.username:
            values[identity.username] = f"{name}.username"
    return values


class _Writer:
    def __init__(self, actors: dict[str, ChatActor], turns: list[Turn], budget: float) -> None:
        self.actors, self.turns, self.budget = actors, turns, budget
        self.own = own_values(actors)
        self.known: dict[str, str] = {}  # value → variable, captured in an earlier step
        self.names: set[str] = set()
        self.later = self._values_used_later()

    # --- which values a later step needs ------------------------------------------------------------

    def _portions(self, message_text: str) -> list[tuple[str, list[Token]]]:
        """The lines of a message the text regex shows: the first, and a later one naming an id when the
        first names none (the id is what tells this conversation's message apart)."""
        lines = [line for line in message_text.split("\n") if line.strip()]
        if not lines:
            return []
        chosen = [lines[0]]
        if not any(t.own or "_id" in t.name for t in find_tokens(lines[0], self.own)):
            extra = next((ln for ln in lines[1:] if any("_id" in t.name for t in find_tokens(ln))), None)
            chosen += [extra] if extra else []
        return [(line, find_tokens(line, self.own)) for line in chosen]

    def _values_used_later(self) -> dict[str, int]:
        """Each bot value some later step shows or sends, with the index of the turn that first showed it."""
        first: dict[str, int] = {}
        used: dict[str, int] = {}
        for index, turn in enumerate(self.turns):
            for value in self._action_values(turn):
                if value in first and first[value] < index:
                    used.setdefault(value, first[value])
            for reply in turn.replies:
                message = reply.message
                shown = [t.value for _, tokens in self._portions(_main_text(message)) for t in tokens]
                shown += [t.value for i in (*message.button_ids, *message.row_ids) for t in find_tokens(i)]
                for value in shown:
                    if value in first and first[value] < index:
                        used.setdefault(value, first[value])
                everywhere = find_tokens(message.visible_text, self.own)
                everywhere += [t for i in (*message.button_ids, *message.row_ids) for t in find_tokens(i)]
                for token in everywhere:
                    if not token.own:
                        first.setdefault(token.value, index)
        return used

    def _action_values(self, turn: Turn) -> list[str]:
        if isinstance(turn.value, str):
            return [t.value for t in find_tokens(turn.value, self.own) if not t.own]
        return []

    # --- one step -------------------------------------------------------------------------------------

    def step(self, index: int, turn: Turn) -> list[str]:
        lines = [f"  - actor: {turn.actor}"]
        if turn.action == "share":
            latitude, longitude, place = turn.value  # type: ignore[misc]
            where = {"latitude": latitude, "longitude": longitude} | ({"name": place} if place else {})
            lines.append(f"    share: {_flow(where)}")
        elif turn.action == "send_media":
            lines.append(f"    send_media: {turn.value}")
        else:
            text = substitute(str(turn.value), find_tokens(str(turn.value), self.own), self.known)
            shown = json.dumps(text, ensure_ascii=False) if turn.action == "send" else _scalar(text)
            lines.append(f"    {turn.action}: {shown}")
        captured: dict[str, str] = {}
        replies = [reply for reply in turn.replies if not turn.idle(reply)]
        expectations = [self.expectation(turn, reply, index, captured) for reply in replies]
        self.known.update(captured)
        if len(expectations) == 1:
            lines.append(f"    expect: {_flow(expectations[0])}")
        elif expectations:
            lines.append("    expect:")
            lines += [f"      - {_flow(e)}" for e in expectations]
        idle = [reply for reply in turn.replies if turn.idle(reply)]
        if idle:
            lines += [
                "    # Left out: these came while the chat waited for you (a timer's messages, set off",
                "    # by your pace; a replay acts at once). To expect one: uncomment it, add after/within.",
            ]
        for reply in idle:
            after = (
                f"  # {reply.latency_ms / 1000:.1f} s after the action"
                if reply.latency_ms is not None
                else ""
            )
            lines.append(f"    #  - {_flow(self.expectation(turn, reply, index, {}, capture=False))}{after}")
        return lines

    def expectation(
        self, turn: Turn, reply: Received, index: int, captured: dict[str, str], capture: bool = True
    ) -> dict[str, Any]:
        message = reply.message
        expect: dict[str, Any] = {}
        if reply.actor != turn.actor:
            expect["to"] = reply.actor
        expect["kind"] = message.kind
        portions = []
        for line, tokens in self._portions(_main_text(message)):
            start, end = lead_in(line, tokens)
            portions.append(render(line[start:end], _shift(tokens, start, end), self.known))
        if any(portions):
            expect["text"] = ".*".join(p for p in portions if p)
        for field, ids in (("buttons", message.button_ids), ("rows", message.row_ids)):
            shown = [i for i in (self._tap_id(i) for i in ids) if i]
            if shown:
                expect[field] = shown
        captures = self._captures(message, index, captured) if capture else {}
        if captures:
            expect["capture"] = captures
        if capture and reply.latency_ms is not None and reply.latency_ms > 800 * self.budget:
            expect["within"] = min(300, max(2, math.ceil(reply.latency_ms / 500)))  # twice what it took, in s
        return expect

    def _tap_id(self, value: str) -> str:
        """A button or row id with known values as ``${…}``; an id holding a value not known yet is matched by
        the prefix before it (``pay_momo:*``)."""
        tokens = find_tokens(value, self.own)
        for token in tokens:
            if not token.own and token.value not in self.known:
                return value[: token.start] + "*" if token.start else ""
        return substitute(value, tokens, self.known)

    def _captures(
        self, message: OutboundMessage, index: int, captured: dict[str, str]
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        wanted = [v for v, first in self.later.items() if first == index and v not in self.known]
        for value in wanted:
            if value in captured:
                continue
            spec = text_capture(message.visible_text, value, self.own) or id_capture(message, value)
            if spec is None:
                continue
            name = self._name_for(value, message)
            captured[value] = name
            out[name] = spec
        return out

    def _name_for(self, value: str, message: OutboundMessage) -> str:
        tokens = [t for t in find_tokens(message.visible_text, self.own) if t.value == value]
        tokens += [
            t for i in (*message.button_ids, *message.row_ids) for t in find_tokens(i) if t.value == value
        ]
        base = tokens[0].name if tokens else "value"
        name, n = base, 2
        while name in self.names:
            name, n = f"{base}_{n}", n + 1
        self.names.add(name)
        return name


def _main_text(message: OutboundMessage) -> str:
    """What the text regex starts from: the body (not a brand header), else whatever text there is."""
    return body_text(message) or message.text


def _shift(tokens: list[Token], start: int, end: int) -> list[Token]:
    """The tokens inside ``[start, end)``, with positions relative to ``start``."""
    return [
        Token(t.start - start, t.end - start, t.value, t.shape, t.name, t.own)
        for t in tokens
        if t.start >= start and t.end <= end
    ]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _flow(value: Any) -> str:
    """A value as YAML flow style, the way the journeys of tests/e2e are written."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def _actor_line(actor: ChatActor) -> str:
    fields: dict[str, Any] = {"role": actor.role}
    if actor.seeded:
        fields["phone"] = actor.phone
    elif actor.display_name != "Test User":
        fields["name"] = actor.display_name
    if actor.identity != "phone":
        fields["identity"] = actor.identity
    comment = "   # seeded staff" if actor.seeded else "   # a fresh test number each run"
    return f"  {actor.name}: {_flow(fields)}{comment}"


def write_journey(path: Path, recording: Recording, actors: dict[str, ChatActor], turns: list[Turn]) -> int:
    """Write the session as a journey file; returns how many steps it has (turns with an action)."""
    writer = _Writer(actors, turns, recording.reply_budget_seconds)
    lines = [
        f"# {recording.origin}",
        "# Ids, amounts, codes and the run's numbers are captures and ${…} variables: it replays on any run.",
        f"journey: {recording.journey}",
        f"title: {json.dumps(recording.title, ensure_ascii=False)}",
        "actors:",
        *(_actor_line(actor) for actor in actors.values()),
        "steps:",
    ]
    for index, turn in enumerate(turns):
        lines += writer.step(index, turn)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(turns)
