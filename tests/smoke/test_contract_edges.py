"""Contract rules no journey walks through: payloads to ignore, a wallet short of the total, hubs of roles
the user does not have, the buyer's order list (see docs/*-contract.md for each rule)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

import httpx
import pytest

from easymo_qa.target import Target
from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.user import WhatsAppUser

pytestmark = [pytest.mark.smoke, pytest.mark.easymo, pytest.mark.needs("easymo")]

HOME_ROWS = ("buyer_search", "my_orders", "support_help")
SEARCH, OFFER, DROPOFF = "2 jerrycans of water near Kimironko", "offer:kim-water-20l", (-1.9441, 30.1032)


@pytest.mark.rule("R-VERIFY-2")
def test_verify_handshake_refuses_another_mode(http_client: httpx.Client, target: Target) -> None:
    # easyMO's rule, stricter than Meta's (which only asks for the token): tests/smoke/test_protocol.py
    # holds any bot to the token.
    challenge = str(secrets.randbelow(10**9))
    params = {"hub.mode": "unsubscribe", "hub.verify_token": target.verify_token, "hub.challenge": challenge}
    response = http_client.get(target.webhook_url, params=params)
    assert 400 <= response.status_code < 500, f"hub.mode=unsubscribe answered {response.status_code}"
    assert challenge not in response.text, "the challenge must not be echoed when verification fails"


@pytest.mark.rule("R-ID-1", "R-HTTP-4")
def test_a_payload_that_is_not_whatsapp_business_account_is_ignored(user: WhatsAppUser) -> None:
    payload = {**user.webhook_for([payloads.text(user.phone, "hi")]), "object": "page"}
    response = user.post_payload(payload)
    assert response.status_code == 200, f"an object other than WhatsApp's answered {response.status_code}"
    user.expect_no_reply()


@pytest.mark.rule("R-ID-3")
def test_a_message_without_a_type_is_ignored_and_the_rest_answered(user: WhatsAppUser) -> None:
    broken = payloads.text(user.phone, "menu")
    del broken["type"]
    response = user.post_payload(user.webhook_for([broken, payloads.text(user.phone, "hi")]))
    assert response.status_code == 200, f"a payload with a broken message answered {response.status_code}"
    user.expect_reply("list", rows=HOME_ROWS)  # the valid message only: one home menu
    user.expect_no_reply()


def checkout(buyer: WhatsAppUser) -> str:
    """Search, choose, share the drop-off: the order id of the checkout buttons."""
    buyer.send_text(SEARCH)
    buyer.expect_reply("list", rows=[OFFER])
    buyer.choose_row(OFFER)
    buyer.expect_reply("text", "share your delivery location")
    buyer.share_location(*DROPOFF)
    message = buyer.expect_reply("buttons", r"Total: 6,500 RWF", buttons=["pay_wallet:*"])
    found = re.search(r"ORD-[A-Z0-9]{6}", message.text)
    assert found, f"no order id in the checkout: {message.summary()}"
    return found.group(0)


@pytest.mark.rule("R-PAY-5", "R-BUY-5")
def test_a_wallet_below_the_total_offers_momo_and_a_top_up(new_user: Callable[..., WhatsAppUser]) -> None:
    buyer = new_user(role="buyer", name="Short Wallet")
    buyer.tap_button("my_orders", "📦 My orders")
    buyer.expect_reply("text", "You have no orders yet")
    order_id = checkout(buyer)
    buyer.tap_button(f"pay_wallet:{order_id}", "💳 Wallet")
    buyer.expect_reply(
        "buttons",
        r"wallet balance \(0 RWF\) is below the total \(6,500 RWF\)",
        buttons=[f"pay_momo:{order_id}", "wallet_topup", "back_home"],
    )
    buyer.expect_no_reply()
    buyer.tap_button("my_orders", "📦 My orders")
    buyer.expect_reply("text", rf"{order_id}.*6,500 RWF")


@pytest.mark.parametrize(
    ("hub", "role"),
    [
        pytest.param("station_hub", "station staff", id="station", marks=pytest.mark.rule("R-STA-5")),
        pytest.param("vendor_hub", "a vendor", id="vendor", marks=pytest.mark.rule("R-VND-7")),
    ],
)
def test_a_hub_of_a_role_the_user_lacks_says_so(user: WhatsAppUser, hub: str, role: str) -> None:
    user.choose_row(hub)
    user.expect_reply("buttons", f"not registered as {role}", buttons=["support_help", "back_home"])
    user.expect_no_reply()


@pytest.mark.rule("R-KIND-1")
def test_a_reaction_is_not_answered(user: WhatsAppUser) -> None:
    user.send_text("hi")
    menu = user.expect_reply("list", rows=HOME_ROWS)
    user.react(menu.wamid, "👍")
    user.expect_no_reply()
