"""Builders for outbound Cloud API messages that always fit Meta's limits.

Texts too long for their field are cut and end with an ellipsis, as easyMO's ``utils/reply.ts`` does;
structural mistakes (a fourth button, an eleventh row, duplicate ids) are programming errors and raise
``ValueError`` instead of producing a message Meta would reject.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import defects

ELLIPSIS = "…"
TEXT_MAX = 4096
BODY_MAX = 1024
HEADER_MAX = 60
FOOTER_MAX = 60
MAX_BUTTONS = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_BUTTON_MAX = 20
MAX_ROWS = 10
SECTION_TITLE_MAX = 24
ROW_ID_MAX = 200
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72

BACK_HOME_ID = "back_home"
HOME_TITLE = "🏠 Home"

# Characters that must not end a cut string: a dangling zero-width joiner would glue the ellipsis
# onto half an emoji sequence.
_DANGLING = "\u200d \t\n"


# Defect switches that live in these builders, set for the process by create_app. A cut switch widens a
# limit by one character; the uncapped ones skip the guard below, so the message reaches Meta (which
# refuses it) instead of failing here.
_switched: set[str] = set()
_UNGUARDED_ROWS = {defects.MENU_ROWS_OFF_BY_ONE, defects.OFFERS_UNCAPPED, defects.CURATED_ROWS_OFF_BY_ONE}
_UNGUARDED_BUTTONS = {defects.DRIVER_JOBS_FOUR_BUTTONS}


def configure(defect_names: Iterable[str]) -> None:
    """Switch this process's builder defects (``reference/defects.py``) to exactly ``defect_names``."""
    _switched.clear()
    _switched.update(defect_names)


def _cut(limit: int, defect: str) -> int:
    return limit + 1 if defect in _switched else limit


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its start plus an ellipsis, ``limit`` in all."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip(_DANGLING) + ELLIPSIS


@dataclass(frozen=True)
class Button:
    id: str
    title: str


@dataclass(frozen=True)
class Row:
    id: str
    title: str
    description: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    rows: Sequence[Row]


HOME_BUTTON = Button(BACK_HOME_ID, HOME_TITLE)


def text(to: str, body: str, *, preview_url: bool = False) -> dict[str, Any]:
    _require(body, "text body")
    return _envelope(to, "text", {"text": {"body": truncate(body, TEXT_MAX), "preview_url": preview_url}})


def location(
    to: str, latitude: float, longitude: float, *, name: str = "", address: str = ""
) -> dict[str, Any]:
    """A location pin (the driver's pickup and drop-off)."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValueError(f"not a location: {latitude}, {longitude}")
    place: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if name:
        place["name"] = name
    if address:
        place["address"] = address
    return _envelope(to, "location", {"location": place})


def buttons(
    to: str, body: str, choices: Sequence[Button], *, header: str = "", footer: str = ""
) -> dict[str, Any]:
    """An interactive reply-buttons message (1 to 3 buttons)."""
    _require(body, "interactive body")
    most = len(choices) if _switched & _UNGUARDED_BUTTONS else MAX_BUTTONS
    if not 1 <= len(choices) <= most:
        raise ValueError(f"a buttons message needs 1 to {MAX_BUTTONS} buttons, got {len(choices)}")
    _unique_ids([b.id for b in choices], BUTTON_ID_MAX)
    reply_buttons = [
        {
            "type": "reply",
            # easyMO always shows the localised Home title on back_home, whatever the caller passed.
            "reply": {"id": b.id, "title": HOME_TITLE if b.id == BACK_HOME_ID else _title(b.title)},
        }
        for b in choices
    ]
    interactive: dict[str, Any] = {
        "type": "button",
        "body": {"text": truncate(body, BODY_MAX)},
        "action": {"buttons": reply_buttons},
    }
    _decorate(interactive, header, footer)
    return _envelope(to, "interactive", {"interactive": interactive})


def list_message(
    to: str,
    body: str,
    button: str,
    sections: Sequence[Section],
    *,
    header: str = "",
    footer: str = "",
) -> dict[str, Any]:
    """An interactive list message (at most 10 rows across all sections)."""
    _require(body, "interactive body")
    _require(button, "list button")
    rows = [row for section in sections for row in section.rows]
    most = len(rows) if _switched & _UNGUARDED_ROWS else MAX_ROWS
    if not sections or not 1 <= len(rows) <= most:
        raise ValueError(f"a list needs 1 to {MAX_ROWS} rows, got {len(rows)}")
    _unique_ids([r.id for r in rows], ROW_ID_MAX)
    interactive: dict[str, Any] = {
        "type": "list",
        "body": {"text": truncate(body, BODY_MAX)},
        "action": {
            "button": truncate(button, LIST_BUTTON_MAX),
            "sections": [_section(s, multiple=len(sections) > 1) for s in sections],
        },
    }
    _decorate(interactive, header, footer)
    return _envelope(to, "interactive", {"interactive": interactive})


def _section(section: Section, *, multiple: bool) -> dict[str, Any]:
    if multiple and not section.title:
        raise ValueError("every section needs a title when a list has more than one")
    out: dict[str, Any] = {"rows": [_row(r) for r in section.rows]}
    if section.title:
        out["title"] = truncate(section.title, SECTION_TITLE_MAX)
    return out


def _row(row: Row) -> dict[str, Any]:
    _require(row.title, "row title")
    out = {"id": row.id, "title": truncate(row.title, _cut(ROW_TITLE_MAX, defects.ROW_TITLE_CUT_AT_25))}
    if row.description:
        limit = _cut(ROW_DESCRIPTION_MAX, defects.ROW_DESCRIPTION_CUT_AT_73)
        out["description"] = truncate(row.description, limit)
    return out


def _title(title: str) -> str:
    _require(title, "button title")
    return truncate(title, BUTTON_TITLE_MAX)


def _decorate(interactive: dict[str, Any], header: str, footer: str) -> None:
    if header:
        interactive["header"] = {"type": "text", "text": truncate(header, HEADER_MAX)}
    if footer:
        interactive["footer"] = {"text": truncate(footer, FOOTER_MAX)}


def _unique_ids(ids: list[str], max_len: int) -> None:
    for item in ids:
        if not item or len(item) > max_len:
            raise ValueError(f"ids must be 1 to {max_len} characters: {item!r}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"ids must be unique: {ids}")


def _require(value: str, what: str) -> None:
    if not value or not value.strip():
        raise ValueError(f"{what} must not be empty")


def _envelope(to: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
        **content,
    }


def describe(message: dict[str, Any]) -> str:
    """A short kind label for events: ``text``, ``button``, ``list``..."""
    kind = str(message.get("type", "?"))
    if kind == "interactive":
        return str(message.get("interactive", {}).get("type", kind))
    return kind
