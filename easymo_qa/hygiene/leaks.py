"""Rules against internals shown to the user: raw i18n keys, placeholders, missing values, bad tap ids,
stack traces and JSON.

The real easyMO shipped raw i18n keys (``agent.not_available``) and row ids such as
``agent_option_undefined_1`` (reference/easymo-real-system.md §2.5): these rules catch both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from easymo_qa.hygiene.message_parts import tap_ids, visible_texts
from easymo_qa.hygiene.registry import Registry
from easymo_qa.whatsapp.outbound import OutboundMessage

LEAKS = Registry()

_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_KEY_TOKEN = re.compile(r"(?<![\w.@/:-])[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+(?![\w@/-]|\.[a-z0-9_])")
_ABBREVIATIONS = frozenset({"e.g", "i.e", "a.m", "p.m", "etc", "n.b", "p.s", "c.f", "cf", "vs"})
_TLDS = frozenset(
    "com org net rw io co gov edu app dev me info africa biz tv us uk fr be ke ug tz cd bi".split()
)


def raw_keys(text: str) -> list[str]:
    """Translation keys shown as text: ``agent.not_available``, alone or inside a sentence.

    Not URLs, e-mail addresses, decimal numbers, abbreviations (``e.g.``) or bare domain names.
    """
    text = _EMAIL.sub(" ", _URL.sub(" ", text))
    keys = []
    for match in _KEY_TOKEN.finditer(text):
        token = match.group(0)
        parts = token.split(".")
        if token in _ABBREVIATIONS or all(len(p) == 1 for p in parts):
            continue
        if parts[-1] in _TLDS and "_" not in token:
            continue
        keys.append(token)
    return keys


@LEAKS.rule(
    "raw_i18n_key", "no raw translation key (such as agent.not_available) shown instead of a sentence"
)
def _raw_i18n_key(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    for where, text in visible_texts(message):
        for key in raw_keys(text):
            yield where, f"raw translation key {key!r}"


_PLACEHOLDERS = (
    re.compile(r"\{\{[^}]*\}\}|\{\{|\}\}"),  # {{ name }} (Handlebars, Jinja, Mustache)
    re.compile(r"\$\{[^}]*\}"),  # ${name} (JavaScript template literals)
    re.compile(r"\{[A-Za-z_][A-Za-z0-9_.]*\}"),  # {name} (str.format, i18n params)
    re.compile(r"%\([A-Za-z_]\w*\)[sdif]|(?<![\w%])%[sdif](?![A-Za-z])"),  # %(name)s, %s
)


@LEAKS.rule("unfilled_placeholder", "no unfilled placeholder ({name}, {{name}}, ${name}, %s)")
def _unfilled_placeholder(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    for where, text in visible_texts(message):
        for pattern in _PLACEHOLDERS:
            for match in pattern.finditer(text):
                yield where, f"unfilled placeholder {match.group(0)!r}"


_MISSING_VALUE = re.compile(r"\b(?:undefined|null|NaN)\b|\bNone\b(?! of\b)|\[object Object\]")


@LEAKS.rule("missing_value", "no undefined / None / null / NaN / [object Object] where a value belongs")
def _missing_value(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    for where, text in visible_texts(message):
        for match in _MISSING_VALUE.finditer(text):
            yield where, f"missing value {match.group(0)!r}"


_BAD_ID = re.compile(r"(?:^|[^A-Za-z])(undefined|null|None|NaN)(?:[^A-Za-z]|$)")


@LEAKS.rule("bad_tap_id", "no button or row id that is empty or contains undefined / null / None / NaN")
def _bad_tap_id(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    for where, value in tap_ids(message):
        if not value.strip():
            yield where, "empty id"
        elif match := _BAD_ID.search(value):
            yield where, f"id {value!r} contains {match.group(1)!r}"


_STACK_TRACE = (
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r'File "[^"]+", line \d+'),
    re.compile(r"^\s+at \S.*:\d+(?::\d+)?\)?\s*$", re.MULTILINE),  # a JavaScript / Deno stack frame
    re.compile(r"\b[A-Z][A-Za-z0-9]*(?:Error|Exception)\b"),  # KeyError, TypeError, ReplyFailedError
    re.compile(r"\bException:"),
    re.compile(r"\b(?:sqlite3|psycopg2?|asyncpg|httpx|requests|starlette|uvicorn)\.[A-Za-z_]"),
)


@LEAKS.rule("stack_trace", "no stack trace, exception class name or driver error shown to the user")
def _stack_trace(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    for where, text in visible_texts(message):
        for pattern in _STACK_TRACE:
            match = pattern.search(text)
            if match:
                yield where, f"stack trace or error internals {match.group(0).strip()[:60]!r}"
                break


def _parses_as_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return False
    try:
        return isinstance(json.loads(stripped), dict | list)
    except ValueError:
        return False


_JSON_FRAGMENT = re.compile(r"\{\s*[\"']|\[\s*\{")


@LEAKS.rule("json_dump", "no JSON (or dict repr) dumped into a message")
def _json_dump(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    for where, text in visible_texts(message):
        if _parses_as_json(text):
            yield where, f"the text is JSON: {text.strip()[:60]!r}"
        elif match := _JSON_FRAGMENT.search(text):
            yield where, f"JSON fragment {text[match.start() : match.start() + 40]!r}"
