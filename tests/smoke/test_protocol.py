"""What any WhatsApp Cloud API bot must do, whatever it is built with.

Bots differ in details (401 or 403 for a bad signature, the body of an error): these tests assert only
what the protocol requires, so they pass against any correct bot (see environments/example-any-bot.yaml).

Since April 2026 Meta names every user by a business-scoped user id (BSUID) and a user with a username may
write with no phone at all (easymo_qa/whatsapp/identity.py): the last checks hold a bot to answering such
users at their BSUID, acknowledging statuses that name users by BSUID, and following a user whose BSUID
Meta re-issued.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import httpx
import pytest

from easymo_qa.target import Target
from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.identity import Identity, UserKind
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.signing import SIGNATURE_HEADER, encode_body, signature_for
from easymo_qa.whatsapp.user import WhatsAppUser

pytestmark = [pytest.mark.smoke, pytest.mark.protocol]


def _verify(
    http_client: httpx.Client, target: Target, mode: str, token: str, challenge: str
) -> httpx.Response:
    params = {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}
    return http_client.get(target.webhook_url, params=params)


@pytest.mark.critical
@pytest.mark.rule("R-VERIFY-1")
def test_verify_handshake_echoes_the_challenge(http_client: httpx.Client, target: Target) -> None:
    challenge = str(secrets.randbelow(10**9))
    response = _verify(http_client, target, "subscribe", target.verify_token, challenge)
    assert response.status_code == 200, (
        f"verify handshake with the right token answered {response.status_code}"
    )
    assert response.text.strip() == challenge, "the body must be exactly the hub.challenge value"


# A wrong token only: Meta's verification request always says hub.mode=subscribe, and an endpoint "must
# verify that the hub.verify_token value matches" and answer the challenge (Graph API "Webhooks: Getting
# started", Verification Requests). Refusing another mode is easyMO's own rule, checked in
# test_contract_edges.py; a bot that checks the token alone is a correct Cloud API bot.
@pytest.mark.readonly  # one of the only tests run against production
@pytest.mark.rule("R-VERIFY-2")
def test_verify_handshake_refuses(http_client: httpx.Client, target: Target) -> None:
    challenge = str(secrets.randbelow(10**9))
    response = _verify(http_client, target, "subscribe", "not-" + secrets.token_hex(6), challenge)
    assert 400 <= response.status_code < 500, f"hub.verify_token wrong: answered {response.status_code}"
    assert challenge not in response.text, "the challenge must not be echoed when verification fails"


def _unsigned(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json"}


def _garbage(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", SIGNATURE_HEADER: "sha256=" + secrets.token_hex(32)}


def _other_secret(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", SIGNATURE_HEADER: signature_for(body, secrets.token_hex(16))}


def _sha1_style(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature": "sha1=" + secrets.token_hex(20)}


@pytest.mark.critical
@pytest.mark.parametrize(
    "headers", [_unsigned, _garbage, _other_secret, _sha1_style], ids=lambda f: f.__name__.strip("_")
)
@pytest.mark.rule("R-SIG-1")
def test_badly_signed_message_is_rejected_and_not_answered(user: WhatsAppUser, headers) -> None:
    body = encode_body(user.webhook_for([payloads.text(user.phone, "hi")]))
    response = user.post_raw(body, headers(body))
    assert 400 <= response.status_code < 500, (
        f"a badly signed POST answered {response.status_code}, expected 4xx"
    )
    user.expect_no_reply()


@pytest.mark.critical
@pytest.mark.rule("R-HTTP-4", "R-ID-4", "R-KIND-1", "R-OUT-1")
def test_signed_text_gets_a_valid_reply(user: WhatsAppUser) -> None:
    user.send_text("hi")
    # The Graph API simulator only records messages that pass the Cloud API rules; invalid ones are listed
    # as rejections in the failure message.
    user.expect_reply()


@pytest.mark.rule("R-DEDUPE-1", "R-HTTP-4")
def test_same_wamid_delivered_twice_is_answered_once(user: WhatsAppUser) -> None:
    message = user.send_text("hello")
    user.expect_reply()
    user.expect_no_reply()  # let any further replies to the first delivery arrive first
    response = user.send(message, summary="the same message again (Meta retry, same wamid)")
    assert response.status_code == 200, (
        f"a redelivered message must still be acknowledged, got {response.status_code}"
    )
    user.expect_no_reply()


@pytest.mark.rule("R-STATUS-1", "R-HTTP-4")
def test_status_callbacks_are_acknowledged_without_reply(user: WhatsAppUser) -> None:
    user.send_text("hi")
    reply = user.expect_reply()
    for state in ("sent", "delivered", "read"):
        response = user.send_status(reply.wamid, state)
        assert response.status_code == 200, f"a '{state}' status callback answered {response.status_code}"
    user.expect_no_reply()


@pytest.mark.parametrize(
    "text",
    ["Café crème ☕ 😀", "Muraho neza! Amakuru y'uyu munsi? Ndashaka amazi", "مرحبا، أريد طلب ماء"],
    ids=["emoji-accents", "kinyarwanda", "arabic"],
)
@pytest.mark.rule("R-SIG-2")
def test_non_ascii_text_is_accepted_and_answered(user: WhatsAppUser, text: str) -> None:
    # Meta escapes non-ASCII as \\uXXXX and signs those exact bytes: a bot must verify the raw body.
    user.send_text(text)
    user.expect_reply()


# --- users named by BSUID (2026) ---------------------------------------------------------------------------

USERNAME_KINDS = ["phone_and_username", "username_only"]


def _of_kind(new_user: Callable[..., WhatsAppUser], kind: UserKind) -> WhatsAppUser:
    """A fresh simulated user whom the business sees as ``kind`` (the fixture makes phone users)."""
    user = new_user()
    user.identity = Identity(user.identity.phone, kind)
    return user


def _address(reply: OutboundMessage) -> str:
    """Who the bot addressed a message to: ``recipient`` (a BSUID) or ``to`` (a phone, digits)."""
    recipient = reply.body.get("recipient")
    if recipient:
        return str(recipient)
    return "".join(ch for ch in str(reply.body.get("to", "")) if ch.isdigit())


def _assert_addressed_to_the_user(user: WhatsAppUser, reply: OutboundMessage) -> None:
    """The reply names this user as the business knows him now: his current BSUID, or his phone only
    while Meta shows it (a username-only user's only address is his BSUID)."""
    mine = {user.bsuid} | ({user.identity.phone} if user.identity.phone_visible else set())
    assert _address(reply) in mine, (
        f"the reply to {user.label} was addressed to {_address(reply)!r}, expected "
        f"{' or '.join(sorted(mine))}: {reply.summary()}"
    )


@pytest.mark.parametrize("kind", USERNAME_KINDS)
@pytest.mark.rule("R-ID-7", "R-ID-8", "R-HTTP-4")
def test_a_user_with_a_username_is_answered_at_his_address(
    new_user: Callable[..., WhatsAppUser], kind: UserKind
) -> None:
    # A username-only user's webhook has no `from` and no `wa_id`, only `from_user_id` and
    # `contacts[].user_id` (https://developers.facebook.com/documentation/business-messaging/whatsapp/
    # business-scoped-user-ids/): the bot can only answer him by `recipient`, his BSUID.
    # (A phone user: test_signed_text_gets_a_valid_reply.)
    user = _of_kind(new_user, kind)
    user.send_text("hi")
    _assert_addressed_to_the_user(user, user.expect_reply())


@pytest.mark.parametrize("kind", USERNAME_KINDS)
@pytest.mark.rule("R-STATUS-1", "R-HTTP-4")
def test_statuses_naming_the_user_by_bsuid_are_acknowledged_without_reply(
    new_user: Callable[..., WhatsAppUser], target: Target, kind: UserKind
) -> None:
    user = _of_kind(new_user, kind)
    user.send_text("hi")
    reply = user.expect_reply()
    business = payloads.BusinessPhone(target.phone_number_id, target.display_phone_number)
    for state in ("delivered", "read"):
        item = payloads.status(user.identity, reply.wamid, state)
        payload = payloads.webhook(business, statuses=[item], identities=[user.identity])
        # Since 2026: recipient_user_id beside recipient_id (alone for a username-only user) and the
        # recipient's contacts[] entry with user_id (and username) beside the statuses.
        assert item["recipient_user_id"] == user.bsuid
        assert ("recipient_id" in item) is user.identity.phone_visible
        assert [c["user_id"] for c in payload["entry"][0]["changes"][0]["value"]["contacts"]] == [user.bsuid]
        response = user.post_payload(payload)
        assert 200 <= response.status_code < 300, (
            f"a '{state}' status naming {user.label} answered {response.status_code}"
        )
    user.expect_no_reply()


@pytest.mark.parametrize("shape", ["documented", "observed"])
@pytest.mark.rule("R-STATUS-1", "R-HTTP-4")
def test_failed_statuses_in_either_shape_are_acknowledged_without_reply(
    user: WhatsAppUser, target: Target, shape: str
) -> None:
    # Meta's "Business-scoped user IDs" page (updated 2026-06-29) leaves contacts out of failed statuses;
    # production payloads of 2026-08 carry contacts: [{wa_id}] with them (pywa issue #227, a 131026
    # "Message undeliverable" status). A bot meets both: each must be acknowledged, and nothing answered.
    user.send_text("hi")
    reply = user.expect_reply()
    business = payloads.BusinessPhone(target.phone_number_id, target.display_phone_number)
    item = payloads.status(user.identity, reply.wamid, "failed")
    payload = payloads.webhook(business, statuses=[item], identities=[user.identity])
    value = payload["entry"][0]["changes"][0]["value"]
    assert "contacts" not in value
    if shape == "observed":
        value["contacts"] = [{"wa_id": user.identity.phone}]
    response = user.post_payload(payload)
    assert 200 <= response.status_code < 300, f"a failed status ({shape}) answered {response.status_code}"
    user.expect_no_reply()


@pytest.mark.parametrize("kind", USERNAME_KINDS)
@pytest.mark.rule("R-ID-8", "R-ID-10", "R-HTTP-4")
def test_a_new_bsuid_does_not_lose_the_conversation(
    new_user: Callable[..., WhatsAppUser], target: Target, kind: UserKind
) -> None:
    # Meta re-issues a user's BSUID and tells the business with a `user_changed_user_id` system message
    # ("System messages webhook reference", updated 2026-08-11:
    # https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/system/);
    # the user then writes under the new id. He must still be answered, at the new id (or his phone while
    # Meta shows it), never at the retired one.
    user = _of_kind(new_user, kind)
    user.send_text("hi")
    _assert_addressed_to_the_user(user, user.expect_reply())
    retired = user.bsuid
    user.change_bsuid()
    assert user.bsuid != retired
    # Whether a bot answers the notice itself is up to it; never at the retired id.
    user.expect_nothing_unclaimed(
        target.no_reply_seconds,
        may_skip=lambda m: None if _address(m) == retired else "an answer to the system message",
        title=f"after user_changed_user_id the bot wrote to the retired BSUID {retired}",
        expected=f"nothing addressed to {retired}",
    )
    user.send_text("menu")
    _assert_addressed_to_the_user(user, user.expect_reply())
