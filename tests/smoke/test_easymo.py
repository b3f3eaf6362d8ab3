"""The easyMO-specific webhook contract: health, home menu, guards, limits, envelope filtering."""

from __future__ import annotations

import json

import httpx
import pytest

from easymo_qa.target import Target
from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.expect import Expectation
from easymo_qa.whatsapp.signing import encode_body, signed_headers
from easymo_qa.whatsapp.user import WhatsAppUser

pytestmark = [pytest.mark.smoke, pytest.mark.easymo, pytest.mark.needs("easymo")]

HOME_ROWS = ("buyer_search", "my_orders", "support_help")
MAX_BODY = 256 * 1024


@pytest.mark.critical
@pytest.mark.readonly  # one of the only tests run against production
@pytest.mark.rule("R-HEALTH-1")
def test_health(http_client: httpx.Client, target: Target) -> None:
    if not target.health_url:
        pytest.skip(f"not covered: environment {target.env_name!r} declares no webhook.health_url")
    response = http_client.get(target.health_url)
    assert response.status_code == 200, f"health answered {response.status_code}: {response.text[:200]}"
    kind = response.headers.get("content-type", "")
    assert kind.startswith("application/json"), f"health must be JSON, not {kind!r}: {response.text[:200]}"
    assert response.json().get("status") == "ok", f"health body: {response.text[:200]}"


@pytest.mark.critical
@pytest.mark.rule("R-HOME-1", "R-HOME-2", "R-ID-6")
def test_greeting_gets_the_home_menu(new_user) -> None:
    user = new_user(name="Aimée Uwase 🌍")
    user.send_text("hi")
    menu = user.expect_reply("list", rows=HOME_ROWS)
    assert "Aimée Uwase" in menu.text, f"the greeting should name the user intact, got {menu.text!r}"


@pytest.mark.rule("R-ID-6")
def test_the_greeting_follows_a_profile_name_change(new_user) -> None:
    # WhatsApp sends the profile name with every message: a renamed user is greeted by the new name,
    # whichever way the names sort.
    # A message that comes without a profile (no contacts[]) is greeted by the name last seen.
    user = new_user(name="Mugisha")
    for name in ("Mugisha", "Zawadi", "Bosco"):
        user.name = name
        user.send_text("hi")
        menu = user.expect_reply("list", rows=HOME_ROWS)
        assert f"Hello {name}!" in menu.text, f"greeted {menu.text!r} after the profile name became {name!r}"
        payload = user.webhook_for([payloads.text(user.phone, "hi")])
        del payload["entry"][0]["changes"][0]["value"]["contacts"]
        assert user.post_payload(payload).status_code == 200
        menu = user.expect_reply("list", rows=HOME_ROWS, within=5)
        assert f"Hello {name}!" in menu.text, f"greeted {menu.text!r} without a profile; last name: {name!r}"


@pytest.mark.parametrize("word", ["home", "menu", "MENU", " Home "])
@pytest.mark.rule("R-GUARD-1")
def test_home_words_show_the_home_menu(user: WhatsAppUser, word: str) -> None:
    user.send_text(word)
    user.expect_reply("list", rows=HOME_ROWS)


@pytest.mark.rule("R-GUARD-1")
def test_back_home_button_shows_the_home_menu(user: WhatsAppUser) -> None:
    user.tap_button("back_home", "🏠 Home")
    user.expect_reply("list", rows=HOME_ROWS)


@pytest.mark.rule("R-OPTOUT-1")
def test_stop_opts_out_until_start(user: WhatsAppUser) -> None:
    user.send_text("STOP")
    user.expect_reply("text", text=r"\bstart\b")
    user.send_text("hi")
    user.expect_no_reply()
    user.send_text("start")
    user.expect_replies([Expectation("text", r"opt|welcome"), Expectation("list", rows=HOME_ROWS)])


@pytest.mark.rule("R-HTTP-2")
def test_oversized_body_is_refused_with_413(user: WhatsAppUser) -> None:
    message = payloads.text(user.phone, "x" * (MAX_BODY + 1024))
    response = user.post_payload(user.webhook_for([message]))
    assert response.status_code == 413, f"a {MAX_BODY // 1024} KiB+ body answered {response.status_code}"


@pytest.mark.rule("R-HTTP-3")
def test_bad_json_with_valid_signature_is_refused_with_400(user: WhatsAppUser) -> None:
    body = b'{"object": "whatsapp_business_account", "entry": ['
    response = user.post_raw(body, signed_headers(body, user.target.app_secret))
    assert response.status_code == 400, f"signed invalid JSON answered {response.status_code}"


@pytest.mark.rule("R-HTTP-1")
def test_other_methods_are_refused_with_405(http_client: httpx.Client, target: Target) -> None:
    response = http_client.put(target.webhook_url, content=b"{}")
    assert response.status_code == 405, f"PUT answered {response.status_code}"


@pytest.mark.rule("R-ID-2", "R-HTTP-4")
def test_message_for_another_phone_number_id_is_ignored(user: WhatsAppUser) -> None:
    payload = user.webhook_for([payloads.text(user.phone, "hi")], phone_number_id="999999999999999")
    response = user.post_payload(payload)
    assert response.status_code == 200, (
        f"a foreign phone_number_id must be acknowledged, got {response.status_code}"
    )
    user.expect_no_reply()


@pytest.mark.rule("R-ID-5")
def test_batch_of_two_users_answers_both(new_user) -> None:
    first, second = new_user(), new_user()
    payload = first.webhook_for([payloads.text(first.phone, "hi"), payloads.text(second.phone, "menu")])
    body = encode_body(payload)
    response = first.post_raw(body, signed_headers(body, first.target.app_secret))
    assert response.status_code == 200, json.dumps(payload)[:200]
    first.expect_reply("list", rows=HOME_ROWS)
    second.expect_reply("list", rows=HOME_ROWS)
