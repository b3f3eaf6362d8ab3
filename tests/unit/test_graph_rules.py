"""Outbound message rules (easymo_qa.whatsapp.rules): valid messages pass, each broken rule is named."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from easymo_qa.whatsapp.rules import RuleViolation, validate_outbound

pytestmark = pytest.mark.unit

MISSING, INVALID, PARAM = 131008, 131009, 100


def envelope(kind: str | None, content: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "250788123456"}
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
            "action": {"name": "cta_url", "parameters": {"display_text": "Pay", "url": "https://pay.example"}},
        },
    ),
    "location": envelope("location", {"latitude": -1.9441, "longitude": 30.0619, "name": "Kigali"}),
    "location at the poles": envelope("location", {"latitude": 90, "longitude": -180}),
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


def edit(base: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body = copy.deepcopy(base)
    change(body)
    return body


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets ``path`` (dotted, with ``[i]`` indexes) to ``value``, or deletes it for DELETE."""

    def change(body: dict[str, Any]) -> None:
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

    return change


DELETE = object()
BTN = "interactive.action.buttons"
SEC = "interactive.action.sections"

# (case id, base body, change, expected code, expected path, words the message must contain)
BROKEN: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], None], int, str, tuple[str, ...]]] = [
    # envelope
    ("no messaging_product", VALID["text"], _set("messaging_product", DELETE), PARAM, "messaging_product", ()),
    ("wrong messaging_product", VALID["text"], _set("messaging_product", "sms"), PARAM, "messaging_product",
     ("'sms'",)),
    ("missing to", VALID["text"], _set("to", DELETE), MISSING, "to", ("to is required",)),
    ("null to", VALID["text"], _set("to", None), MISSING, "to", ()),
    ("to with letters", VALID["text"], _set("to", "25078abc456"), INVALID, "to", ("8-15 digits",)),
    ("to too short", VALID["text"], _set("to", "+1234567"), INVALID, "to", ()),
    ("to too long", VALID["text"], _set("to", "1234567890123456"), INVALID, "to", ()),
    ("to as a number", VALID["text"], _set("to", 250788123456), PARAM, "to", ("string",)),
    ("bad recipient_type", VALID["text"], _set("recipient_type", "group"), PARAM, "recipient_type", ()),
    ("bad type", VALID["text"], _set("type", "carousel"), PARAM, "type", ("'carousel'",)),
    ("type object missing", VALID["image by link"], _set("image", DELETE), MISSING, "image", ()),
    ("type object not an object", VALID["text"], _set("text", "hello"), PARAM, "text", ("object",)),
    # text
    ("text body 4097 chars", VALID["text"], _set("text.body", "a" * 4097), INVALID, "text.body",
     ("4096", "4097")),
    ("empty text body", VALID["text"], _set("text.body", ""), INVALID, "text.body", ("empty",)),
    ("missing text body", VALID["text"], _set("text.body", DELETE), MISSING, "text.body", ()),
    ("preview_url not bool", VALID["text"], _set("text.preview_url", "yes"), PARAM, "text.preview_url", ()),
    # interactive, common
    ("interactive type product", buttons(), _set("interactive.type", "product"), INVALID, "interactive.type",
     ("'product'",)),
    ("interactive body missing", buttons(), _set("interactive.body", DELETE), MISSING, "interactive.body.text",
     ()),
    ("interactive body 1025", buttons(), _set("interactive.body.text", "b" * 1025), INVALID,
     "interactive.body.text", ("1024", "1025")),
    ("header 61", buttons(), _set("interactive.header.text", "h" * 61), INVALID, "interactive.header.text",
     ("60", "61")),
    ("footer 61", buttons(), _set("interactive.footer.text", "f" * 61), INVALID, "interactive.footer.text",
     ("60", "61")),
    ("list with image header", list_message(), _set("interactive.header", {"type": "image", "image": {}}),
     INVALID, "interactive.header.type", ("'image'",)),
    ("action missing", buttons(), _set("interactive.action", DELETE), MISSING, "interactive.action", ()),
    # buttons
    ("4 buttons", buttons(4), lambda b: None, INVALID, BTN, ("at most 3 buttons, got 4",)),
    ("0 buttons", buttons(0), lambda b: None, INVALID, BTN, ("at least 1 button, got 0",)),
    ("21-char title", buttons(), _set(f"{BTN}[1].reply.title", "x" * 21), INVALID, f"{BTN}[1].reply.title",
     ("20", "21")),
    ("empty title", buttons(), _set(f"{BTN}[0].reply.title", ""), INVALID, f"{BTN}[0].reply.title",
     ("empty",)),
    ("257-char id", buttons(), _set(f"{BTN}[2].reply.id", "i" * 257), INVALID, f"{BTN}[2].reply.id",
     ("256", "257")),
    ("duplicate button ids", buttons(), _set(f"{BTN}[2].reply.id", "btn_0"), INVALID, f"{BTN}[2].reply.id",
     ("unique", "'btn_0'")),
    ("duplicate button titles", buttons(), _set(f"{BTN}[1].reply.title", "Choice 0"), INVALID,
     f"{BTN}[1].reply.title", ("unique",)),
    ("button type url", buttons(), _set(f"{BTN}[0].type", "url"), INVALID, f"{BTN}[0].type", ("'reply'",)),
    # lists
    ("11 rows", list_message(1, 11), lambda b: None, INVALID, f"{SEC}[0].rows", ("at most 10 rows, got 11",)),
    ("11 rows over sections", list_message(2, 6) | {}, _set(f"{SEC}[1].rows", [
        {"id": f"r{i}", "title": "t"} for i in range(5)]), INVALID, SEC, ("at most 10 rows in total, got 11",)),
    ("11 sections", list_message(11, 0), _set(SEC, [{"title": f"S{i}", "rows": [{"id": f"r{i}", "title": "t"}]}
                                                    for i in range(11)]),
     INVALID, SEC, ("at most 10 sections, got 11",)),
    ("no sections", list_message(), _set(SEC, []), INVALID, SEC, ("at least 1 section",)),
    ("empty section", list_message(2, 2), _set(f"{SEC}[1].rows", []), INVALID, f"{SEC}[1].rows",
     ("at least 1 row",)),
    ("duplicate row ids across sections", list_message(), _set(f"{SEC}[1].rows[0].id", "row_0_0"), INVALID,
     f"{SEC}[1].rows[0].id", ("unique",)),
    ("row title 25", list_message(), _set(f"{SEC}[0].rows[1].title", "r" * 25), INVALID,
     f"{SEC}[0].rows[1].title", ("24", "25")),
    ("row description 73", list_message(), _set(f"{SEC}[0].rows[0].description", "d" * 73), INVALID,
     f"{SEC}[0].rows[0].description", ("72", "73")),
    ("row id 201", list_message(), _set(f"{SEC}[0].rows[0].id", "i" * 201), INVALID, f"{SEC}[0].rows[0].id",
     ("200", "201")),
    ("section title 25", list_message(), _set(f"{SEC}[0].title", "s" * 25), INVALID, f"{SEC}[0].title",
     ("24", "25")),
    ("untitled section among two", list_message(), _set(f"{SEC}[1].title", DELETE), MISSING, f"{SEC}[1].title",
     ()),
    ("list button 21", list_message(), _set("interactive.action.button", "b" * 21), INVALID,
     "interactive.action.button", ("20", "21")),
    ("list button missing", list_message(), _set("interactive.action.button", DELETE), MISSING,
     "interactive.action.button", ()),
    # location
    ("latitude 91", VALID["location"], _set("location.latitude", 91), INVALID, "location.latitude", ("91",)),
    ("longitude -181", VALID["location"], _set("location.longitude", -181.5), INVALID, "location.longitude",
     ("-180",)),
    ("latitude as text", VALID["location"], _set("location.latitude", "-1.9"), PARAM, "location.latitude",
     ("number",)),
    ("longitude missing", VALID["location"], _set("location.longitude", DELETE), MISSING, "location.longitude",
     ()),
    ("location name not a string", VALID["location"], _set("location.name", 7), PARAM, "location.name", ()),
    # media
    ("image with id and link", VALID["image by link"], _set("image.id", "123"), INVALID, "image", ("both",)),
    ("image with neither", VALID["image by link"], _set("image.link", DELETE), MISSING, "image", ()),
    ("caption 1025", VALID["video"], _set("video.caption", "c" * 1025), INVALID, "video.caption",
     ("1024", "1025")),
    # reaction
    ("reaction without message_id", VALID["reaction"], _set("reaction.message_id", DELETE), MISSING,
     "reaction.message_id", ()),
    ("reaction without emoji", VALID["reaction"], _set("reaction.emoji", DELETE), MISSING, "reaction.emoji", ()),
]


@pytest.mark.parametrize(("base", "change", "code", "path", "words"), [c[1:] for c in BROKEN],
                         ids=[c[0] for c in BROKEN])
def test_each_rule_is_reported_with_code_and_path(
    base: dict[str, Any], change: Callable[[dict[str, Any]], None], code: int, path: str, words: tuple[str, ...]
) -> None:
    violations = validate_outbound(edit(base, change))
    matching = [v for v in violations if v.path == path]
    assert matching, f"no violation at {path}; got {violations}"
    assert matching[0].code == code, violations
    for word in words:
        assert word in matching[0].message, matching[0].message


def test_violation_message_names_limit_and_value() -> None:
    assert validate_outbound(buttons(4)) == [
        RuleViolation(131009, BTN, "interactive button messages allow at most 3 buttons, got 4")
    ]


def test_lengths_count_characters_not_bytes() -> None:
    # 20 emoji are 80 UTF-8 bytes but 20 characters: a valid title.
    body = edit(buttons(), _set(f"{BTN}[0].reply.title", "🚕" * 20))
    assert validate_outbound(body) == []


def test_every_violation_is_reported_not_just_the_first() -> None:
    body = edit(buttons(4), _set(f"{BTN}[0].reply.title", "x" * 21))
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
    assert validate_outbound(edit(buttons(), _set(field, value)))
