"""The parts of a bot message that change from run to run, and regexes that read like a person wrote them.

A recorded journey must replay on another run: generated ids (``ORD-7F3K2Q``), amounts, codes, times and
the run's own numbers are found here as :class:`Token` s, each with the regex of any value of its kind
(its *shape*) and a variable name a reader understands (``order_id``, ``total``, ``code``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from easymo_qa.whatsapp.outbound import OutboundMessage

# Only the characters a regex reads specially; spaces, dashes and '#' stay as they are, for readability.
_SPECIAL = re.compile(r"([\\.^$*+?{}\[\]|()])")
_ID = re.compile(r"\b([A-Z]{1,4})-([A-Z0-9]{4,})\b")
_AMOUNT = re.compile(r"(?<![\d,.])(\d{1,3}(?:,\d{3})+|\d+)(?= ?(?:RWF|FRW)\b)")
_TIME = re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?::\d{2})?(?![\d:])")
_DATE = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)")
_CODE = re.compile(r"(?<![\d:-])(?<!\d[,.])\d{4,8}(?![\d:]|[,.]\d)")
_LABEL = re.compile(r"([A-Za-z]+)\s*:\s*$")
_DANGLING = {
    "a",
    "an",
    "and",
    "at",
    "by",
    "for",
    "in",
    "is",
    "of",
    "on",
    "or",
    "the",
    "to",
    "with",
    "your",
    "",
}
ID_NAMES = {"ORD": "order_id", "Q": "quote_id", "QR": "quote_id", "TX": "payment_id", "PAY": "payment_id"}


@dataclass(frozen=True)
class Token:
    """A run-specific value inside a text: where it is, its value, the regex of its kind and a name."""

    start: int
    end: int
    value: str
    shape: str  # regex matching any value of this kind
    name: str  # the variable name it would get
    own: bool = False  # one of the run's own values (an actor's phone): always ``${name}``


def escape(text: str) -> str:
    """``text`` as a regex matching itself, escaping only what a regex reads specially."""
    return _SPECIAL.sub(r"\\\1", text)


def _label(text: str, start: int, default: str) -> str:
    """``total`` for ``Total: 6,500 RWF``: the word before a colon just before the value."""
    match = _LABEL.search(text[:start])
    return match.group(1).lower() if match else default


def find_tokens(text: str, own: dict[str, str] | None = None) -> list[Token]:
    """The run-specific values in ``text``, left to right, never overlapping.

    ``own`` maps the run's own values (actors' phones, BSUIDs, usernames) to their variable names.
    """
    found: list[Token] = []

    def free(start: int, end: int) -> bool:
        return all(end <= t.start or start >= t.end for t in found)

    for value, name in sorted((own or {}).items(), key=lambda item: -len(item[0])):
        for match in re.finditer(re.escape(value), text):
            if value and free(match.start(), match.end()):
                found.append(Token(match.start(), match.end(), value, "", name, own=True))
    for match in _ID.finditer(text):
        prefix, rest = match.groups()
        name = ID_NAMES.get(prefix, f"{prefix.lower()}_id")
        shape = f"{escape(prefix)}-[A-Z0-9]{{{len(rest)}}}"
        if free(match.start(), match.end()):
            found.append(Token(match.start(), match.end(), match.group(0), shape, name))
    kinds = (
        (_AMOUNT, r"[\d,]+", "amount"),
        (_DATE, r"\d{4}-\d{2}-\d{2}", "date"),
        (_TIME, r"\d{1,2}:\d{2}", "time"),
        (_CODE, None, "code"),
    )
    for pattern, shape, default in kinds:
        for match in pattern.finditer(text):
            if not free(match.start(), match.end()):
                continue
            value = match.group(0)
            if pattern is _TIME and value.count(":") == 2:
                shape_of = r"\d{1,2}:\d{2}:\d{2}"
            else:
                shape_of = shape or rf"\d{{{len(value)}}}"
            name = _label(text, match.start(), default)
            found.append(Token(match.start(), match.end(), value, shape_of, name))
    return sorted(found, key=lambda t: t.start)


def render(text: str, tokens: list[Token], known: dict[str, str]) -> str:
    """``text`` as a regex: literals escaped, a value with a variable as ``${name}``, others by shape.

    ``known`` maps values captured earlier in the journey to their variable names.
    """
    out, at = [], 0
    for token in tokens:
        out.append(escape(text[at : token.start]))
        if token.own:
            out.append(f"${{{token.name}}}")
        elif token.value in known:
            out.append(f"${{{known[token.value]}}}")
        else:
            out.append(token.shape)
        at = token.end
    out.append(escape(text[at:]))
    return "".join(out)


def substitute(text: str, tokens: list[Token], known: dict[str, str]) -> str:
    """``text`` with every value that has a variable written ``${name}`` (for what a user sends or taps)."""
    out, at = [], 0
    for token in tokens:
        if token.own or token.value in known:
            out.append(text[at : token.start])
            out.append(f"${{{token.name if token.own else known[token.value]}}}")
            at = token.end
    out.append(text[at:])
    return "".join(out)


def lead_in(line: str, tokens: list[Token], limit: int = 56) -> tuple[int, int]:
    """The span of ``line`` worth matching: from its first letter or digit (after a leading emoji), up to
    ``limit`` characters, cut at a sentence end or a word boundary, never inside a token; no trailing
    full stop (a regex search needs none)."""
    start = 0
    while start < len(line) and not line[start].isalnum() and not any(t.start == start for t in tokens):
        start += 1
    end = len(line.rstrip())
    while end > start and line[end - 1] in ".!?:;," and not any(t.end == end for t in tokens):
        end -= 1
    if end - start <= limit:
        return start, end
    window = line[start : start + limit]
    cut = max(window.rfind(". "), window.rfind("! "), window.rfind("? "), window.rfind(": "))
    if cut < limit // 3:
        cut = window.rfind(" ")
    end = start + (cut if cut > 0 else limit)
    for token in tokens:  # a cut inside a value moves to before it (after it, when it leads the text)
        if token.start < end < token.end:
            end = token.start if token.start > start else token.end
    words = line[start:end].split(" ")
    while len(words) > 2 and words[-1].lower() in _DANGLING:  # "… and is" reads as cut off
        words.pop()
    return start, start + len(" ".join(words))


def text_capture(text: str, value: str, own: dict[str, str]) -> dict[str, Any] | None:
    """``{text: "Delivery code: (\\d{4})"}``: the value's shape after as few words as it takes for the first
    match to be this value (two at least for a number). The words stop at any other run-specific value:
    a capture's regex takes no ``${…}``."""
    tokens = find_tokens(text, own)
    for token in (t for t in tokens if t.value == value and not t.own):
        since = max([text.rfind("\n", 0, token.start) + 1, *(t.end for t in tokens if t.end <= token.start)])
        words = text[since : token.start].split(" ")
        needed = 0 if token.name.endswith("_id") else min(2, _wordy(words))
        for keep in range(0, min(len(words), 4) + 1):
            kept = words[len(words) - keep :] if keep else []
            if _wordy(kept) < needed:
                continue  # a bare number would match too much
            pattern = escape(" ".join(kept)) + f"({token.shape})"
            match = re.search(pattern, text)
            if match and match.group(1) == value:
                return {"text": pattern}
    return None


def _wordy(words: list[str]) -> int:
    return sum(any(ch.isalnum() for ch in word) for word in words)


def id_capture(message: OutboundMessage, value: str) -> dict[str, Any] | None:
    """``{button: 0, pattern: "pay_momo:(ORD-[A-Z0-9]{6})"}`` when the value is only in a tap id."""
    for field, ids in (("button", message.button_ids), ("row", message.row_ids)):
        for position, tap_id in enumerate(ids):
            for token in (t for t in find_tokens(tap_id) if t.value == value):
                pattern = escape(tap_id[: token.start]) + f"({token.shape})" + escape(tap_id[token.end :])
                return {field: position, "pattern": pattern}
    return None
