"""Outbound message rules (easymo_qa.whatsapp.rules): valid messages pass, each broken rule is named.

Repeats (ids, titles) and list-wide rules are reported at the list, naming the value or the index."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from easymo_qa.whatsapp.rules.base import RuleViolation
from easymo_qa.whatsapp.rules.request import validate_outbound

pytestmark = pytest.mark.unit

MISSING, INVALID, PARAM = 131008, 131009, 100


def envelope(kind: str | None, content: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "250788123456",
    }
    if kind is not None:
        body["type"] = kind
        body[kind] = content if content is not None else {}
    return body


def buttons(n: int = 3) -> dict[str, Any]:
    return envelope(
        "interactive",
        {
            "type": "button",
            "header": {"type": "text", "text": "Order #42"},
            "body": {"text": "Do you want this moto ride?"},
            "footer": {"text": "easyMO"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": f"btn_{i}", "title": f"Choice {i}"}} for i in range(n)
                ]
            },
        },
    )


def list_message(sections: int = 2, rows_per_section: int = 2) -> dict[str, Any]:
    return envelope(
        "interactive",
        {
            "type": "list",
            "header": {"type": "text", "text": "Nearby drivers"},
            "body": {"text": "Pick a driver"},
            "action": {
                "button": "See drivers",
                "sections": [
                    {
                        "title": f"Zone {s}",
                        "rows": [
                            {"id": f"row_{s}_{r}", "title": f"Driver {s}.{r}", "description": "2 km away"}
                            for r in range(rows_per_section)
                        ],
                    }
                    for s in range(sections)
                ],
            },
        },
    )


VALID: dict[str, dict[str, Any]] = {
    "text": envelope("text", {"body": "Muraho! 🚕", "preview_url": False}),
    "text without type (Meta defaults to text)": {
        "messaging_product": "whatsapp",
        "to": "+250788123456",
        "text": {"body": "hi"},
    },
    "text at exactly 4096 chars": envelope("text", {"body": "é" * 4096}),
    "buttons": buttons(3),
    "one button": buttons(1),
    "list": list_message(2, 5),
    "single untitled section": envelope(
        "interactive",
        {
            "type": "list",
            "body": {"text": "Pick"},
            "action": {"button": "Open", "sections": [{"rows": [{"id": "a", "title": "A"}]}]},
        },
    ),
    "cta_url": envelope(
        "interactive",
        {
            "type": "cta_url",
            "body": {"text": "Pay here"},
            "action": {
                "name": "cta_url",
                "parameters": {"display_text": "Pay", "url": "https://pay.example"},
            },
        },
    ),
    "location": envelope("location", {"latitude": -1.9441, "longitude": 30.0619, "name": "Kigali"}),
    "location at the poles": envelope("location", {"latitude": 90, "longitude": -180}),
    "location as strings": envelope("location", {"latitude": "37.44216251868683", "longitude": "-122.16"}),
    "image by link": envelope("image", {"link": "https://cdn.example/moto.jpg", "caption": "Your ride"}),
    "document by id": envelope("document", {"id": "1234567890", "filename": "receipt.pdf"}),
    "audio": envelope("audio", {"id": "987"}),
    "sticker": envelope("sticker", {"link": "https://cdn.example/s.webp"}),
    "video": envelope("video", {"id": "555", "caption": "How it works"}),
    "reaction": envelope("reaction", {"message_id": "wamid.abc", "emoji": "👍"}),
    "reaction removal (empty emoji)": envelope("reaction", {"message_id": "wamid.abc", "emoji": ""}),
    "template": envelope("template", {"name": "hello_world", "language": {"code": "en_US"}}),
}


@pytest.mark.parametrize("body", VALID.values(), ids=VALID.keys())
def test_valid_messages_pass(body: dict[str, Any]) -> None:
    assert validate_outbound(body) == []


DELETE = object()


def edited(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with each dotted path (``[i]`` indexes allowed) set, or removed for DELETE."""
    body = copy.deepcopy(base)
    for path, value in changes.items():
        keys: list[str | int] = []
        for part in path.split("."):
            name, _, rest = part.partition("[")
            keys.append(name)
            keys.extend(int(i) for i in rest.rstrip("]").split("][") if i)
        target: Any = body
        for key in keys[:-1]:
            target = target[key]
        if value is DELETE:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return body


def case(name: str, base: dict[str, Any], changes: dict[str, Any], code: int, path: str, *words: str) -> Any:
    return pytest.param(edited(base, changes), code, path, words, id=name)


BTN = "interactive.action.buttons"
SEC = "interactive.action.sections"
TEXT, LOC, IMAGE, REACTION = VALID["text"], VALID["location"], VALID["image by link"], VALID["reaction"]
LIST = list_message()


def rows(n: int, prefix: str = "r") -> list[dict[str, str]]:
    return [{"id": f"{prefix}{i}", "title": f"Row {i}"} for i in range(n)]


BROKEN = [
    # envelope
    case("no messaging_product", TEXT, {"messaging_product": DELETE}, PARAM, "messaging_product"),
    case("wrong messaging_product", TEXT, {"messaging_product": "sms"}, PARAM, "messaging_product", "'sms'"),
    case("missing to", TEXT, {"to": DELETE}, MISSING, "to", "to is required"),
    case("null to", TEXT, {"to": None}, MISSING, "to"),
    case("to with letters", TEXT, {"to": "25078abc456"}, INVALID, "to", "8-15 digits", "'25078abc456'"),
    case("to too short", TEXT, {"to": "+1234567"}, INVALID, "to"),
    case("to too long", TEXT, {"to": "1234567890123456"}, INVALID, "to"),
    case("to as a number", TEXT, {"to": 250788123456}, PARAM, "to", "string"),
    case("bad recipient_type", TEXT, {"recipient_type": "group"}, PARAM, "recipient_type", "'group'"),
    case("bad type", TEXT, {"type": "carousel"}, PARAM, "type", "'carousel'"),
    case("type object missing", IMAGE, {"image": DELETE}, MISSING, "image"),
    case("type object not an object", TEXT, {"text": "hello"}, PARAM, "text", "object"),
    # text
    case("text body 4097 chars", TEXT, {"text.body": "a" * 4097}, INVALID, "text.body", "4096", "4097"),
    case("empty text body", TEXT, {"text.body": ""}, INVALID, "text.body", "empty"),
    case("missing text body", TEXT, {"text.body": DELETE}, MISSING, "text.body"),
    case("preview_url not bool", TEXT, {"text.preview_url": "yes"}, PARAM, "text.preview_url", "boolean"),
    # interactive, common parts
    case(
        "interactive type unknown",
        buttons(),
        {"interactive.type": "poll"},
        INVALID,
        "interactive.type",
        "'poll'",
    ),
    case("interactive type missing", buttons(), {"interactive.type": DELETE}, MISSING, "interactive.type"),
    case("body missing", buttons(), {"interactive.body": DELETE}, MISSING, "interactive.body"),
    case(
        "body 1025",
        buttons(),
        {"interactive.body.text": "b" * 1025},
        INVALID,
        "interactive.body.text",
        "1024",
        "1025",
    ),
    case(
        "list body 4097",
        LIST,
        {"interactive.body.text": "b" * 4097},
        INVALID,
        "interactive.body.text",
        "4096",
        "4097",
    ),
    case(
        "header 61",
        buttons(),
        {"interactive.header.text": "h" * 61},
        INVALID,
        "interactive.header.text",
        "60",
        "61",
    ),
    case(
        "footer 61",
        buttons(),
        {"interactive.footer.text": "f" * 61},
        INVALID,
        "interactive.footer.text",
        "60",
        "61",
    ),
    case(
        "list with image header",
        LIST,
        {"interactive.header": {"type": "image", "image": {"id": "1"}}},
        INVALID,
        "interactive.header.type",
        "'image'",
    ),
    case("action missing", buttons(), {"interactive.action": DELETE}, MISSING, "interactive.action"),
    # reply buttons
    case("4 buttons", buttons(4), {}, INVALID, BTN, "at most 3 buttons, got 4"),
    case("0 buttons", buttons(0), {}, INVALID, BTN, "at least 1 button, got 0"),
    case(
        "21-char title",
        buttons(),
        {f"{BTN}[1].reply.title": "x" * 21},
        INVALID,
        f"{BTN}[1].reply.title",
        "20",
        "21",
    ),
    case("empty title", buttons(), {f"{BTN}[0].reply.title": ""}, INVALID, f"{BTN}[0].reply.title", "empty"),
    case(
        "257-char id",
        buttons(),
        {f"{BTN}[2].reply.id": "i" * 257},
        INVALID,
        f"{BTN}[2].reply.id",
        "256",
        "257",
    ),
    case(
        "duplicate button ids",
        buttons(),
        {f"{BTN}[2].reply.id": "btn_0"},
        INVALID,
        BTN,
        "unique",
        "'btn_0'",
    ),
    case(
        "duplicate button titles",
        buttons(),
        {f"{BTN}[1].reply.title": "Choice 0"},
        INVALID,
        BTN,
        "unique",
    ),
    case("button type url", buttons(), {f"{BTN}[0].type": "url"}, INVALID, f"{BTN}[0].type", "'reply'"),
    # lists
    case("11 rows", LIST, {f"{SEC}[0].rows": rows(11)}, INVALID, f"{SEC}[0].rows", "at most 10 rows, got 11"),
    case(
        "11 rows over sections",
        LIST,
        {f"{SEC}[0].rows": rows(6, "a"), f"{SEC}[1].rows": rows(5, "b")},
        INVALID,
        SEC,
        "at most 10 rows in total, got 11",
    ),
    case(
        "11 sections",
        LIST,
        {SEC: [{"title": f"S{i}", "rows": rows(1, f"s{i}")} for i in range(11)]},
        INVALID,
        SEC,
        "at most 10 sections, got 11",
    ),
    case("no sections", LIST, {SEC: []}, INVALID, SEC, "at least 1 section, got 0"),
    case("empty section", LIST, {f"{SEC}[1].rows": []}, INVALID, f"{SEC}[1].rows", "at least 1 row"),
    case(
        "duplicate row ids across sections",
        LIST,
        {f"{SEC}[1].rows[0].id": "row_0_0"},
        INVALID,
        SEC,
        "unique",
    ),
    case(
        "row title 25",
        LIST,
        {f"{SEC}[0].rows[1].title": "r" * 25},
        INVALID,
        f"{SEC}[0].rows[1].title",
        "24",
        "25",
    ),
    case(
        "row description 73",
        LIST,
        {f"{SEC}[0].rows[0].description": "d" * 73},
        INVALID,
        f"{SEC}[0].rows[0].description",
        "72",
        "73",
    ),
    case(
        "row id 201", LIST, {f"{SEC}[0].rows[0].id": "i" * 201}, INVALID, f"{SEC}[0].rows[0].id", "200", "201"
    ),
    case("row title missing", LIST, {f"{SEC}[0].rows[0].title": DELETE}, MISSING, f"{SEC}[0].rows[0].title"),
    case("section title 25", LIST, {f"{SEC}[0].title": "s" * 25}, INVALID, f"{SEC}[0].title", "24", "25"),
    case("untitled section among two", LIST, {f"{SEC}[1].title": DELETE}, MISSING, SEC, "sections[1]"),
    case(
        "list button 21",
        LIST,
        {"interactive.action.button": "b" * 21},
        INVALID,
        "interactive.action.button",
        "20",
        "21",
    ),
    case(
        "list button missing",
        LIST,
        {"interactive.action.button": DELETE},
        MISSING,
        "interactive.action.button",
    ),
    # cta_url
    case(
        "cta_url without url",
        VALID["cta_url"],
        {"interactive.action.parameters.url": DELETE},
        MISSING,
        "interactive.action.parameters.url",
    ),
    # location
    case("latitude 91", LOC, {"location.latitude": 91}, INVALID, "location.latitude", "90", "91"),
    case(
        "longitude -181.5",
        LOC,
        {"location.longitude": -181.5},
        INVALID,
        "location.longitude",
        "-180",
        "-181.5",
    ),
    # Meta's location page types the coordinates "String" and sends "37.44216251868683": text that is no
    # number is refused, a number in a string is not (VALID["location as strings"]).
    case("latitude as words", LOC, {"location.latitude": "north"}, INVALID, "location.latitude", "decimal"),
    case(
        "latitude out of range as text", LOC, {"location.latitude": "-91"}, INVALID, "location.latitude", "90"
    ),
    case("latitude as bool", LOC, {"location.latitude": True}, PARAM, "location.latitude", "number"),
    case("latitude as object", LOC, {"location.latitude": {"deg": 1}}, PARAM, "location.latitude", "number"),
    case("longitude missing", LOC, {"location.longitude": DELETE}, MISSING, "location.longitude"),
    case("location name not a string", LOC, {"location.name": 7}, PARAM, "location.name"),
    # media
    case("image with id and link", IMAGE, {"image.id": "123"}, INVALID, "image", "both"),
    case("image with neither", IMAGE, {"image.link": DELETE}, MISSING, "image"),
    case(
        "caption 1025",
        VALID["video"],
        {"video.caption": "c" * 1025},
        INVALID,
        "video.caption",
        "1024",
        "1025",
    ),
    # reaction
    case(
        "reaction without message_id",
        REACTION,
        {"reaction.message_id": DELETE},
        MISSING,
        "reaction.message_id",
    ),
    case("reaction without emoji", REACTION, {"reaction.emoji": DELETE}, MISSING, "reaction.emoji"),
]


@pytest.mark.parametrize(("body", "code", "path", "words"), BROKEN)
def test_each_rule_is_reported_with_code_and_path(
    body: dict[str, Any], code: int, path: str, words: tuple[str, ...]
) -> None:
    violations = validate_outbound(body)
    at_path = [v for v in violations if v.path == path]
    assert at_path, f"no violation at {path}; got {violations}"
    assert at_path[0].code == code, violations
    for word in words:
        assert word in at_path[0].message, at_path[0].message


def test_violation_message_names_limit_and_value() -> None:
    assert validate_outbound(buttons(4)) == [
        RuleViolation(131009, BTN, "interactive button messages allow at most 3 buttons, got 4")
    ]


def test_lengths_count_characters_not_bytes() -> None:
    # 20 emoji are 80 UTF-8 bytes but 20 characters: a valid title.
    body = edited(buttons(), {f"{BTN}[0].reply.title": "🚕" * 20})
    assert validate_outbound(body) == []


def test_every_violation_is_reported_not_just_the_first() -> None:
    body = edited(buttons(4), {f"{BTN}[0].reply.title": "x" * 21})
    body.pop("to")
    paths = {v.path for v in validate_outbound(body)}
    assert paths == {"to", BTN, f"{BTN}[0].reply.title"}


@pytest.mark.parametrize("garbage", [[], "text", 42, None])
def test_non_object_body_is_an_invalid_parameter(garbage: Any) -> None:
    [violation] = validate_outbound(garbage)
    assert violation.code == PARAM


@pytest.mark.parametrize(
    ("field", "value"),
    [("type", ["text"]), ("interactive.type", {"x": 1}), ("interactive.header.type", ["text"])],
)
def test_unhashable_enum_values_do_not_crash(field: str, value: Any) -> None:
    assert validate_outbound(edited(buttons(), {field: value}))


def test_list_body_may_be_4096_characters_where_buttons_stop_at_1024() -> None:
    # Meta's list page allows 4096 since 2025; reply buttons keep 1024 (see rules/interactive.py).
    assert validate_outbound(edited(LIST, {"interactive.body.text": "é" * 4096})) == []
    assert validate_outbound(edited(buttons(), {"interactive.body.text": "é" * 1025}))
