"""What any WhatsApp Cloud API bot must do, whatever it is built with.

Bots differ in details (401 or 403 for a bad signature, the body of an error): these tests assert only
what the protocol requires, so they pass against any correct bot (see environments/example-any-bot.yaml).
"""

from __future__ import annotations

import secrets

import httpx
import pytest

from easymo_qa.target import Target
from easymo_qa.whatsapp import payloads
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


@pytest.mark.parametrize(
    ("mode", "token_kind"),
    [
        # With a wrong token: one of the only tests run against production.
        pytest.param("subscribe", "wrong token", id="wrong-token", marks=pytest.mark.readonly),
        pytest.param("unsubscribe", "right token", id="wrong-mode"),
    ],
)
@pytest.mark.rule("R-VERIFY-2")
def test_verify_handshake_refuses(
    http_client: httpx.Client, target: Target, mode: str, token_kind: str
) -> None:
    challenge = str(secrets.randbelow(10**9))
    token = target.verify_token if token_kind == "right token" else "not-" + secrets.token_hex(6)
    response = _verify(http_client, target, mode, token, challenge)
    assert 400 <= response.status_code < 500, (
        f"hub.mode={mode} with the {token_kind} answered {response.status_code}"
    )
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
