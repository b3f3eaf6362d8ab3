"""Message hygiene: the seed's UX message audit (§1.1) as rules every message the bot sends must pass.

Each rule is a small function registered with a name and a one-line description; :func:`check_message`
runs them all on one :class:`OutboundMessage` and returns the violations. What a rule reads:

- *visible text*: everything the user reads (body, header, footer, button and row titles, row
  descriptions, section titles, the list button, captions, a location's name and address);
- *body*: the message's main text (a text message's body, an interactive message's body), where easyMO's
  audit puts the leading emoji;
- *ids*: the button and row ids the user's tap sends back.

The real easyMO shipped raw i18n keys (``agent.not_available``) and row ids such as
``agent_option_undefined_1`` (reference/easymo-real-system.md §2.5): these rules catch both.

*Known issues* (``fixtures/hygiene/known-issues.yaml``: a rule, a regex on the body, a reason) are messages
the SUT is known to get wrong, already reported: their violations are kept apart as warnings, listed in
every report but failing no test and not counted by the ``message_hygiene`` gate.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.yaml_source import YamlSourceError, load_yaml_file

KNOWN_ISSUES_FILE = Path("fixtures/hygiene/known-issues.yaml")
Mode = Literal["off", "warn", "fail"]
MODES: tuple[str, ...] = ("off", "warn", "fail")


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Callable[[OutboundMessage], Iterator[tuple[str, str]]]  # yields (where, what)


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


@dataclass(frozen=True)
class KnownIssue:
    """A message the SUT is known to get wrong: its ``rule`` violations become warnings."""

    rule: str
    text: str  # regular expression searched in the message body
    reason: str

    def covers(self, violation: Violation, message: OutboundMessage) -> bool:
        return violation.rule == self.rule and re.search(self.text, body_text(message)) is not None


class KnownIssuesError(ValueError):
    """The known-issues file cannot be used; the message names the file and line."""


def load_known_issues(path: Path) -> tuple[KnownIssue, ...]:
    """Read a known-issues file (a list of ``{rule, text, reason}``); a missing file means none."""
    if not path.is_file():
        return ()
    try:
        data, lines = load_yaml_file(path)
    except YamlSourceError as exc:
        raise KnownIssuesError(str(exc)) from None
    issues = []
    for i, entry in enumerate(data or []):
        where = lines.where((i,))
        if not isinstance(entry, dict) or set(entry) != {"rule", "text", "reason"}:
            raise KnownIssuesError(f"{where}: a known issue has exactly the keys rule, text and reason")
        if entry["rule"] not in RULES:
            raise KnownIssuesError(f"{where}: unknown rule {entry['rule']!r}; rules: {', '.join(RULES)}")
        try:
            re.compile(str(entry["text"]))
        except re.error as exc:
            raise KnownIssuesError(f"{where}: text is not a regular expression: {exc}") from None
        issues.append(KnownIssue(str(entry["rule"]), str(entry["text"]), str(entry["reason"])))
    return tuple(issues)


RULES: dict[str, Rule] = {}


def rule(name: str, description: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a check: a generator of ``(where, what)`` for each problem it finds in a message."""

    def register(check: Callable[[OutboundMessage], Iterator[tuple[str, str]]]) -> Callable[..., Any]:
        if name in RULES:
            raise ValueError(f"hygiene rule {name!r} is registered twice")
        RULES[name] = Rule(name, description, check)
        return check

    return register


def check_message(message: OutboundMessage, rules: dict[str, Rule] | None = None) -> list[Violation]:
    """Every violation of every rule (or of ``rules``) in one message the bot sent."""
    found = []
    summary = message.summary()
    for r in (rules or RULES).values():
        for where, detail in r.check(message):
            found.append(Violation(r.name, r.description, where, detail, message.to, message.seq, summary))
    return found


# --- what a message shows ------------------------------------------------------------------------------


def body_text(message: OutboundMessage) -> str:
    """The main text: a text message's body, an interactive message's body, a media caption."""
    body = message.body
    kind = str(body.get("type") or "")
    if kind == "text":
        return str((body.get("text") or {}).get("body", ""))
    if kind == "interactive":
        return str(((body.get("interactive") or {}).get("body") or {}).get("text", ""))
    if kind == "location":
        return ""
    return message.text


def visible_texts(message: OutboundMessage) -> list[tuple[str, str]]:
    """``(where, text)`` for everything the user reads."""
    body = message.body
    if not body:
        return [("text", message.text)]
    kind = str(body.get("type") or "")
    out: list[tuple[str, str]] = []
    if kind == "text":
        out.append(("body", str((body.get("text") or {}).get("body", ""))))
    elif kind == "interactive":
        interactive = body.get("interactive") or {}
        for part in ("header", "body", "footer"):
            out.append((part, str((interactive.get(part) or {}).get("text", ""))))
        action = interactive.get("action") or {}
        out.append(("list button", str(action.get("button", ""))))
        for button in action.get("buttons") or []:
            out.append(("button title", str((button.get("reply") or {}).get("title", ""))))
        for section in action.get("sections") or []:
            out.append(("section title", str(section.get("title", ""))))
            for row in section.get("rows") or []:
                out.append(("row title", str(row.get("title", ""))))
                out.append(("row description", str(row.get("description", ""))))
    elif kind == "location":
        place = body.get("location") or {}
        out += [
            ("location name", str(place.get("name", ""))),
            ("location address", str(place.get("address", ""))),
        ]
    elif isinstance(body.get(kind), dict):
        out.append(("caption", str(body[kind].get("caption", ""))))
    return [(where, text) for where, text in out if text]


def tap_ids(message: OutboundMessage) -> list[tuple[str, str]]:
    return [("button id", i) for i in message.button_ids] + [("row id", i) for i in message.row_ids]


# --- emoji ---------------------------------------------------------------------------------------------

_EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),  # pictographs, emoticons, transport, supplemental symbols, regional indicators
    (0x2600, 0x27BF),  # miscellaneous symbols and dingbats (✅ ⛽ ⚠ ✨ ❌ ✔)
    (0x2300, 0x23FF),  # technical (⌛ ⏳ ⏸)
    (0x2B00, 0x2BFF),  # arrows and stars (⭐)
    (0x2190, 0x21FF),  # arrows (↩)
    (0x25A0, 0x25FF),  # geometric shapes (▶ ◀)
)
_EMOJI_SINGLES = frozenset(
    {0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x2934, 0x2935, 0x3030, 0x303D, 0x3297, 0x3299}
)
_VS16, _ZWJ, _KEYCAP = "\ufe0f", "\u200d", "\u20e3"

# easyMO's domain ("subject") emojis: what the message is about (the audit: one leads each message).
SUBJECT_EMOJIS = frozenset(
    "🛒 🏪 ⛽ 🛵 🆘 💳 📦 🚖 💊 🏠 🔧 🛍 🤖 🧾 📲 💬 📊 🎫 🚗 📋 📨 🍽 🏍 🚚 💰 👛".split()
)
APOLOGY_EMOJI = "😔"
OTHER_SAD_FACES = frozenset("😢 😞 🙁 ☹ 😟 😕 😥 😓 😭 🥺 😿 😩 😫 😖 😣".split())
SUCCESS_EMOJI = "✅"
OTHER_CHECKS = frozenset("✔ ☑ ✓ 🆗 👌 🟢 ✔️".split())
WARNING_EMOJI = "⚠"


def _is_emoji_char(ch: str) -> bool:
    cp = ord(ch)
    return cp in _EMOJI_SINGLES or any(lo <= cp <= hi for lo, hi in _EMOJI_RANGES)


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _is_modifier(ch: str) -> bool:
    return ch in (_VS16, _KEYCAP) or 0x1F3FB <= ord(ch) <= 0x1F3FF or 0xE0020 <= ord(ch) <= 0xE007F


def leading_emojis(text: str) -> list[str]:
    """The emojis a text starts with (before its first word), each without variation selectors."""
    found: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or not _is_emoji_char(text[i]):
            break
        start = i
        i += 1
        if _is_regional(text[start]) and i < n and _is_regional(text[i]):
            i += 1  # a flag is two regional indicators
        while i < n:
            if _is_modifier(text[i]):
                i += 1
            elif text[i] == _ZWJ and i + 1 < n and _is_emoji_char(text[i + 1]):
                i += 2
            else:
                break
        found.append(text[start:i].replace(_VS16, ""))
    return found


# --- the rules -----------------------------------------------------------------------------------------

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


@rule("raw_i18n_key", "no raw translation key (such as agent.not_available) shown instead of a sentence")
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


@rule("unfilled_placeholder", "no unfilled placeholder ({name}, {{name}}, ${name}, %s)")
def _unfilled_placeholder(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    for where, text in visible_texts(message):
        for pattern in _PLACEHOLDERS:
            for match in pattern.finditer(text):
                yield where, f"unfilled placeholder {match.group(0)!r}"


_MISSING_VALUE = re.compile(r"\b(?:undefined|null|NaN)\b|\bNone\b(?! of\b)|\[object Object\]")


@rule("missing_value", "no undefined / None / null / NaN / [object Object] where a value belongs")
def _missing_value(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    for where, text in visible_texts(message):
        for match in _MISSING_VALUE.finditer(text):
            yield where, f"missing value {match.group(0)!r}"


_BAD_ID = re.compile(r"(?:^|[^A-Za-z])(undefined|null|None|NaN)(?:[^A-Za-z]|$)")


@rule("bad_tap_id", "no button or row id that is empty or contains undefined / null / None / NaN")
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


@rule("stack_trace", "no stack trace, exception class name or driver error shown to the user")
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


@rule("json_dump", "no JSON (or dict repr) dumped into a message")
def _json_dump(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    for where, text in visible_texts(message):
        if _parses_as_json(text):
            yield where, f"the text is JSON: {text.strip()[:60]!r}"
        elif match := _JSON_FRAGMENT.search(text):
            yield where, f"JSON fragment {text[match.start() : match.start() + 40]!r}"


@rule("one_subject_emoji", "at most one subject emoji (🛒 🏪 ⛽ 🛵 🆘 💳 📦 …) leads the message")
def _one_subject_emoji(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    leading = leading_emojis(body_text(message))
    subjects = [e for e in leading if e in SUBJECT_EMOJIS]
    if len(subjects) > 1:
        yield "body", f"{len(subjects)} subject emojis lead the message: {' '.join(subjects)}"


_APOLOGY_WORDS = re.compile(r"\bsorry\b|\bapologi[sz]e", re.IGNORECASE)


@rule("apology_emoji", "an apology starts with 😔 (not 😢 / 🙁 / none); service warnings may use ⚠️")
def _apology_emoji(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    body = body_text(message)
    leading = leading_emojis(body)
    sad = [e for e in leading if e in OTHER_SAD_FACES]
    if sad:
        yield "body", f"apology emoji {sad[0]} instead of {APOLOGY_EMOJI}"
    elif _APOLOGY_WORDS.search(body) and not {APOLOGY_EMOJI, WARNING_EMOJI} & set(leading):
        yield "body", f"an apology that does not start with {APOLOGY_EMOJI}"


_SUCCESS_WORDS = re.compile(r"\bsuccess(?:ful(?:ly)?)?\b", re.IGNORECASE)


@rule("success_emoji", "a success message starts with ✅ (not ✔️ / ☑️ / 👌)")
def _success_emoji(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    body = body_text(message)
    leading = leading_emojis(body)
    checks = [e for e in leading if e in OTHER_CHECKS]
    if checks:
        yield "body", f"success emoji {checks[0]} instead of {SUCCESS_EMOJI}"
    elif _SUCCESS_WORDS.search(body) and SUCCESS_EMOJI not in leading:
        yield "body", f"a success message that does not start with {SUCCESS_EMOJI}"


_HOME_ID = re.compile(r"home|^(?:main_)?menu$|^back(?:_|$)", re.IGNORECASE)
_HOME_TITLE = re.compile(r"\bhome\b|\bmain menu\b|^\W*menu\b", re.IGNORECASE)


def offers_a_way_home(message: OutboundMessage) -> bool:
    ids = [*message.button_ids, *message.row_ids]
    titles = [*message.button_titles, *message.row_titles]
    return any(_HOME_ID.search(i) for i in ids) or any(_HOME_TITLE.search(t) for t in titles)


def is_apology(message: OutboundMessage) -> bool:
    body = body_text(message)
    leading = set(leading_emojis(body))
    return bool(leading & {APOLOGY_EMOJI, WARNING_EMOJI, *OTHER_SAD_FACES}) or bool(
        _APOLOGY_WORDS.search(body)
    )


@rule("way_back_home", "an interactive error or apology offers a way back (🏠 Home), never a dead end")
def _way_back_home(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    if message.kind not in ("buttons", "list"):
        return
    if is_apology(message) and not offers_a_way_home(message):
        options = ", ".join([*message.button_ids, *message.row_ids]) or "none"
        yield "body", f"an apology whose options ({options}) include no way back home"


# --- per-test collection -------------------------------------------------------------------------------


@dataclass
class HygieneLog:
    """The messages one test received and what the rules found in them; safe to share between threads.

    Call it with each :class:`OutboundMessage` (it is the ``on_reply`` of a simulated user). Violations a
    known issue covers go to ``known`` instead of ``violations``.
    """

    known_issues: Sequence[KnownIssue] = ()
    checked: int = 0
    violations: list[Violation] = field(default_factory=list)
    known: list[Violation] = field(default_factory=list)
    _seen: set[tuple[str, int]] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, message: OutboundMessage) -> list[Violation]:
        key = (message.to, message.seq)
        with self._lock:
            if key in self._seen:
                return []
            self._seen.add(key)
        found = check_message(message)
        known = [v for v in found if any(k.covers(v, message) for k in self.known_issues)]
        new = [v for v in found if v not in known]
        with self._lock:
            self.checked += 1
            self.violations.extend(new)
            self.known.extend(known)
        return new

    def render(self, limit: int = 30) -> str:
        lines = [
            f"message hygiene: {len(self.violations)} violation(s) in {self.checked} message(s) the bot sent"
        ]
        lines += [f"  - {v.line()}" for v in self.violations[:limit]]
        if len(self.violations) > limit:
            lines.append(f"  … and {len(self.violations) - limit} more")
        if self.known:
            lines.append(
                f"  known issues (warnings, see fixtures/hygiene/known-issues.yaml): {len(self.known)}"
            )
            lines += [f"  - {v.line()}" for v in self.known[:limit]]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "violations": [v.to_dict() for v in self.violations],
            "known": [v.to_dict() for v in self.known],
        }


def describe_rules() -> list[tuple[str, str]]:
    return [(r.name, r.description) for r in RULES.values()]
