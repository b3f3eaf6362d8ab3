"""Webhook payload builders and signing (easymo_qa.whatsapp.payloads / signing) against Meta's shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from easymo_qa.whatsapp import ids, payloads, signing

pytestmark = pytest.mark.unit

BUSINESS = payloads.BusinessPhone(phone_number_id="106540352242922", display_phone_number="15550783881")
USER = "250788123456"

# HMAC-SHA256 keyed "It's a Secret to Everybody" over b"Hello, World!", computed independently
# (python -c "import hmac, hashlib; print(hmac.new(b\"It's a Secret to Everybody\", b'Hello, World!',
# hashlib.sha256).hexdigest())") and written out literally so the test does not re-derive it.
KNOWN_SECRET = "It's a Secret to Everybody"
KNOWN_BODY = b"Hello, World!"
KNOWN_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


# --- signing ---------------------------------------------------------------------------------------------


def test_signature_matches_known_vector() -> None:
    assert signing.signature_for(KNOWN_BODY, KNOWN_SECRET) == KNOWN_SIGNATURE


def test_verify_accepts_known_vector_and_rejects_tampering() -> None:
    assert signing.verify_signature(KNOWN_BODY, KNOWN_SIGNATURE, KNOWN_SECRET)
    assert not signing.verify_signature(KNOWN_BODY + b" ", KNOWN_SIGNATURE, KNOWN_SECRET)
    assert not signing.verify_signature(KNOWN_BODY, KNOWN_SIGNATURE, KNOWN_SECRET + "x")
    assert not signing.verify_signature(KNOWN_BODY, KNOWN_SIGNATURE.removeprefix("sha256="), KNOWN_SECRET)
    assert not signing.verify_signature(KNOWN_BODY, None, KNOWN_SECRET)
    assert not signing.verify_signature(KNOWN_BODY, "", KNOWN_SECRET)


def test_signed_headers_carry_the_signature_of_the_body() -> None:
    headers = signing.signed_headers(KNOWN_BODY, KNOWN_SECRET)
    assert headers["X-Hub-Signature-256"] == KNOWN_SIGNATURE
    assert headers["Content-Type"] == "application/json"


# --- body encoding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("é", b"\\u00e9"),
        ("😀", b"\\ud83d\\ude00"),  # outside the BMP: a UTF-16 surrogate pair, as Meta sends it
        ("Muraho neza, amakuru?", b"Muraho neza, amakuru?"),  # Kinyarwanda is plain ASCII
        ("مرحبا", b"\\u0645\\u0631\\u062d\\u0628\\u0627"),
    ],
    ids=["latin-accent", "emoji", "kinyarwanda", "arabic"],
)
def test_encode_body_escapes_non_ascii_and_round_trips(text: str, escaped: bytes) -> None:
    body = signing.encode_body({"text": {"body": text}})
    assert body == b'{"text":{"body":"' + escaped + b'"}}'
    assert body.isascii()
    assert json.loads(body) == {"text": {"body": text}}


def test_encode_body_is_compact() -> None:
    assert signing.encode_body({"a": [1, 2], "b": None}) == b'{"a":[1,2],"b":null}'


# --- payload shapes --------------------------------------------------------------------------------------


def _value(payload: dict[str, Any]) -> dict[str, Any]:
    """Check the envelope Meta always sends and return ``entry[0].changes[0].value``."""
    assert payload["object"] == "whatsapp_business_account"
    [entry] = payload["entry"]
    assert entry["id"] == BUSINESS.waba_id
    [change] = entry["changes"]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {
        "display_phone_number": BUSINESS.display_phone_number,
        "phone_number_id": BUSINESS.phone_number_id,
    }
    return value


MESSAGES = {
    "text": (payloads.text(USER, "Muraho"), "text", {"body": "Muraho"}),
    "button_reply": (
        payloads.button_reply(USER, "ride_yes", "Yes", context_id="wamid.prev"),
        "interactive",
        {"type": "button_reply", "button_reply": {"id": "ride_yes", "title": "Yes"}},
    ),
    "list_reply": (
        payloads.list_reply(USER, "driver_1", "Jean", "2 km", context_id="wamid.prev"),
        "interactive",
        {"type": "list_reply", "list_reply": {"id": "driver_1", "title": "Jean", "description": "2 km"}},
    ),
    "location": (
        payloads.location(USER, -1.9441, 30.0619, name="Kigali", address="KN 4 Ave"),
        "location",
        {"latitude": -1.9441, "longitude": 30.0619, "name": "Kigali", "address": "KN 4 Ave"},
    ),
    "reaction": (
        payloads.reaction(USER, "wamid.prev", "👍"),
        "reaction",
        {"message_id": "wamid.prev", "emoji": "👍"},
    ),
}


@pytest.mark.parametrize(("message", "kind", "content"), MESSAGES.values(), ids=MESSAGES.keys())
def test_message_webhooks_have_metas_shape(
    message: dict[str, Any], kind: str, content: dict[str, Any]
) -> None:
    value = _value(payloads.webhook(BUSINESS, [message], profile_names={USER: "Aline"}))
    bsuid = ids.bsuid_for(USER)
    assert value["contacts"] == [{"profile": {"name": "Aline"}, "wa_id": USER, "user_id": bsuid}]
    [sent] = value["messages"]
    assert sent["from"] == USER
    assert sent["from_user_id"] == bsuid  # 2026: every message names its sender's BSUID
    assert ids.BSUID.fullmatch(bsuid)
    assert sent["id"].startswith("wamid.")
    assert sent["timestamp"].isdigit()
    assert sent["type"] == kind
    assert sent[kind] == content
    assert "statuses" not in value
    if "context" in sent:
        # Replies point back at the business message that was tapped, sent from the business number.
        assert sent["context"] == {"from": BUSINESS.display_phone_number, "id": "wamid.prev"}


@pytest.mark.parametrize("kind", ["image", "audio", "document", "sticker", "video"])
def test_media_messages_carry_id_mime_type_and_hash(kind: Any) -> None:
    value = _value(payloads.webhook(BUSINESS, [payloads.media(USER, kind, caption="look")]))
    [sent] = value["messages"]
    assert sent["type"] == kind
    media = sent[kind]
    assert media["id"].isdigit()
    assert media["mime_type"]
    assert media["sha256"]
    assert ("caption" in media) == (kind in ("image", "document", "video"))
    if kind == "document":
        assert media["filename"]


def test_one_contact_per_sender() -> None:
    other = "250722000111"
    messages = [payloads.text(USER, "a"), payloads.text(other, "b"), payloads.text(USER, "c")]
    value = _value(payloads.webhook(BUSINESS, messages))
    assert [c["wa_id"] for c in value["contacts"]] == [USER, other]
    assert all(c["profile"]["name"] for c in value["contacts"])


@pytest.mark.parametrize("state", ["sent", "delivered", "read", "failed"])
def test_status_webhooks_have_metas_shape(state: payloads.StatusName) -> None:
    value = _value(payloads.webhook(BUSINESS, statuses=[payloads.status(USER, "wamid.out", state)]))
    assert "messages" not in value
    [status] = value["statuses"]
    if state == "failed":  # whether Meta adds BSUIDs to failed statuses is still *check*
        assert "contacts" not in value
        assert "recipient_user_id" not in status
    else:  # 2026: sent / delivered / read name the recipient's BSUID, with a contacts entry beside them
        assert status["recipient_user_id"] == ids.bsuid_for(USER)
        contact = {"profile": {"name": "Test User"}, "wa_id": USER, "user_id": ids.bsuid_for(USER)}
        assert value["contacts"] == [contact]
    assert status["id"] == "wamid.out"
    assert status["status"] == state
    assert status["recipient_id"] == USER
    assert status["timestamp"].isdigit()
    if state == "failed":
        [error] = status["errors"]
        assert isinstance(error["code"], int)
        assert error["title"]
    else:
        assert "errors" not in status


def test_a_users_bsuid_is_stable_and_differs_between_users() -> None:
    assert ids.bsuid_for(USER) == ids.bsuid_for(USER)
    assert ids.bsuid_for(USER) != ids.bsuid_for("250722000111")


def test_new_wamid_is_unique() -> None:
    wamids = {payloads.new_wamid() for _ in range(10_000)}
    assert len(wamids) == 10_000
    assert all(i.startswith("wamid.") for i in wamids)
