"""Users as Meta names them since April 2026: by BSUID first, by phone when it is shown.

A username-only user (a BSUID, no ``from``, no ``wa_id``) is served and answered by ``recipient``; a
user whose phone is shown is answered ``to`` the phone; seeded staff known by phone keep their role when
they first write with a BSUID; a ``user_changed_user_id`` system message moves the user to the new BSUID
with their order, conversation and wallet; the ``phone_only_identity`` defect drops username-only users.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_reference_fakes import (
    ADMIN,
    KIM_STAFF,
    Service,
    WaUser,
    body_text,
    choice_ids,
    order_to_checkout,
    run_async,
    service,
)

from reference import defects, envelope
from reference.config import Settings

pytestmark = pytest.mark.unit

BUYER_ID = "RW.50000000000000000001"  # a username-only buyer: BSUID and username, no phone
NEW_BUYER_ID = "RW.50000000000000000002"  # the same buyer after Meta re-issued the BSUID
SHOWN_ID, SHOWN_PHONE = "RW.50000000000000000003", "250790000031"  # a user whose phone is shown
STAFF_ID = "RW.50000000000000000004"  # Kimironko station staff 250788200001 (seeded by phone)
MOMO_TYPED, MOMO_NUMBER = "0788 123 456", "250788123456"


def username_only(user_id: str = BUYER_ID) -> WaUser:
    return WaUser(user_id, username="qa.aline")


def by_recipient(svc: Service, user_id: str) -> list[dict[str, Any]]:
    return [m for m in svc.graph.sent if m.get("recipient") == user_id]


def addressed_to(svc: Service, phone: str) -> list[dict[str, Any]]:
    return [m for m in svc.graph.sent if m.get("to") == phone]


async def user_id_changed(svc: Service, old: str, new: str, phone: str | None = None) -> None:
    """Meta's system message: no contacts array, the new BSUID in system.user_id."""
    item: dict[str, Any] = {
        "from_user_id": old,
        "id": f"wamid.sys.{old[-4:]}.{new[-4:]}",
        "timestamp": "1700000000",
        "type": "system",
        "system": {
            "body": f"User Aline changed from {old} to {new}",
            "user_id": new,
            "type": "user_changed_user_id",
        },
    }
    if phone:
        item["from"] = item["system"]["wa_id"] = phone
    await svc.post_value({"messages": [item]})


async def paid_by_momo(svc: Service, buyer: WaUser) -> str:
    """A username-only buyer orders, is asked the MoMo number, types it, and MoMo says SUCCESSFUL."""
    order_id = await order_to_checkout(svc, buyer=buyer)
    await svc.tap(buyer, f"pay_momo:{order_id}")
    assert "Which MoMo number should pay 6,500 RWF?" in svc.texts(buyer)[-1]
    assert not svc.payments.requests  # nothing asked of MoMo before the number is known
    await svc.text(buyer, MOMO_TYPED)
    await svc.callback(svc.payments.last_reference())
    return order_id


@run_async
async def test_a_username_only_buyer_is_served_and_answered_by_recipient(tmp_path: Path) -> None:
    buyer = username_only()
    async with service(tmp_path) as svc:
        order_id = await paid_by_momo(svc, buyer)
        _, request = svc.payments.last()
        mine = by_recipient(svc, BUYER_ID)
        order = await svc.order(order_id)
        events = await svc.events(user_id=BUYER_ID, limit=1000)
    assert request["payer"] == {"partyIdType": "MSISDN", "partyId": MOMO_NUMBER}
    texts = [body_text(m) for m in mine]
    assert any("Approve the MoMo request of 6,500 RWF" in t for t in texts)
    assert any(f"Payment received for order {order_id}" in t for t in texts)
    assert all("to" not in m for m in mine)  # exactly one address: the BSUID
    assert any(f"New order {order_id}" in body_text(m) for m in addressed_to(svc, KIM_STAFF))
    assert [m for m in svc.graph.sent if m.get("to") == MOMO_NUMBER] == []  # the MoMo number is not them
    assert (order["state"], order["buyer"], order["buyer_user_id"]) == ("paid", BUYER_ID, BUYER_ID)
    names = {e["name"] for e in events}
    assert {"message_received", "reply_sent", "momo_number_saved", "payment_requested"} <= names
    assert {(e["user_id"], e["phone"]) for e in events} == {(BUYER_ID, None)}


@run_async
async def test_a_user_whose_phone_is_shown_is_answered_to_the_phone(tmp_path: Path) -> None:
    user = WaUser(SHOWN_ID, SHOWN_PHONE, "qa.shown")
    async with service(tmp_path) as svc:
        await svc.text(user, "hi")
        order_id = await order_to_checkout(svc, buyer=user)
        reference_id = await svc.pay_momo(user, order_id)  # the phone pays: nothing asked
        by_phone = await svc.events(phone=SHOWN_PHONE, limit=1000)
        by_id = await svc.events(user_id=SHOWN_ID, limit=1000)
    assert reference_id
    assert svc.payments.last()[1]["payer"]["partyId"] == SHOWN_PHONE
    assert by_recipient(svc, SHOWN_ID) == []
    assert len(addressed_to(svc, SHOWN_PHONE)) == 5  # home menu, offers, location, checkout, approve
    assert by_phone == by_id
    linked = [e for e in by_phone if e["name"] == "identity_linked"]
    assert [e["data"] for e in linked] == [{"user_id": SHOWN_ID, "wa_id": SHOWN_PHONE, "linked": "new"}]
    assert {(e["user_id"], e["phone"]) for e in by_phone} == {(SHOWN_ID, SHOWN_PHONE)}


@run_async
async def test_seeded_station_staff_writing_with_a_bsuid_are_linked_to_their_phone(tmp_path: Path) -> None:
    staff = WaUser(STAFF_ID, KIM_STAFF, "qa.kimstaff")
    async with service(tmp_path) as svc:
        await svc.tap(staff, "station_hub", "list_reply")
        hub = svc.texts(KIM_STAFF)[-1]
        # Later the phone is hidden: the BSUID alone still names the seeded staff member.
        await svc.tap(WaUser(STAFF_ID, username="qa.kimstaff"), "station_hub", "list_reply")
        buyer = username_only()
        order_id = await paid_by_momo(svc, buyer)
        await svc.tap(WaUser(STAFF_ID), f"st_accept:{order_id}")
        order = await svc.order(order_id)
        linked = await svc.events(user_id=STAFF_ID, name="identity_linked")
    assert hub.startswith("⛽ Kimironko")
    assert svc.texts(KIM_STAFF)[-4].startswith("⛽ Kimironko")
    assert by_recipient(svc, STAFF_ID) == []  # the phone is known: always `to` it
    assert order["state"] == "accepted"
    assert any(
        f"Order {order_id}" in t and "accepted" in t
        for t in [body_text(m) for m in by_recipient(svc, BUYER_ID)]
    )
    assert [e["data"]["wa_id"] for e in linked] == [KIM_STAFF]


@run_async
async def test_a_bsuid_change_keeps_the_users_order_conversation_and_wallet(tmp_path: Path) -> None:
    old, new = username_only(BUYER_ID), username_only(NEW_BUYER_ID)
    async with service(tmp_path) as svc:
        paid = await paid_by_momo(svc, old)
        await svc.tap(old, "offer:kim-water-20l", "list_reply")  # a second order, waiting for its drop-off
        before = len(svc.graph.sent)
        await user_id_changed(svc, BUYER_ID, NEW_BUYER_ID)
        silent = len(svc.graph.sent) == before
        await svc.location(new)  # the conversation goes on under the new BSUID
        checkout = svc.last(NEW_BUYER_ID)
        second = choice_ids(checkout)[0].partition(":")[2]
        await svc.tap(new, f"pay_momo:{second}")  # the MoMo number given before is remembered
        await svc.tap(new, "my_orders", "list_reply")
        mine = svc.texts(NEW_BUYER_ID)[-1]
        changed = await svc.events(user_id=NEW_BUYER_ID, name="user_id_changed")
        history = await svc.events(user_id=BUYER_ID, name="message_received")
        wallet = await svc.wallet(NEW_BUYER_ID)
    assert silent
    assert checkout["recipient"] == NEW_BUYER_ID
    assert "to" not in checkout
    assert "Total: 3,500 RWF" in body_text(checkout)
    assert second != paid
    assert svc.payments.last()[1]["payer"]["partyId"] == MOMO_NUMBER
    assert "Approve the MoMo request" in svc.texts(NEW_BUYER_ID)[-2]
    assert paid in mine
    assert second in mine
    assert [e["data"] for e in changed] == [{"previous_user_id": BUYER_ID, "user_id": NEW_BUYER_ID}]
    assert len(history) == 10  # 9 messages and the system message, before and after: one user
    assert wallet["phone"] == BUYER_ID  # the user key (the first BSUID) owns the wallet
    assert by_recipient(svc, BUYER_ID)[-1] is not checkout


@run_async
async def test_a_bsuid_change_of_a_user_whose_phone_is_shown_keeps_the_state(tmp_path: Path) -> None:
    user = WaUser(SHOWN_ID, SHOWN_PHONE)
    async with service(tmp_path) as svc:
        await svc.tap(user, "offer:kim-water-20l", "list_reply")
        await user_id_changed(svc, SHOWN_ID, NEW_BUYER_ID, SHOWN_PHONE)
        await svc.location(WaUser(NEW_BUYER_ID, SHOWN_PHONE))
        by_new_id = await svc.events(user_id=NEW_BUYER_ID, name="reply_sent")
    assert "Total: 3,500 RWF" in body_text(svc.last(SHOWN_PHONE))
    assert len(addressed_to(svc, SHOWN_PHONE)) == 2
    assert by_new_id
    assert all(e["phone"] == SHOWN_PHONE for e in by_new_id)


@run_async
async def test_statuses_named_by_bsuid_are_acknowledged_and_not_answered(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        await svc.text(username_only(), "hi")
        sent = len(svc.graph.sent)
        status = {
            "id": "wamid.out.1",
            "status": "read",
            "timestamp": "1700000001",
            "recipient_user_id": BUYER_ID,
        }
        await svc.post_value({"statuses": [status], "contacts": [{"user_id": BUYER_ID}]})
        received = await svc.events(user_id=BUYER_ID, name="status_received")
    assert len(svc.graph.sent) == sent
    assert [e["data"]["status"] for e in received] == ["read"]


@run_async
async def test_a_username_only_top_up_asks_the_number_and_retries_a_bad_one(tmp_path: Path) -> None:
    buyer = username_only()
    async with service(tmp_path) as svc:
        await svc.tap(buyer, "topup:5000", "list_reply")
        await svc.text(buyer, "my number is secret")
        await svc.text(buyer, "+250 788-123-456")
        await svc.callback(svc.payments.last_reference())
        wallet = await svc.wallet(BUYER_ID)
    texts = svc.texts(buyer)
    assert texts[0].startswith("📲 Which MoMo number should pay 5,000 RWF?")
    assert texts[1].startswith("😔 That doesn't look like a MoMo number")
    assert texts[2].startswith("📲 Approve the MoMo request of 5,000 RWF")
    assert "Wallet topped up: +5,000 RWF" in texts[3]
    assert wallet["balance"] == 5000
    assert svc.payments.last()[1]["payer"]["partyId"] == MOMO_NUMBER


@run_async
async def test_phone_only_identity_drops_a_username_only_user(tmp_path: Path) -> None:
    async with service(tmp_path, defects.PHONE_ONLY_IDENTITY) as svc:
        await svc.text(username_only(), "hi")
        await svc.text(WaUser(SHOWN_ID, SHOWN_PHONE), "hi")  # a phone user is still answered, `to` it
        ignored = await svc.events(name="invalid_message_ignored")
        linked = await svc.events(name="identity_linked")
    assert by_recipient(svc, BUYER_ID) == []
    assert len(addressed_to(svc, SHOWN_PHONE)) == 1
    assert [e["data"] for e in ignored] == [{"reason": "missing_fields", "fields": ["from"]}]
    assert linked == []


def test_the_envelope_takes_a_bsuid_without_from_and_refuses_a_malformed_one() -> None:
    settings = Settings(
        app_secret="s", verify_token="v", phone_id="1", token="t", graph_base_url="http://g",
        db_path=":memory:", admin_token=ADMIN,
    )  # fmt: skip

    def parse(message: dict[str, Any], contact: dict[str, Any]) -> envelope.Envelope:
        value = {"metadata": {"phone_number_id": "1"}, "contacts": [contact], "messages": [message]}
        payload = {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]}
        return envelope.parse(payload, settings, "req")

    text = {"id": "wamid.1", "type": "text", "text": {"body": "hi"}, "from_user_id": BUYER_ID}
    contact = {"profile": {"name": "Aline", "username": "qa.aline"}, "user_id": BUYER_ID}
    [inbound] = parse(text, contact).messages
    assert (inbound.phone, inbound.user_id, inbound.sender_phone) == (BUYER_ID, BUYER_ID, None)
    assert (inbound.profile_name, inbound.username) == ("Aline", "qa.aline")
    bad = parse({**text, "from_user_id": "not a bsuid"}, contact)
    assert bad.messages == []
    assert bad.notes[0].data["reason"] == "invalid_sender"
