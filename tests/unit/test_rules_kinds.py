"""The message kinds Meta documents beyond what easyMO sends: each valid one passes, each limit is
refused with Graph's code at the field's path (easymo_qa.whatsapp.rules; docs/outbound-messages.md)."""

from __future__ import annotations

from typing import Any

import pytest
from test_graph_rules import DELETE, INVALID, MISSING, PARAM, edited, envelope

from easymo_qa.whatsapp import ids
from easymo_qa.whatsapp.rules.request import is_status_update, validate_outbound

pytestmark = pytest.mark.unit

CALLING_NOT_ENABLED = 138000
BSUID = "RW.123456789"


def interactive(kind: str, action: dict[str, Any], **parts: Any) -> dict[str, Any]:
    return envelope("interactive", {"type": kind, "body": {"text": "Pick one"}, **parts, "action": action})


def media_card(i: int, buttons: int = 2) -> dict[str, Any]:
    replies = [
        {"type": "quick_reply", "quick_reply": {"id": f"c{i}b{j}", "title": f"Pick {j}"}}
        for j in range(buttons)
    ]
    return {
        "card_index": i,
        "type": "cta_url",
        "header": {"type": "image", "image": {"link": f"https://cdn.example/{i}.jpg"}},
        "body": {"text": f"Card {i}"},
        "action": {"buttons": replies},
    }


def product_list(*counts: int) -> dict[str, Any]:
    sections = [
        {"title": f"Shelf {s}", "product_items": [{"product_retailer_id": f"sku{s}.{i}"} for i in range(n)]}
        for s, n in enumerate(counts)
    ]
    return interactive(
        "product_list",
        {"catalog_id": "cat1", "sections": sections},
        header={"type": "text", "text": "Our shop"},
    )


FLOW = interactive(
    "flow",
    {
        "name": "flow",
        "parameters": {"flow_message_version": "3", "flow_cta": "Book now", "flow_id": "1197715"},
    },
)
CAROUSEL = envelope(
    "interactive",
    {"type": "carousel", "body": {"text": "Our picks"}, "action": {"cards": [media_card(0), media_card(1)]}},
)
CONTACTS = envelope("contacts", None)
CONTACTS["contacts"] = [{"name": {"formatted_name": "Aline M."}, "phones": [{"phone": "+250788000111"}]}]
TEMPLATE = envelope("template", {"name": "order_ready", "language": {"code": "rw"}})
READ = {"messaging_product": "whatsapp", "status": "read", "message_id": ids.new_wamid("250788123456")}

VALID: dict[str, dict[str, Any]] = {
    "contacts (an array of cards)": CONTACTS,
    "template": TEMPLATE,
    "location request": interactive("location_request_message", {"name": "send_location"}),
    "flow by id": FLOW,
    "flow by name": edited(
        FLOW,
        {
            "interactive.action.parameters.flow_id": DELETE,
            "interactive.action.parameters.flow_name": "booking",
        },
    ),
    "single product": interactive("product", {"catalog_id": "cat1", "product_retailer_id": "sku1"}),
    "product list of 30": product_list(10, 10, 10),
    "catalog": interactive(
        "catalog_message",
        {"name": "catalog_message", "parameters": {"thumbnail_product_retailer_id": "sku1"}},
    ),
    "media carousel with quick replies": CAROUSEL,
    "media carousel with URL buttons": edited(
        CAROUSEL,
        {
            f"interactive.action.cards[{i}].action": {
                "name": "cta_url",
                "parameters": {"display_text": "Buy", "url": "https://shop.example"},
            }
            for i in range(2)
        },
    ),
    "product carousel": envelope(
        "interactive",
        {
            "type": "carousel",
            "body": {"text": "Our picks"},
            "action": {
                "cards": [
                    {
                        "card_index": i,
                        "type": "product",
                        "action": {"catalog_id": "cat1", "product_retailer_id": f"sku{i}"},
                    }
                    for i in range(2)
                ]
            },
        },
    ),
    "cta_url with a text header": interactive(
        "cta_url",
        {"name": "cta_url", "parameters": {"display_text": "See Dates", "url": "https://shop.example"}},
        header={"type": "text", "text": "New dates"},
    ),
    "request contact info": interactive("request_contact_info", {"name": "request_contact_info"}),
    "flow with a 30-character cta (advised, not enforced)": edited(
        FLOW, {"interactive.action.parameters.flow_cta": "c" * 30}
    ),
    "carousel with card indexes 0 and 7": edited(CAROUSEL, {"interactive.action.cards[1].card_index": 7}),
    "addressed by BSUID": edited(envelope("text", {"body": "hi"}), {"to": DELETE, "recipient": BSUID}),
    # Both: to takes precedence (https://dualhook.com/docs/contacts-bsuid-api-changes), no error.
    "addressed by phone and BSUID": edited(envelope("text", {"body": "hi"}), {"recipient": BSUID}),
    "mark as read": READ,
    "typing indicator": {**READ, "typing_indicator": {"type": "text"}},
}


@pytest.mark.parametrize("body", VALID.values(), ids=VALID.keys())
def test_valid_kinds_pass(body: dict[str, Any]) -> None:
    assert validate_outbound(body) == []


CARDS = "interactive.action.cards"
BROKEN = [
    (
        "contacts as one object",
        CONTACTS,
        {"contacts": {"name": {"formatted_name": "A"}}},
        PARAM,
        "contacts",
        "array",
    ),
    ("no contact", CONTACTS, {"contacts": []}, INVALID, "contacts", "at least 1 contact"),
    ("contact without name", CONTACTS, {"contacts[0].name": DELETE}, MISSING, "contacts[0].name", ""),
    ("template without name", TEMPLATE, {"template.name": DELETE}, MISSING, "template.name", "required"),
    ("template without language", TEMPLATE, {"template.language": DELETE}, MISSING, "template.language", ""),
    (
        "template language without code",
        TEMPLATE,
        {"template.language": {}},
        MISSING,
        "template.language.code",
        "",
    ),
    (
        "location request body 1025",
        VALID["location request"],
        {"interactive.body.text": "b" * 1025},
        INVALID,
        "interactive.body.text",
        "1024",
    ),
    (
        "location request wrong action",
        VALID["location request"],
        {"interactive.action.name": "share"},
        INVALID,
        "interactive.action.name",
        "'send_location'",
    ),
    (
        "flow cta empty",
        FLOW,
        {"interactive.action.parameters.flow_cta": ""},
        INVALID,
        "interactive.action.parameters.flow_cta",
        "empty",
    ),
    (
        "flow without cta",
        FLOW,
        {"interactive.action.parameters.flow_cta": DELETE},
        MISSING,
        "interactive.action.parameters.flow_cta",
        "",
    ),
    (
        "flow with id and name",
        FLOW,
        {"interactive.action.parameters.flow_name": "x"},
        INVALID,
        "interactive.action.parameters",
        "exactly one",
    ),
    (
        "flow version 2",
        FLOW,
        {"interactive.action.parameters.flow_message_version": "2"},
        INVALID,
        "interactive.action.parameters.flow_message_version",
        "'3'",
    ),
    (
        "product without retailer id",
        VALID["single product"],
        {"interactive.action.product_retailer_id": DELETE},
        MISSING,
        "interactive.action.product_retailer_id",
        "",
    ),
    (
        "product list of 31",
        product_list(10, 10, 11),
        {},
        INVALID,
        "interactive.action.sections",
        "at most 30 products in total, got 31",
    ),
    (
        "product list of 11 sections",
        product_list(*[1] * 11),
        {},
        INVALID,
        "interactive.action.sections",
        "at most 10 sections",
    ),
    (
        "product list without header",
        product_list(3),
        {"interactive.header": DELETE},
        MISSING,
        "interactive.header",
        "",
    ),
    ("catalog without body", VALID["catalog"], {"interactive.body": DELETE}, MISSING, "interactive.body", ""),
    (
        "carousel of 1 card",
        CAROUSEL,
        {f"{CARDS}": [media_card(0)]},
        INVALID,
        CARDS,
        "at least 2 cards, got 1",
    ),
    (
        "carousel of 11 cards",
        CAROUSEL,
        {f"{CARDS}": [media_card(i) for i in range(11)]},
        INVALID,
        CARDS,
        "at most 10 cards, got 11",
    ),
    (
        "carousel cards unlike",
        CAROUSEL,
        {f"{CARDS}[1]": media_card(1, buttons=1)},
        INVALID,
        CARDS,
        "same type",
    ),
    (
        "carousel card body 161",
        CAROUSEL,
        {f"{CARDS}[0].body.text": "c" * 161},
        INVALID,
        f"{CARDS}[0].body.text",
        "160",
    ),
    (
        "carousel card with text header",
        CAROUSEL,
        {f"{CARDS}[0].header": {"type": "text", "text": "hi"}},
        INVALID,
        f"{CARDS}[0].header.type",
        "'text'",
    ),
    (
        "carousel with a header",
        CAROUSEL,
        {"interactive.header": {"type": "text", "text": "hi"}},
        INVALID,
        "interactive",
        "no header",
    ),
    ("carousel card indexes repeat", CAROUSEL, {f"{CARDS}[1].card_index": 0}, INVALID, CARDS, "repeat"),
    (
        "carousel card index 10",
        CAROUSEL,
        {f"{CARDS}[1].card_index": 10},
        INVALID,
        f"{CARDS}[1].card_index",
        "",
    ),
    (
        "carousel card body of 3 line breaks",
        CAROUSEL,
        {f"{CARDS}[0].body.text": "a\nb\nc\nd"},
        INVALID,
        f"{CARDS}[0].body.text",
        "line breaks",
    ),
    (
        "carousel card header by uploaded id",
        CAROUSEL,
        {f"{CARDS}[0].header.image": {"id": "1013859600285441"}},
        MISSING,
        f"{CARDS}[0].header.image.link",
        "",
    ),
    (
        "product card with buttons",
        VALID["product carousel"],
        {f"{CARDS}[0].action.buttons": [{"type": "quick_reply", "quick_reply": {"id": "a", "title": "A"}}]},
        INVALID,
        f"{CARDS}[0]",
        "no buttons",
    ),
    (
        "cta_url without body",
        VALID["cta_url with a text header"],
        {"interactive.body": DELETE},
        MISSING,
        "interactive.body",
        "",
    ),
    (
        "single product with a header",
        VALID["single product"],
        {"interactive.header": {"type": "text", "text": "Shoes"}},
        INVALID,
        "interactive.header",
        "no header",
    ),
    ("258 contacts", CONTACTS, {"contacts": CONTACTS["contacts"] * 258}, INVALID, "contacts", "257"),
    (
        "request_contact_info without body",
        VALID["request contact info"],
        {"interactive.body": DELETE},
        MISSING,
        "interactive.body",
        "",
    ),
    (
        "voice call",
        interactive("voice_call", {"name": "voice_call"}),
        {},
        CALLING_NOT_ENABLED,
        "interactive",
        "calling APIs are not enabled",
    ),
    (
        "voice call display text 21",
        interactive("voice_call", {"name": "voice_call", "parameters": {"display_text": "c" * 21}}),
        {},
        INVALID,
        "interactive.action.parameters.display_text",
        "20",
    ),
    (
        "voice call ttl 0 minutes",
        interactive("voice_call", {"name": "voice_call", "parameters": {"ttl_minutes": 0}}),
        {},
        INVALID,
        "interactive.action.parameters.ttl_minutes",
        "",
    ),
    (
        "call permission request",
        interactive("call_permission_request", {"name": "call_permission_request"}),
        {},
        CALLING_NOT_ENABLED,
        "interactive",
        "calling APIs are not enabled",
    ),
    (
        "to and a recipient that is no BSUID",
        VALID["addressed by BSUID"],
        {"to": "250788123456", "recipient": "250788123456"},
        INVALID,
        "recipient",
        "business-scoped",
    ),
    (
        "neither to nor recipient",
        VALID["addressed by BSUID"],
        {"recipient": DELETE},
        MISSING,
        "to",
        "recipient",
    ),
    (
        "recipient not a BSUID",
        VALID["addressed by BSUID"],
        {"recipient": "250788123456"},
        INVALID,
        "recipient",
        "business-scoped",
    ),
    ("read without message_id", READ, {"message_id": DELETE}, MISSING, "message_id", ""),
    (
        "read of no wamid",
        READ,
        {"message_id": "ABGGFlA5FpafAgo6EhVsFnNjB7vVm8"},
        INVALID,
        "message_id",
        "wamid",
    ),
    ("status other than read", READ, {"status": "delivered"}, INVALID, "status", "'read'"),
    (
        "typing indicator not text",
        VALID["typing indicator"],
        {"typing_indicator.type": "audio"},
        INVALID,
        "typing_indicator.type",
        "'text'",
    ),
]


@pytest.mark.parametrize(
    ("name", "base", "changes", "code", "path", "word"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_each_limit_is_refused_with_code_and_path(
    name: str, base: dict[str, Any], changes: dict[str, Any], code: int, path: str, word: str
) -> None:
    violations = validate_outbound(edited(base, changes))
    at_path = [v for v in violations if v.path == path]
    assert at_path, f"no violation at {path}; got {violations}"
    assert at_path[0].code == code, violations
    assert word in at_path[0].message, at_path[0].message


def test_only_status_requests_are_status_updates() -> None:
    assert is_status_update(READ)
    assert not is_status_update(TEMPLATE)
