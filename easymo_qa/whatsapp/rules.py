"""Outbound message rules: what the Cloud API accepts on ``POST /{version}/{phone_number_id}/messages``.

:func:`validate_outbound` checks one request body and returns every rule it breaks (empty list = valid).
The Graph API simulator answers the first violation as Meta's error object, so a SUT that would be
rejected by Meta in production is rejected here too.

Error codes follow Meta's layering:

- ``100`` (invalid parameter): the Graph parameter layer, i.e. the envelope enums (``messaging_product``,
  ``recipient_type``, ``type``) and any field of the wrong JSON type (a number where a string belongs).
- ``131008`` (required parameter missing): a required field is absent or ``null``.
- ``131009`` (parameter value not valid): the field is there and well typed but breaks a content rule
  (length, count, uniqueness, range, format, unknown interactive type).

Lengths are counted in characters (Python ``len``), as Meta documents them. Only message types the SUT
plausibly sends are checked in depth; ``template`` and ``contacts`` must just be present as objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from typing import Any

INVALID_PARAMETER = 100
REQUIRED_PARAMETER_MISSING = 131008
PARAMETER_VALUE_NOT_VALID = 131009

MESSAGE_TYPES = frozenset(
    {"text", "interactive", "location", "image", "audio", "document", "sticker", "video", "reaction"}
    | {"template", "contacts"}
)
MEDIA_TYPES = frozenset({"image", "audio", "document", "sticker", "video"})
INTERACTIVE_TYPES = ("button", "list", "cta_url")

_PHONE = re.compile(r"\+?\d{8,15}")


@dataclass(frozen=True)
class RuleViolation:
    """One broken rule: Meta's error ``code``, the dotted ``path`` of the field, a human ``message``."""

    code: int
    path: str
    message: str


@dataclass(frozen=True)
class _Text:
    """A string field: where it lives (dotted, relative to its object), its limit, whether it is required."""

    path: str
    max_len: int | None  # None: Meta documents no limit, so none is invented here
    label: str
    required: bool = False


@dataclass(frozen=True)
class _Items:
    """How many entries an array may hold, and how to name it in messages."""

    min_items: int
    max_items: int
    one: str  # "button"
    many: str  # "buttons"
    context: str  # who the limit applies to, starts the message


# --- rule tables ---------------------------------------------------------------------------------------

_TEXT_BODY = (_Text("body", 4096, "text body", required=True),)
_MEDIA_CAPTION = _Text("caption", 1024, "media caption")
_HEADER_TEXT = _Text("text", 60, "header text", required=True)
_BODY_TEXT = _Text("body.text", 1024, "body text", required=True)
# Meta's "Interactive list messages" page (updated 2025-11-03) allows a list body of 4096 characters, while
# reply buttons keep 1024: https://developers.facebook.com/documentation/business-messaging/whatsapp/
# messages/interactive-list-messages and .../interactive-reply-buttons-messages
_LIST_BODY_TEXT = _Text("body.text", 4096, "body text", required=True)
_FOOTER_TEXT = _Text("footer.text", 60, "footer text")

# Texts of each interactive type, relative to the ``interactive`` object.
_INTERACTIVE_TEXTS: dict[str, tuple[_Text, ...]] = {
    "button": (_BODY_TEXT, _FOOTER_TEXT),
    "list": (_LIST_BODY_TEXT, _FOOTER_TEXT, _Text("action.button", 20, "list button text", required=True)),
    "cta_url": (
        _Text("body.text", 1024, "body text"),
        _FOOTER_TEXT,
        _Text("action.parameters.display_text", 20, "cta_url display text", required=True),
        _Text("action.parameters.url", None, "cta_url url", required=True),
    ),
}
# Lists only take a text header; buttons and CTA messages may also lead with media.
_HEADER_TYPES: dict[str, frozenset[str]] = {
    "button": frozenset({"text", "image", "video", "document"}),
    "list": frozenset({"text"}),
    "cta_url": frozenset({"text", "image", "video", "document"}),
}

_BUTTONS = _Items(1, 3, "button", "buttons", "interactive button messages")
_BUTTON_FIELDS = (
    _Text("reply.id", 256, "button id", required=True),
    _Text("reply.title", 20, "button title", required=True),
)
_SECTIONS = _Items(1, 10, "section", "sections", "interactive list messages")
_SECTION_ROWS = _Items(1, 10, "row", "rows", "list sections")
_TOTAL_ROWS = _Items(1, 10, "row", "rows in total", "interactive list messages")
_SECTION_TITLE = _Text("title", 24, "section title")
_ROW_FIELDS = (
    _Text("id", 200, "row id", required=True),
    _Text("title", 24, "row title", required=True),
    _Text("description", 72, "row description"),
)

_LOCATION_RANGES = (("latitude", 90.0), ("longitude", 180.0))
_LOCATION_TEXTS = (_Text("name", None, "location name"), _Text("address", None, "location address"))


# --- the collector -------------------------------------------------------------------------------------

_ABSENT: Any = object()


def _join(base: str, key: str) -> str:
    return f"{base}.{key}" if base else key


def _dig(obj: Any, dotted: str) -> Any:
    """The value at ``dotted`` inside ``obj``, or ``_ABSENT``; JSON ``null`` counts as absent, as at Meta."""
    for key in dotted.split("."):
        if not isinstance(obj, dict) or obj.get(key) is None:
            return _ABSENT
        obj = obj[key]
    return obj


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _one_of(value: Any, allowed: Collection[str]) -> bool:
    # isinstance first: an array or object in an enum field must not crash the membership test.
    return isinstance(value, str) and value in allowed


class _Report:
    """Collects violations; the helpers return the checked value (or ``None``) so callers can go deeper."""

    def __init__(self) -> None:
        self.violations: list[RuleViolation] = []

    def add(self, code: int, path: str, message: str) -> None:
        self.violations.append(RuleViolation(code, path, message))

    def missing(self, path: str, what: str) -> None:
        self.add(REQUIRED_PARAMETER_MISSING, path, f"{what} is required")

    def invalid(self, path: str, message: str) -> None:
        self.add(PARAMETER_VALUE_NOT_VALID, path, message)

    def wrong_type(self, path: str, label: str, expected: str, value: Any) -> None:
        self.add(INVALID_PARAMETER, path, f"{label} must be {expected}, got {_kind(value)}")

    def obj(self, parent: Any, base: str, key: str, label: str, *, required: bool = True) -> dict | None:
        value, path = _dig(parent, key), _join(base, key)
        if value is _ABSENT:
            if required:
                self.missing(path, label)
            return None
        if not isinstance(value, dict):
            self.wrong_type(path, label, "an object", value)
            return None
        return value

    def array(self, parent: Any, base: str, key: str, label: str) -> list | None:
        value, path = _dig(parent, key), _join(base, key)
        if value is _ABSENT:
            self.missing(path, label)
            return None
        if not isinstance(value, list):
            self.wrong_type(path, label, "an array", value)
            return None
        return value

    def text(self, parent: Any, base: str, spec: _Text) -> str | None:
        value, path = _dig(parent, spec.path), _join(base, spec.path)
        if value is _ABSENT:
            if spec.required:
                self.missing(path, spec.label)
            return None
        if not isinstance(value, str):
            self.wrong_type(path, spec.label, "a string", value)
            return None
        if spec.required and not value:
            self.invalid(path, f"{spec.label} must not be empty")
        elif spec.max_len is not None and len(value) > spec.max_len:
            self.invalid(path, f"{spec.label} must be at most {spec.max_len} characters, got {len(value)}")
        return value

    def texts(self, parent: Any, base: str, specs: Iterable[_Text]) -> None:
        for spec in specs:
            self.text(parent, base, spec)

    def count(self, n: int, path: str, rule: _Items) -> None:
        if n > rule.max_items:
            self.invalid(path, f"{rule.context} allow at most {rule.max_items} {rule.many}, got {n}")
        elif n < rule.min_items:
            noun = rule.one if rule.min_items == 1 else rule.many
            self.invalid(path, f"{rule.context} need at least {rule.min_items} {noun}, got {n}")

    def unique(self, entries: Iterable[tuple[str, str | None]], label: str) -> None:
        """Report each repeat at its own path; ``entries`` are ``(path, value)``, ``None`` values skipped."""
        seen: set[str] = set()
        for path, value in entries:
            if value is None:
                continue
            if value in seen:
                self.invalid(path, f"{label} must be unique, {value!r} is used more than once")
            seen.add(value)


# --- per-type checks -------------------------------------------------------------------------------------


def _check_text(report: _Report, text: dict, base: str) -> None:
    report.texts(text, base, _TEXT_BODY)
    preview = _dig(text, "preview_url")
    if preview is not _ABSENT and not isinstance(preview, bool):
        report.wrong_type(_join(base, "preview_url"), "preview_url", "a boolean", preview)


def _check_media(report: _Report, media: dict, base: str) -> None:
    sources = [key for key in ("id", "link") if _dig(media, key) is not _ABSENT]
    if not sources:
        report.missing(base, "a media id or link")
    elif len(sources) == 2:
        report.invalid(base, "media must have exactly one of id or link, got both")
    for key in sources:
        report.text(media, base, _Text(key, None, f"media {key}", required=True))
    report.text(media, base, _MEDIA_CAPTION)


def _check_location(report: _Report, place: dict, base: str) -> None:
    for key, bound in _LOCATION_RANGES:
        value, path = _dig(place, key), _join(base, key)
        if value is _ABSENT:
            report.missing(path, key)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            report.wrong_type(path, key, "a number", value)
        elif not -bound <= value <= bound:
            report.invalid(path, f"{key} must be between {-bound:g} and {bound:g}, got {value}")
    report.texts(place, base, _LOCATION_TEXTS)


def _check_reaction(report: _Report, reaction: dict, base: str) -> None:
    report.text(reaction, base, _Text("message_id", None, "reaction message_id", required=True))
    # An empty emoji is valid: it removes an earlier reaction. So only presence and type are checked.
    emoji = reaction.get("emoji")
    if emoji is None:
        report.missing(_join(base, "emoji"), "reaction emoji")
    elif not isinstance(emoji, str):
        report.wrong_type(_join(base, "emoji"), "reaction emoji", "a string", emoji)


def _check_present(report: _Report, obj: dict, base: str) -> None:
    """Templates and contact cards are not checked in depth; the object being there is enough."""


def _check_buttons(report: _Report, action: dict, base: str) -> None:
    buttons = report.array(action, base, "buttons", "buttons")
    if buttons is None:
        return
    path = _join(base, "buttons")
    report.count(len(buttons), path, _BUTTONS)
    ids: list[tuple[str, str | None]] = []
    titles: list[tuple[str, str | None]] = []
    for i, button in enumerate(buttons):
        item = f"{path}[{i}]"
        if not isinstance(button, dict):
            report.wrong_type(item, "button", "an object", button)
            continue
        kind = button.get("type")
        if kind is None:
            report.missing(_join(item, "type"), "button type")
        elif kind != "reply":
            report.invalid(_join(item, "type"), f"button type must be 'reply', got {kind!r}")
        button_id, title = (report.text(button, item, spec) for spec in _BUTTON_FIELDS)
        ids.append((_join(item, "reply.id"), button_id))
        titles.append((_join(item, "reply.title"), title))
    report.unique(ids, "button ids")
    report.unique(titles, "button titles")


def _check_list(report: _Report, action: dict, base: str) -> None:
    sections = report.array(action, base, "sections", "sections")
    if sections is None:
        return
    path = _join(base, "sections")
    report.count(len(sections), path, _SECTIONS)
    total_rows = 0
    row_ids: list[tuple[str, str | None]] = []
    for i, section in enumerate(sections):
        item = f"{path}[{i}]"
        if not isinstance(section, dict):
            report.wrong_type(item, "section", "an object", section)
            continue
        # A lone section may go untitled; with several, titles are what tells them apart.
        report.text(section, item, replace(_SECTION_TITLE, required=len(sections) > 1))
        rows = report.array(section, item, "rows", "section rows")
        if rows is None:
            continue
        report.count(len(rows), _join(item, "rows"), _SECTION_ROWS)
        total_rows += len(rows)
        for j, row in enumerate(rows):
            row_path = f"{item}.rows[{j}]"
            if not isinstance(row, dict):
                report.wrong_type(row_path, "row", "an object", row)
                continue
            row_id, _title, _description = (report.text(row, row_path, spec) for spec in _ROW_FIELDS)
            row_ids.append((_join(row_path, "id"), row_id))
    if total_rows > _TOTAL_ROWS.max_items:
        report.count(total_rows, path, _TOTAL_ROWS)
    report.unique(row_ids, "row ids")


def _check_cta_url(report: _Report, action: dict, base: str) -> None:
    name = action.get("name")
    if name is None:
        report.missing(_join(base, "name"), "cta_url action name")
    elif name != "cta_url":
        report.invalid(_join(base, "name"), f"cta_url action name must be 'cta_url', got {name!r}")


_ACTION_CHECKS: dict[str, Callable[[_Report, dict, str], None]] = {
    "button": _check_buttons,
    "list": _check_list,
    "cta_url": _check_cta_url,
}


def _check_header(report: _Report, interactive: dict, base: str, kind: str) -> None:
    header = report.obj(interactive, base, "header", "header", required=False)
    if header is None:
        return
    path = _join(base, "header")
    header_type = header.get("type")
    if header_type is None:
        report.missing(_join(path, "type"), "header type")
    elif not _one_of(header_type, _HEADER_TYPES[kind]):
        allowed = ", ".join(sorted(_HEADER_TYPES[kind]))
        report.invalid(
            _join(path, "type"), f"{kind} header type must be one of {allowed}, got {header_type!r}"
        )
    elif header_type == "text":
        report.text(header, path, _HEADER_TEXT)
    else:
        media = report.obj(header, path, header_type, f"{header_type} header")
        if media is not None:
            _check_media(report, media, _join(path, header_type))


def _check_interactive(report: _Report, interactive: dict, base: str) -> None:
    kind = interactive.get("type")
    if kind is None:
        report.missing(_join(base, "type"), "interactive type")
        return
    if not _one_of(kind, _ACTION_CHECKS):
        allowed = ", ".join(INTERACTIVE_TYPES)
        report.invalid(_join(base, "type"), f"interactive type must be one of {allowed}, got {kind!r}")
        return
    _check_header(report, interactive, base, kind)
    report.texts(interactive, base, _INTERACTIVE_TEXTS[kind])
    action = report.obj(interactive, base, "action", "interactive action")
    if action is not None:
        _ACTION_CHECKS[kind](report, action, _join(base, "action"))


_TYPE_CHECKS: dict[str, Callable[[_Report, dict, str], None]] = {
    "text": _check_text,
    "interactive": _check_interactive,
    "location": _check_location,
    "reaction": _check_reaction,
    "template": _check_present,
    "contacts": _check_present,
    **dict.fromkeys(MEDIA_TYPES, _check_media),
}


# --- entry point -----------------------------------------------------------------------------------------


def _check_envelope(report: _Report, body: dict) -> None:
    product = body.get("messaging_product")
    if product is None:
        report.add(INVALID_PARAMETER, "messaging_product", "messaging_product is required")
    elif product != "whatsapp":
        report.add(
            INVALID_PARAMETER, "messaging_product", f"messaging_product must be 'whatsapp', got {product!r}"
        )

    to = body.get("to")
    if to is None:
        report.missing("to", "to")
    elif not isinstance(to, str):
        report.wrong_type("to", "to", "a string", to)
    elif not _PHONE.fullmatch(to):
        report.invalid("to", f"to must be 8-15 digits with an optional leading '+', got {to!r}")

    recipient_type = body.get("recipient_type")
    if recipient_type is not None and recipient_type != "individual":
        report.add(
            INVALID_PARAMETER,
            "recipient_type",
            f"recipient_type must be 'individual', got {recipient_type!r}",
        )


def validate_outbound(body: dict[str, Any]) -> list[RuleViolation]:
    """Every Cloud API rule ``body`` breaks, in field order; an empty list means Meta would accept it."""
    report = _Report()
    if not isinstance(body, dict):
        report.wrong_type("", "the request body", "a JSON object", body)
        return report.violations
    _check_envelope(report, body)
    # Meta treats a message without ``type`` as text.
    kind = body.get("type")
    if kind is None:
        kind = "text"
    if not _one_of(kind, MESSAGE_TYPES):
        allowed = ", ".join(sorted(MESSAGE_TYPES))
        report.add(INVALID_PARAMETER, "type", f"type must be one of {allowed}, got {kind!r}")
        return report.violations
    content = report.obj(body, "", kind, f"the {kind} object")
    if content is not None:
        _TYPE_CHECKS[kind](report, content, kind)
    return report.violations
