"""Expectations on replies (and on the bot's read / typing events), and the error that explains a reply
that never came."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from easymo_qa.whatsapp.outbound import EVENT_KINDS, OutboundMessage
from easymo_qa.whatsapp.transcript import Transcript


@dataclass(frozen=True)
class Expectation:
    """What one reply must look like. Empty fields match anything.

    ``read`` / ``typing`` make it an expectation on an *event* instead: the bot marks the user's last
    message read (a typing indicator marks it read too), or shows the typing indicator. It matches events
    only, and a reply expectation never matches an event.
    """

    kind: str | None = None  # text | buttons | list | location | image ...
    text: str | None = None  # regex searched in what the user reads: text, button and row titles
    buttons: tuple[str, ...] = ()  # button ids that must all be present; "pay_momo:*" matches a prefix
    rows: tuple[str, ...] = ()  # list row ids that must all be present; "offer:*" matches a prefix
    not_text: str | None = None  # a regular expression that must NOT be found in the text
    read: bool = False  # the bot marks the message read (a read or typing event)
    typing: bool = False  # the bot shows the typing indicator (a typing event)
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    _forbidden: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.is_event and (self.kind or self.text or self.not_text or self.buttons or self.rows):
            raise ValueError("read / typing expect an event: no kind, text, not_text, buttons or rows")
        if self.text is not None:
            object.__setattr__(self, "_pattern", re.compile(self.text, re.IGNORECASE | re.DOTALL))
        if self.not_text is not None:
            object.__setattr__(self, "_forbidden", re.compile(self.not_text, re.IGNORECASE | re.DOTALL))

    @property
    def is_event(self) -> bool:
        return self.read or self.typing

    def matches(self, message: OutboundMessage) -> bool:
        if self.is_event or message.is_event:
            wanted = ("typing",) if self.typing else EVENT_KINDS
            return self.is_event and message.is_event and message.kind in wanted
        if self.kind and message.kind != self.kind:
            return False
        if self._pattern and not self._pattern.search(message.visible_text):
            return False
        if self._forbidden and self._forbidden.search(message.visible_text):
            return False
        if not all(_has_id(message.button_ids, b) for b in self.buttons):
            return False
        return all(_has_id(message.row_ids, r) for r in self.rows)

    def describe(self) -> str:
        if self.is_event:
            return "the bot shows the typing indicator" if self.typing else "the bot marks the message read"
        parts = [self.kind or "any message"]
        if self.text is not None:
            parts.append(f"text matching /{self.text}/")
        if self.buttons:
            parts.append(f"buttons {list(self.buttons)}")
        if self.rows:
            parts.append(f"rows {list(self.rows)}")
        if self.not_text is not None:
            parts.append(f"text NOT matching /{self.not_text}/")
        return " with ".join([parts[0], ", ".join(parts[1:])]) if len(parts) > 1 else parts[0]


def _has_id(ids: tuple[str, ...], wanted: str) -> bool:
    if wanted.endswith("*"):
        return any(i.startswith(wanted[:-1]) for i in ids)
    return wanted in ids


class ReplyError(AssertionError):
    """A reply check failed: says what was expected, what arrived, and shows the transcript."""

    def __init__(
        self,
        title: str,
        *,
        actor: str,
        expected: list[str],
        arrived: list[OutboundMessage],
        transcript: str,
        rejected: list[str] | None = None,
    ) -> None:
        self.title = title
        lines = [title, f"  user: {actor}", "  expected:"]
        lines += [f"    - {e}" for e in expected] or ["    - (nothing)"]
        lines.append("  arrived:")
        lines += [f"    - {m.summary()}" for m in arrived] or ["    - (nothing)"]
        if rejected:
            lines.append("  sent by the bot but rejected by the Graph API simulator:")
            lines += [f"    - {r}" for r in rejected]
        lines += ["  transcript:", *("    " + t for t in transcript.splitlines())]
        super().__init__("\n".join(lines))


def check_window(
    expectation: Expectation,
    message: OutboundMessage,
    start: float,
    window: tuple[float, float],
    *,
    actor: str,
    transcript: Transcript,
    since: str,
) -> None:
    """A reply that came, but outside its window (not before, not after ``start``), fails as surely as
    one that never came. ``since`` names what ``start`` is ("the action", "the message")."""
    low, high = window
    latency = message.received_at - start
    if low <= latency <= high:
        return
    expected = f"between {low:.3f} s and {high:.3f} s" if low else f"within {high:.3f} s"
    raise ReplyError(
        f"a reply arrived {'too late' if latency > high else 'too early'}: {latency:.3f} s after "
        f"{since}, expected {expected}",
        actor=actor,
        expected=[f"{expectation.describe()} {expected}"],
        arrived=[message],
        transcript=transcript.render(),
    )
