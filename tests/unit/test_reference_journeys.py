"""The reference service's journeys end to end, in-process: buyer → station → driver → buyer, and payments.

Each test drives the conversation through the webhook exactly as WhatsApp would and checks what every
party received, the order (state, ledger, history) through ``/admin/orders`` and the events.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import pytest
from test_reference_fakes import (
    BUYER,
    CALLBACK_SECRET,
    DRIVER1,
    DRIVER2,
    DRIVER3,
    KIM_STAFF,
    KIM_STAFF2,
    LLM_KEY,
    PAY_KEY,
    REM_STAFF,
    Service,
    body_text,
    choice_ids,
    order_to_checkout,
    paid_order,
    row_titles,
    run_async,
    service,
    tool_call,
)

pytestmark = pytest.mark.unit
ORDER_ID = re.compile(r"ORD-[A-Z0-9]{6}")


async def top_up(svc: Service, phone: str, amount: int) -> str:
    await svc.tap(phone, "wallet_topup")
    await svc.tap(phone, f"topup:{amount}", "list_reply")
    reference_id = svc.payments.last_reference()
    assert (await svc.callback(reference_id)).status_code == 200
    return reference_id


def delivery_code(svc: Service, buyer: str = BUYER) -> str:
    [receipt] = [t for t in svc.texts(buyer) if t.startswith("✅ Payment received")]
    match = re.search(r"Delivery code: (\d{4})", receipt)
    assert match, receipt
    return match[1]


@run_async
async def test_buyer_station_driver_handoff_paid_by_wallet(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        await top_up(svc, BUYER, 10000)
        assert svc.texts(BUYER)[-1] == "✅ Wallet topped up: +10,000 RWF. Balance: 10,000 RWF"

        # Search: the LLM's tool call runs against the ranked catalog.
        svc.llm.replies.append((200, tool_call("water jerrycan", 2, "Kimironko")))
        await svc.text(BUYER, "2 jerrycans of water near Kimironko")
        [llm_call] = svc.llm.calls
        assert llm_call["user"] == BUYER
        assert llm_call["messages"][-1] == {"role": "user", "content": "2 jerrycans of water near Kimironko"}
        assert llm_call["tools"][0]["function"]["name"] == "search_offers"
        assert svc.llm.auth == [f"Bearer {LLM_KEY}"]
        offers = svc.last(BUYER)
        assert body_text(offers).startswith("🛒 Offers for 2 × water jerrycan")
        assert choice_ids(offers) == ["offer:kim-water-20l", "offer:rem-water-20l", "offer:nya-water-20l"]
        assert row_titles(offers)[0] == "Kimironko 3,000 RWF"
        assert all(len(t) <= 24 for t in row_titles(offers))

        # Offer → location → checkout with the total.
        await svc.tap(BUYER, "offer:kim-water-20l", "list_reply")
        assert svc.texts(BUYER)[-1].startswith("📍 Please share your delivery location")
        [order_id] = ORDER_ID.findall(str((await svc.events(name="order_state_changed"))[-1]["data"]))
        assert (await svc.order(order_id))["state"] == "pending_payment"
        await svc.location(BUYER)
        checkout = svc.last(BUYER)
        assert f"Order {order_id}" in body_text(checkout)
        assert "Total: 6,500 RWF" in body_text(checkout)
        assert choice_ids(checkout) == [f"pay_momo:{order_id}", f"pay_wallet:{order_id}", "back_home"]

        # Wallet payment: one debit, the receipt with the code, the station's notice.
        await svc.tap(BUYER, f"pay_wallet:{order_id}")
        assert svc.texts(BUYER)[-1].startswith(f"✅ Payment received for order {order_id}")
        code = delivery_code(svc)
        for staff in (KIM_STAFF, KIM_STAFF2):
            notice = svc.last(staff)
            assert f"🆕 New order {order_id}" in body_text(notice)
            assert "2 × Water 20L jerrycan" in body_text(notice)
            assert choice_ids(notice) == [f"st_accept:{order_id}", f"st_reject:{order_id}"]
        assert svc.inbox(REM_STAFF) == []

        # Station: accept → preparing → ready; the buyer hears each step; drivers get the job.
        await svc.tap(KIM_STAFF, f"st_accept:{order_id}")
        assert choice_ids(svc.last(KIM_STAFF)) == [f"st_preparing:{order_id}"]
        await svc.tap(KIM_STAFF, f"st_preparing:{order_id}")
        assert choice_ids(svc.last(KIM_STAFF)) == [f"st_ready:{order_id}"]
        await svc.tap(KIM_STAFF, f"st_ready:{order_id}")
        assert f"Order {order_id} is ready" in svc.texts(KIM_STAFF)[-1]
        updates = svc.texts(BUYER)[-3:]
        assert [f"Order {order_id}" in u for u in updates] == [True] * 3
        assert "accepted" in updates[0]
        assert "being prepared" in updates[1]
        assert "ready" in updates[2]
        for driver in (DRIVER1, DRIVER2, DRIVER3):
            job = svc.last(driver)
            assert f"🛵 Delivery job {order_id}" in body_text(job)
            assert "Kimironko Fresh Market" in body_text(job)
            assert "500 RWF" in body_text(job)
            assert choice_ids(job) == [f"drv_accept:{order_id}"]

        # First driver to accept wins: two pins and the route; the later one is told it was taken.
        await svc.tap(DRIVER2, f"drv_accept:{order_id}")
        await svc.tap(DRIVER1, f"drv_accept:{order_id}")
        pickup, dropoff, route = svc.inbox(DRIVER2)[-3:]
        assert (pickup["type"], pickup["location"]["name"]) == ("location", "Kimironko Fresh Market")
        assert (dropoff["type"], dropoff["location"]["name"]) == ("location", f"Drop-off {order_id}")
        assert body_text(route).startswith("🧭 Route: 3.2 km, about 11 min: https://maps.test/r/1")
        assert choice_ids(route) == [f"drv_delivered:{order_id}"]
        assert svc.maps.calls == [{"from": "-1.949000,30.098500", "to": "-1.950000,30.100000"}]
        assert svc.texts(DRIVER1)[-1].startswith(f"Order {order_id} was taken")
        assert f"is on the way with order {order_id}" in svc.texts(BUYER)[-1]

        # Code: wrong (order unchanged), then right → delivered; everyone is told.
        await svc.tap(DRIVER2, f"drv_delivered:{order_id}")
        assert svc.texts(DRIVER2)[-1] == "Please type the buyer's 4-digit delivery code"
        wrong = "0000" if code != "0000" else "1111"
        await svc.text(DRIVER2, wrong)
        assert svc.texts(DRIVER2)[-1].startswith("❌ That code doesn't match")
        assert (await svc.order(order_id))["state"] == "out_for_delivery"
        await svc.text(DRIVER2, code)
        assert svc.texts(DRIVER2)[-1].startswith("✅ Delivery confirmed")
        assert svc.texts(BUYER)[-1].startswith(f"✅ Order {order_id} delivered")
        assert svc.texts(KIM_STAFF)[-1] == f"✅ Order {order_id} delivered"

        order = await svc.order(order_id)
        assert order["state"] == "delivered"
        assert order["driver"] == DRIVER2
        assert order["items"] == [
            {"item_id": "kim-water-20l", "name": "Water 20L jerrycan", "quantity": 2, "unit_price": 3000}
        ]
        assert (order["total"], order["delivery_fee"]) == (6500, 500)
        assert order["payment"] == {"method": "wallet", "status": "paid", "reference_id": None}
        assert [(e["kind"], e["amount"]) for e in order["ledger"]] == [("wallet_debit", -6500)]
        assert [h["to"] for h in order["history"]] == [
            "pending_payment", "paid", "accepted", "preparing", "ready", "out_for_delivery", "delivered",
        ]  # fmt: skip
        assert order["delivery_code_attempts"] == 1
        assert (await svc.wallet(BUYER))["balance"] == 3500

        changes = await svc.events(name="order_state_changed", order_id=order_id)
        assert [(e["data"]["from"], e["data"]["to"]) for e in changes][-1] == (
            "out_for_delivery",
            "delivered",
        )


@run_async
async def test_notices_carry_the_correlation_id_of_their_cause(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        await top_up(svc, BUYER, 10000)
        order_id = await order_to_checkout(svc)
        await svc.tap(BUYER, f"pay_wallet:{order_id}")
        await svc.tap(KIM_STAFF, f"st_accept:{order_id}")
        changes = await svc.events(name="order_state_changed", order_id=order_id)
        [accepted] = [e for e in changes if e["data"]["to"] == "accepted"]
        corr = accepted["correlation_id"]
        same = await svc.events(correlation_id=corr)
        names = {(e["name"], e["phone"]) for e in same}
        assert ("message_received", KIM_STAFF) in names
        assert ("reply_sent", KIM_STAFF) in names  # the staff's own reply
        assert ("reply_sent", BUYER) in names  # the buyer's tracking notice


@run_async
async def test_momo_payment_successful_failed_and_duplicate_callbacks(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        order_id = await order_to_checkout(svc, quantity=1)  # 3,000 + 500
        await svc.tap(BUYER, f"pay_momo:{order_id}")
        assert svc.texts(BUYER)[-1].startswith("📲 Approve the MoMo request of 3,500 RWF on your phone")
        headers, body = svc.payments.last()
        assert headers["authorization"] == f"Bearer {PAY_KEY}"
        assert headers["x-callback-url"] == "http://sut.test/payments/callback"
        assert headers["x-target-environment"] == "sandbox"
        assert body["amount"] == "3500"
        assert body["currency"] == "RWF"
        assert body["externalId"] == order_id
        assert body["payer"] == {"partyIdType": "MSISDN", "partyId": BUYER}
        first = headers["x-reference-id"]
        assert (await svc.order(order_id))["payment"] == {
            "method": "momo",
            "status": "pending",
            "reference_id": first,
        }

        # Declined: the order stays unpaid, the buyer may retry; nothing in the ledger.
        assert (await svc.callback(first, "FAILED")).status_code == 200
        failed = svc.last(BUYER)
        assert body_text(failed).startswith(f"😔 Payment for order {order_id} didn't go through")
        assert choice_ids(failed) == [f"pay_momo:{order_id}", f"pay_wallet:{order_id}", "back_home"]
        order = await svc.order(order_id)
        assert (order["state"], order["ledger"], order["payment"]["status"]) == (
            "pending_payment",
            [],
            "failed",
        )
        assert svc.inbox(KIM_STAFF) == []

        # Retry, approved: paid once; the same callback again changes nothing.
        second = await svc.pay_momo(BUYER, order_id)
        assert second != first
        assert (await svc.callback(second)).status_code == 200
        assert (await svc.callback(second)).status_code == 200
        order = await svc.order(order_id)
        assert order["state"] == "paid"
        assert [(e["kind"], e["amount"], e["reference"]) for e in order["ledger"]] == [
            ("momo_payment", 3500, second)
        ]
        assert order["payment"] == {"method": "momo", "status": "paid", "reference_id": second}
        receipts = [t for t in svc.texts(BUYER) if t.startswith("✅ Payment received")]
        assert len(receipts) == 1
        assert len([m for m in svc.inbox(KIM_STAFF) if "New order" in body_text(m)]) == 1
        callbacks = await svc.events(name="payment_callback_received", order_id=order_id)
        assert [(e["data"]["status"], e["data"]["duplicate"]) for e in callbacks] == [
            ("FAILED", False), ("SUCCESSFUL", False), ("SUCCESSFUL", True),
        ]  # fmt: skip
        # The paid-step work carries the callback's correlation id, not the buyer's message's.
        paid = [
            e
            for e in await svc.events(name="order_state_changed", order_id=order_id)
            if e["data"]["to"] == "paid"
        ]
        assert paid[0]["correlation_id"] == callbacks[1]["correlation_id"]
        assert len(await svc.events(name="payment_requested", order_id=order_id)) == 2


@run_async
async def test_callback_signature_and_unknown_reference(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        order_id = await order_to_checkout(svc, quantity=1)
        reference_id = await svc.pay_momo(BUYER, order_id)
        assert (await svc.callback(reference_id, secret="forged")).status_code == 401
        assert (await svc.order(order_id))["state"] == "pending_payment"
        unsigned = await svc.client.post("/payments/callback", content=b"{}")
        assert unsigned.status_code == 401
        assert (await svc.callback(reference_id, referenceId="no-such-ref")).status_code == 404
        assert (await svc.callback(reference_id, amount="1")).status_code == 422
        assert (await svc.order(order_id))["state"] == "pending_payment"
        assert (await svc.callback(reference_id)).status_code == 200
        assert (await svc.order(order_id))["state"] == "paid"


@run_async
async def test_a_signed_callback_that_is_not_a_callback_is_refused_with_400(tmp_path: Path) -> None:
    # A provider (or a proxy) may garble a body it signed: that is the sender's fault (4xx), never a 500.
    async with service(tmp_path) as svc:
        order_id = await order_to_checkout(svc, quantity=1)
        reference_id = await svc.pay_momo(BUYER, order_id)
        for raw in (b"{not json", b"[]", b'{"status": "SUCCESSFUL"}', b'"SUCCESSFUL"'):
            signature = "sha256=" + hmac.new(CALLBACK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
            response = await svc.client.post(
                "/payments/callback", content=raw, headers={"X-Callback-Signature": signature}
            )
            assert response.status_code == 400, (raw, response.status_code, response.text)
            assert response.json()["error"].startswith("bad_callback"), response.text
        assert (await svc.order(order_id))["state"] == "pending_payment"
        assert (await svc.callback(reference_id)).status_code == 200
        assert (await svc.order(order_id))["state"] == "paid"


@run_async
async def test_wallet_too_low_and_momo_unreachable(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        order_id = await order_to_checkout(svc)
        await svc.tap(BUYER, f"pay_wallet:{order_id}")
        short = svc.last(BUYER)
        assert body_text(short).startswith("😔 Your wallet balance (0 RWF) is below the total (6,500 RWF).")
        assert choice_ids(short) == [f"pay_momo:{order_id}", "wallet_topup", "back_home"]
        svc.payments.fail_next = [500, 500, 500]
        await svc.tap(BUYER, f"pay_momo:{order_id}")
        assert len(svc.payments.requests) == 3  # 1 + 2 retries, with the same reference id
        assert len({h["x-reference-id"] for h, _ in svc.payments.requests}) == 1
        assert svc.texts(BUYER)[-1].startswith("😔 MoMo can't be reached")
        assert (await svc.order(order_id))["state"] == "pending_payment"
        assert (await svc.wallet(BUYER))["balance"] == 0


@run_async
async def test_rejection_refunds_to_wallet_and_offers_alternatives(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        order_id = await paid_order(svc, quantity=2)
        await svc.tap(KIM_STAFF, f"st_reject:{order_id}")
        assert svc.texts(KIM_STAFF)[-1].startswith(f"❌ Order {order_id} rejected")
        refund_text, alternatives = svc.inbox(BUYER)[-2:]
        assert body_text(refund_text).startswith(f"😔 Kimironko Fresh Market can't take order {order_id}")
        assert "6,500 RWF" in body_text(refund_text)
        assert choice_ids(alternatives) == ["offer:rem-water-20l", "offer:nya-water-20l"]
        order = await svc.order(order_id)
        assert order["state"] == "rejected"
        assert [(e["kind"], e["amount"]) for e in order["ledger"]] == [
            ("momo_payment", 6500),
            ("refund", 6500),
        ]
        assert (await svc.wallet(BUYER))["balance"] == 6500
        # The alternatives keep the quantity: tapping one orders 2 again.
        await svc.tap(BUYER, "offer:nya-water-20l", "list_reply")
        newest = (await svc.events(name="order_state_changed"))[-1]["data"]["order_id"]
        assert (await svc.order(newest))["items"][0]["quantity"] == 2
        # A second tap on the stale notice changes nothing.
        await svc.tap(KIM_STAFF2, f"st_accept:{order_id}")
        assert "rejected" in svc.texts(KIM_STAFF2)[-1]


@run_async
async def test_my_orders_and_strangers_cannot_touch_orders(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        await svc.tap(BUYER, "my_orders", "list_reply")
        assert "You have no orders yet" in svc.texts(BUYER)[-1]
        order_id = await order_to_checkout(svc)
        await svc.tap(BUYER, "my_orders", "list_reply")
        assert f"{order_id}: waiting for payment, 6,500 RWF" in svc.texts(BUYER)[-1]
        await svc.tap(REM_STAFF, f"st_accept:{order_id}")
        assert "isn't for your station" in svc.texts(REM_STAFF)[-1]
        await svc.tap(BUYER, f"st_accept:{order_id}")
        assert "not registered as station staff" in svc.texts(BUYER)[-1]
        await svc.tap(DRIVER1, f"drv_accept:{order_id}")
        assert (
            "isn't ready for pickup" in svc.texts(DRIVER1)[-1]
            or "waiting for payment" in svc.texts(DRIVER1)[-1]
        )
        await svc.tap(DRIVER1, f"pay_wallet:{order_id}")
        assert "can't find order" in svc.texts(DRIVER1)[-1]
        assert (await svc.order(order_id))["state"] == "pending_payment"
        missing = await svc.client.get("/admin/orders/ORD-NOPE00", headers={"X-Admin-Token": "admin-token"})
        assert missing.status_code == 404
        assert (await svc.client.get(f"/admin/orders/{order_id}")).status_code == 401


@run_async
async def test_three_wrong_codes_lock_the_delivery(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        order_id = await paid_order(svc)
        for step in ("st_accept", "st_preparing", "st_ready"):
            await svc.tap(KIM_STAFF, f"{step}:{order_id}")
        await svc.tap(DRIVER3, f"drv_accept:{order_id}")
        await svc.tap(DRIVER3, f"drv_delivered:{order_id}")
        code = delivery_code(svc)
        wrong = [c for c in ("1000", "2000", "3000", "4000") if c != code][:3]
        await svc.text(DRIVER3, "abc")  # not a code: asked again, not counted
        for attempt in wrong:
            await svc.text(DRIVER3, attempt)
        assert svc.texts(DRIVER3)[-1].startswith("❌ That code doesn't match. No tries left")
        await svc.text(DRIVER3, code)  # too late: the prompt is gone, it is just text now
        await svc.tap(DRIVER3, f"drv_delivered:{order_id}")
        assert "No tries left" in svc.texts(DRIVER3)[-1]
        order = await svc.order(order_id)
        assert (order["state"], order["delivery_code_attempts"]) == ("out_for_delivery", 3)


@run_async
async def test_instant_callback_second_tap_and_late_payment(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        # The provider calls back before it even answers the request: the order is paid, not "pending".
        order_id = await order_to_checkout(svc, quantity=1)
        svc.payments.before_answer = lambda ref: svc.callback(ref, settle=False)
        await svc.tap(BUYER, f"pay_momo:{order_id}")
        svc.payments.before_answer = None
        await svc.settle()
        order = await svc.order(order_id)
        assert (order["state"], order["payment"]["status"]) == ("paid", "paid")
        assert svc.texts(BUYER)[-2].startswith("📲 Approve the MoMo request")  # the reply, then the receipt
        assert svc.texts(BUYER)[-1].startswith(f"✅ Payment received for order {order_id}")

        # A second tap while a request waits reminds instead of asking again.
        second = await order_to_checkout(svc, quantity=1)
        await svc.tap(BUYER, f"pay_momo:{second}")
        await svc.tap(BUYER, f"pay_momo:{second}")
        assert svc.texts(BUYER)[-1].startswith(f"📲 A MoMo request for order {second} is already waiting")
        assert len(svc.payments.requests) == 2

        # Paid by wallet meanwhile: the MoMo money that arrives later goes to the wallet, not lost.
        pending_ref = svc.payments.last_reference()
        await top_up(svc, BUYER, 5000)
        await svc.tap(BUYER, f"pay_wallet:{second}")
        assert (await svc.order(second))["state"] == "paid"
        await svc.callback(pending_ref)
        assert svc.texts(BUYER)[-1].startswith(f"ℹ️ Order {second} was already paid")
        wallet = await svc.wallet(BUYER)
        assert wallet["balance"] == 5000 - 3500 + 3500
        assert [e["kind"] for e in wallet["ledger"]] == ["wallet_topup", "wallet_debit", "refund"]
