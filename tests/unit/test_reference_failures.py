"""Failure handling (the 21 synthetic scenarios' behaviour, in-process): the test-fault hook, the search
tiers it reaches, checkout that cannot commit, late MoMo callbacks, unreachable stations, quotes with their
deadline, driver re-dispatch, and each synthetic defect switch next to the healthy behaviour it breaks.

Deadlines are set to tens of milliseconds; a test sleeps past one, then settles (waits for the jobs the
deadline queued).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from test_reference_fakes import (
    ADMIN,
    BUYER,
    BUYER2,
    DRIVER1,
    DRIVER2,
    KIM_OWNER,
    KIM_STAFF,
    KIM_STAFF2,
    REM_OWNER,
    Service,
    body_text,
    choice_ids,
    order_to_checkout,
    paid_order,
    ready_order,
    run_async,
    service,
    settings_for,
    tool_call,
)

from reference import defects
from reference.clients import retry as retry_module
from reference.clients.llm import LlmClient, LlmError, parse_completion
from reference.clients.maps import MapsClient, MapsError
from reference.observability import EventLog
from reference.store import Store
from reference.testfaults import TestFaultError, TestFaults

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
HEADERS = {"X-Admin-Token": ADMIN}
NYA_OWNER, KIC_OWNER = "250788100003", "250788100004"
FAST = {"test_faults": True, "quote_deadline_ms": 60, "driver_accept_deadline_ms": 60}


async def fault(svc: Service, **rule: Any) -> str:
    response = await svc.client.post("/admin/test-faults", json={"scope": "t", **rule}, headers=HEADERS)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def past_deadline(svc: Service, seconds: float = 0.15) -> None:
    await asyncio.sleep(seconds)
    await svc.settle()


async def no_match(svc: Service, text: str, area: str | None = None, buyer: str = BUYER) -> None:
    svc.llm.replies.append((200, tool_call(text, 1, area)))
    await svc.text(buyer, text)


def quote_id(svc: Service, vendor_phone: str) -> str:
    request = next(t for t in reversed(svc.texts(vendor_phone)) if "Quote request Q-" in t)
    return request.split("Quote request ")[1][:8]


# -- the test-fault hook ---------------------------------------------------------------------------------


@run_async
async def test_fault_hook_exists_only_when_enabled(tmp_path: Path) -> None:
    async with service(tmp_path / "off") as svc:
        response = await svc.client.post("/admin/test-faults", json={}, headers=HEADERS)
        assert response.status_code == 404
    async with service(tmp_path / "on", test_faults=True) as svc:
        assert (await svc.client.get("/admin/test-faults")).status_code == 401
        rule_id = await fault(svc, action="database_down", op="checkout", key="+250790000001", times=1)
        listed = (await svc.client.get("/admin/test-faults", params={"scope": "t"}, headers=HEADERS)).json()
        [view] = listed["faults"]
        assert view == {
            "id": rule_id, "scope": "t", "action": "database_down", "op": "checkout",
            "key": "250790000001", "times": 1, "hits": 0, "spent": False,
        }  # fmt: skip
        for bad, says in [
            ({"action": "everything_down"}, "unknown action"),
            ({"action": "ranking_down", "op": "checkout"}, "does not apply"),
            ({"action": "ranking_down", "times": 0}, "times"),
            ({"action": "ranking_down", "key": "nobody"}, "phone number"),
            ({"action": "ranking_down", "colour": "red"}, "unknown field"),
        ]:
            response = await svc.client.post(
                "/admin/test-faults", json={"scope": "t", **bad}, headers=HEADERS
            )
            assert response.status_code == 400
            assert says in response.json()["error"]
        assert (await svc.client.delete("/admin/test-faults", headers=HEADERS)).status_code == 400
        removed = await svc.client.delete("/admin/test-faults", params={"scope": "t"}, headers=HEADERS)
        assert removed.json() == {"removed": 1}


def test_fault_registry_matches_keys_ops_and_uses() -> None:
    faults = TestFaults()
    assert not faults.take("ranking_down", BUYER)
    faults.add({"scope": "a", "action": "database_down", "op": "checkout", "key": BUYER, "times": 2})
    faults.add({"scope": "b", "action": "ranking_down"})  # no key: everybody
    assert not faults.take("database_down", BUYER)  # the search op is not the checkout op
    assert not faults.take("database_down", BUYER2, "checkout")
    assert faults.take("database_down", BUYER, "checkout")
    assert faults.take("database_down", [None, BUYER], "checkout")
    assert not faults.take("database_down", BUYER, "checkout")  # spent
    assert faults.list("a")[0].spent
    assert faults.take("ranking_down", BUYER2)
    assert faults.remove(scope="a") == 1
    with pytest.raises(TestFaultError):
        faults.add(["not", "an", "object"])


def test_fault_registry_is_thread_safe() -> None:
    faults = TestFaults()
    faults.add({"scope": "s", "action": "notify_down", "times": 4000})

    def worker() -> None:
        for _ in range(1000):
            assert faults.take("notify_down", BUYER)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [rule] = faults.list()
    assert (rule.hits, rule.spent) == (4000, True)
    assert not faults.take("notify_down", BUYER)


# -- the search tiers, one per fault -----------------------------------------------------------------------


@run_async
async def test_search_tiers_fall_through_for_the_faulted_buyer_only(tmp_path: Path) -> None:
    async with service(tmp_path, test_faults=True) as svc:
        svc.llm.default = (503, {"error": {}})
        await fault(svc, action="ranking_down", key=BUYER)
        await svc.text(BUYER, "2 jerrycans of water near Kimironko")
        assert "Showing available options" in body_text(svc.last(BUYER))
        assert choice_ids(svc.last(BUYER))[0] == "offer:nya-water-20l"  # unranked: cheapest first
        await fault(svc, action="database_down", key=BUYER)
        await svc.text(BUYER, "water")
        assert "example offers" in body_text(svc.last(BUYER))
        await fault(svc, action="curated_down", key=BUYER)
        await svc.text(BUYER, "water")
        apology = svc.last(BUYER)
        assert body_text(apology).startswith("😔 Sorry, search isn't available right now.")
        assert choice_ids(apology) == ["buyer_search", "support_help", "back_home"]
        tiers = [e["data"]["tier"] for e in await svc.events(name="fallback_triggered", phone=BUYER)]
        assert tiers == ["database", "curated", "graceful_failure"]
        await svc.text(BUYER2, "water")  # another buyer: only the LLM is down for everybody
        assert "Showing top-ranked results" in body_text(svc.last(BUYER2))


# -- checkout ------------------------------------------------------------------------------------------


@run_async
async def test_checkout_write_failure_charges_nothing(tmp_path: Path) -> None:
    async with service(tmp_path, test_faults=True) as svc:
        await svc.tap(BUYER, "topup:10000", "list_reply")
        await svc.callback(svc.payments.last_reference())
        order_id = await order_to_checkout(svc, quantity=1)
        await fault(svc, action="database_down", op="checkout", key=BUYER, times=2)
        await svc.tap(BUYER, f"pay_wallet:{order_id}")
        sorry = svc.last(BUYER)
        assert body_text(sorry) == "😔 We couldn't confirm your order. Nothing was charged. Please try again."
        assert choice_ids(sorry) == [f"pay_wallet:{order_id}", f"pay_momo:{order_id}", "back_home"]
        requests = len(svc.payments.requests)
        await svc.tap(BUYER, f"pay_momo:{order_id}")  # MoMo: the payment record cannot be written either
        assert body_text(svc.last(BUYER)).startswith("😔 We couldn't confirm your order.")
        assert len(svc.payments.requests) == requests
        order = await svc.order(order_id)
        assert (order["state"], order["ledger"]) == ("pending_payment", [])
        assert (await svc.wallet(BUYER))["balance"] == 10000
        await svc.tap(BUYER, f"pay_wallet:{order_id}")  # the fault is spent: it goes through
        assert (await svc.order(order_id))["state"] == "paid"
        assert (await svc.wallet(BUYER))["balance"] == 6500


# -- MoMo: a late callback -------------------------------------------------------------------------------


@run_async
async def test_late_callback_gets_one_pending_notice_then_one_receipt(tmp_path: Path) -> None:
    async with service(tmp_path, payment_pending_notice_ms=40) as svc:
        order_id = await order_to_checkout(svc, quantity=1)
        await svc.tap(BUYER, f"pay_momo:{order_id}")
        await past_deadline(svc)
        await past_deadline(svc)
        pending = [t for t in svc.texts(BUYER) if t.startswith("⏳ Payment for order")]
        assert pending == [pending[0]]
        assert pending[0].startswith(f"⏳ Payment for order {order_id} is still pending")
        await svc.callback(svc.payments.last_reference())
        receipts = [t for t in svc.texts(BUYER) if t.startswith("✅ Payment received")]
        assert len(receipts) == 1
        assert len((await svc.order(order_id))["ledger"]) == 1
        # A prompt callback cancels the notice.
        second = await order_to_checkout(svc, quantity=1)
        await svc.callback(await svc.pay_momo(BUYER, second))
        assert len(svc.app.state.ctx.deadlines) == 0
        await past_deadline(svc)
        assert not any(t.startswith(f"⏳ Payment for order {second}") for t in svc.texts(BUYER))


# -- the station cannot be reached -----------------------------------------------------------------------


@run_async
async def test_unreachable_station_cancels_refunds_and_offers_others(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        svc.graph.fail_to.update({KIM_STAFF: 400, KIM_STAFF2: 400})
        order_id = await paid_order(svc)
        texts = svc.texts(BUYER)
        assert texts[-3].startswith(f"✅ Payment received for order {order_id}")
        assert texts[-2].startswith(f"😔 We couldn't reach Kimironko Fresh Market about order {order_id}")
        assert "We refunded 3,500 RWF to your wallet. Balance: 3,500 RWF" in texts[-2]
        assert choice_ids(svc.last(BUYER)) == ["offer:rem-water-20l", "offer:nya-water-20l"]
        order = await svc.order(order_id)
        assert (order["state"], order["payment"]["status"]) == ("cancelled", "refunded")
        assert [e["kind"] for e in order["ledger"]] == ["momo_payment", "refund"]
        assert len(await svc.events(name="notification_failed", order_id=order_id)) == 2
        [event] = await svc.events(name="station_unreachable")
        assert event["data"]["order_id"] == order_id


@run_async
async def test_notify_down_fault_breaks_the_notices_of_one_buyers_orders(tmp_path: Path) -> None:
    async with service(tmp_path, test_faults=True) as svc:
        await fault(svc, action="notify_down", key=BUYER)
        order_id = await paid_order(svc)
        assert (await svc.order(order_id))["state"] == "cancelled"
        assert svc.inbox(KIM_STAFF) == []
        assert any(t.startswith("😔 We couldn't reach") for t in svc.texts(BUYER))  # the buyer still hears
        other = await paid_order(svc, BUYER2)
        assert (await svc.order(other))["state"] == "paid"


# -- quotes -----------------------------------------------------------------------------------------------


@run_async
async def test_no_quote_by_the_deadline_offers_top_ranked_vendors(tmp_path: Path) -> None:
    async with service(tmp_path, **FAST) as svc:
        await no_match(svc, "wedding cake", "Remera")
        asked = svc.last(BUYER)
        assert body_text(asked).startswith('😔 No offers for "wedding cake" right now.')
        assert '📨 Asking vendors near you for quotes on "wedding cake"' in body_text(asked)
        assert choice_ids(asked) == ["buyer_search", "back_home"]
        qid = quote_id(svc, REM_OWNER)  # Remera's only vendor
        assert body_text(svc.last(REM_OWNER)).startswith(
            f"💬 Quote request {qid}: wedding cake. Reply with the code and your price, e.g. {qid} 4500"
        )
        assert choice_ids(svc.last(REM_OWNER)) == [f"quote_decline:{qid}"]
        assert svc.inbox(KIM_OWNER) == []
        await no_match(svc, "wedding cake", "Remera")  # the same search again: nobody is asked twice
        assert "Asking vendors near you" in body_text(svc.last(BUYER))
        assert len(svc.inbox(REM_OWNER)) == 1
        await past_deadline(svc)
        top = svc.last(BUYER)
        assert body_text(top) == "😔 No vendor answered in time. Here are top-ranked vendors:"
        assert choice_ids(top)[:2] == ["vendor:v-kimironko", "vendor:v-kicukiro"]
        await svc.text(REM_OWNER, f"{qid} 30000")
        assert svc.texts(REM_OWNER)[-1].startswith(f"⌛ Quote request {qid} has closed")
        await svc.tap(BUYER, "vendor:v-kicukiro", "list_reply")
        assert all(i.startswith("offer:kic-") for i in choice_ids(svc.last(BUYER)))


@run_async
async def test_partial_quotes_at_the_deadline_then_ordering_one(tmp_path: Path) -> None:
    async with service(tmp_path, **FAST) as svc:
        await svc.tap(KIM_OWNER, "vnd_add")  # the vendor is in the middle of adding an item
        await no_match(svc, "birthday balloon")
        qid = quote_id(svc, KIM_OWNER)
        assert all(quote_id(svc, p) == qid for p in (REM_OWNER, NYA_OWNER, KIC_OWNER))  # the 4 best-rated
        await svc.text(KIM_OWNER, f"{qid.lower()} 4,500 RWF")
        assert svc.texts(KIM_OWNER)[-1].startswith(f'✅ Quote sent: 4,500 RWF for "birthday balloon" ({qid})')
        await svc.text(REM_OWNER, f"{qid} 3900")
        await svc.text(NYA_OWNER, f"{qid} cheap")
        assert svc.texts(NYA_OWNER)[-1].startswith("😔 Please send the code and your price")
        await past_deadline(svc)
        quotes = svc.last(BUYER)
        assert body_text(quotes).startswith('💬 Quotes so far for "birthday balloon"')
        assert choice_ids(quotes) == [f"quote:{qid}:v-remera", f"quote:{qid}:v-kimironko"]  # cheapest first
        await svc.text(KIM_OWNER, "Sugar 2kg, 3000")  # the vendor's own conversation went on
        assert svc.texts(KIM_OWNER)[-1] == "✅ Added Sugar 2kg at 3,000 RWF"
        await svc.tap(BUYER, f"quote:{qid}:v-remera", "list_reply")
        await svc.location(BUYER)
        assert "Total: 4,400 RWF" in body_text(svc.last(BUYER))
        await svc.tap(BUYER2, f"quote:{qid}:v-remera", "list_reply")  # not the buyer's quote
        assert body_text(svc.last(BUYER2)) == "😔 That quote is no longer available."


@run_async
async def test_all_vendors_answering_closes_the_request_at_once(tmp_path: Path) -> None:
    async with service(tmp_path, **{**FAST, "quote_deadline_ms": 60_000}) as svc:
        await no_match(svc, "birthday balloon")
        qid = quote_id(svc, KIM_OWNER)
        await svc.text(KIM_OWNER, f"{qid} 4500")
        await svc.tap(REM_OWNER, f"quote_decline:{qid}")
        assert svc.texts(REM_OWNER)[-1] == f"👍 Noted: no quote from you for {qid}."
        await svc.tap(NYA_OWNER, f"quote_decline:{qid}")
        await svc.text(KIC_OWNER, f"{qid} 5000")
        quotes = svc.last(BUYER)
        assert body_text(quotes).startswith('💬 Quotes for "birthday balloon"')
        assert choice_ids(quotes) == [f"quote:{qid}:v-kimironko", f"quote:{qid}:v-kicukiro"]
        assert len(svc.app.state.ctx.deadlines) == 0
        [sent] = await svc.events(name="quotes_sent")
        assert (sent["data"]["quotes"], sent["data"]["complete"]) == (2, True)


@run_async
async def test_a_quote_code_from_a_buyer_is_just_a_search(tmp_path: Path) -> None:
    async with service(tmp_path, **FAST) as svc:
        svc.llm.replies.append((200, tool_call("water")))
        await svc.text(BUYER, "Q-ABC123 water")
        assert body_text(svc.last(BUYER)).startswith("🛒 Offers for 1 × water")


# -- no driver -------------------------------------------------------------------------------------------


@run_async
async def test_no_driver_is_redispatched_at_most_three_times(tmp_path: Path) -> None:
    async with service(tmp_path, **FAST) as svc:
        order_id = await ready_order(svc)
        for _ in range(5):
            await past_deadline(svc, 0.1)
        jobs = [t for t in svc.texts(DRIVER2) if t.startswith(f"🛵 Delivery job {order_id}")]
        assert len(jobs) == 4  # the first offer and 3 rounds
        looking = [t for t in svc.texts(BUYER) if t.startswith("⏳ Still looking for a driver")]
        assert len(looking) == 3
        assert sum(t.startswith(f"⏳ No driver yet for order {order_id}") for t in svc.texts(KIM_STAFF)) == 3
        rounds = [e["data"]["round"] for e in await svc.events(name="driver_redispatched", order_id=order_id)]
        assert rounds == [1, 2, 3]
        await svc.tap(DRIVER1, f"drv_accept:{order_id}")
        assert (await svc.order(order_id))["state"] == "out_for_delivery"


@run_async
async def test_an_accept_stops_the_redispatch(tmp_path: Path) -> None:
    async with service(tmp_path, **FAST) as svc:
        order_id = await ready_order(svc)
        await svc.tap(DRIVER1, f"drv_accept:{order_id}")
        assert len(svc.app.state.ctx.deadlines) == 0
        await past_deadline(svc)
        assert await svc.events(name="driver_redispatched") == []


# -- the synthetic defect switches -----------------------------------------------------------------------


async def llm_503_search(svc: Service) -> tuple[bool, str]:
    svc.llm.default = (503, {"error": {}})
    await svc.text(BUYER, "water")
    return "Showing top-ranked results" in body_text(svc.last(BUYER)), choice_ids(svc.last(BUYER))[0]


async def tier_after_ranking_down(svc: Service) -> str:
    svc.llm.default = (503, {"error": {}})
    await fault(svc, action="ranking_down", key=BUYER)
    await fault(svc, action="database_down", key=BUYER)
    await svc.text(BUYER, "water")
    [event] = await svc.events(name="fallback_triggered")
    return str(event["data"]["tier"])


async def apology_buttons(svc: Service) -> list[str]:
    svc.llm.default = (503, {"error": {}})
    for action in ("ranking_down", "database_down", "curated_down"):
        await fault(svc, action=action, key=BUYER)
    await svc.text(BUYER, "water")
    return choice_ids(svc.last(BUYER))


async def balance_after_failed_checkout(svc: Service) -> tuple[int, int]:
    await svc.tap(BUYER, "topup:10000", "list_reply")
    await svc.callback(svc.payments.last_reference())
    order_id = await order_to_checkout(svc, quantity=1)
    await fault(svc, action="database_down", op="checkout", key=BUYER, times=1)
    await svc.tap(BUYER, f"pay_wallet:{order_id}")
    return int((await svc.wallet(BUYER))["balance"]), len((await svc.order(order_id))["ledger"])


async def declined_state(svc: Service) -> str:
    order_id = await order_to_checkout(svc, quantity=1)
    await svc.tap(BUYER, f"pay_momo:{order_id}")
    await svc.callback(svc.payments.last_reference(), "FAILED")
    return str((await svc.order(order_id))["state"])


async def receipts_after_late_callback(svc: Service) -> tuple[int, int]:
    order_id = await order_to_checkout(svc, quantity=1)
    await svc.tap(BUYER, f"pay_momo:{order_id}")
    await past_deadline(svc)
    await svc.callback(svc.payments.last_reference())
    receipts = sum(t.startswith("✅ Payment received") for t in svc.texts(BUYER))
    return receipts, len((await svc.order(order_id))["ledger"])


async def balance_after_duplicate_callback(svc: Service) -> int:
    await svc.tap(BUYER, "topup:5000", "list_reply")
    reference = svc.payments.last_reference()
    await svc.callback(reference)
    await svc.callback(reference)
    return int((await svc.wallet(BUYER))["balance"])


async def state_when_station_unreachable(svc: Service) -> str:
    svc.graph.fail_to.update({KIM_STAFF: 400, KIM_STAFF2: 400})
    return str((await svc.order(await paid_order(svc)))["state"])


async def second_staff_notified(svc: Service) -> bool:
    svc.graph.fail_to[KIM_STAFF] = 400
    order_id = await paid_order(svc)
    return any(f"New order {order_id}" in t for t in svc.texts(KIM_STAFF2))


async def buyer_hears_after_deadline(svc: Service) -> bool:
    await no_match(svc, "wedding cake", "Remera")
    await past_deadline(svc)
    return "No vendor answered in time" in body_text(svc.last(BUYER))


async def partial_quotes_shown(svc: Service) -> bool:
    await no_match(svc, "birthday balloon")
    await svc.text(KIM_OWNER, f"{quote_id(svc, KIM_OWNER)} 4500")
    await past_deadline(svc)
    return body_text(svc.last(BUYER)).startswith("💬 Quotes so far")


async def redispatched(svc: Service) -> bool:
    order_id = await ready_order(svc)
    await past_deadline(svc)
    return bool(await svc.events(name="driver_redispatched", order_id=order_id))


async def paused_item_checked_out(svc: Service) -> bool:
    svc.llm.replies.append((200, tool_call("water jerrycan", 1)))
    await svc.text(BUYER, "water")
    await svc.tap(BUYER, "offer:kim-water-20l", "list_reply")
    await svc.tap(KIM_OWNER, "vnd_toggle:kim-water-20l")
    await svc.location(BUYER)
    return "Total:" in body_text(svc.last(BUYER))


async def driver_pins_when_maps_down(svc: Service) -> int:
    svc.maps.status = 503
    order_id = await ready_order(svc)
    await svc.tap(DRIVER1, f"drv_accept:{order_id}")
    return sum(m["type"] == "location" for m in svc.inbox(DRIVER1))


async def llm_calls_for_a_long_text(svc: Service) -> int:
    await svc.text(BUYER, "water " * 900)
    return len(svc.llm.calls)


async def menus_over_the_rate_limit(svc: Service) -> int:
    for _ in range(5):
        await svc.text(BUYER, "menu")
    await past_deadline(svc, 0.35)
    return sum(choice_ids(m)[:1] == ["buyer_search"] for m in svc.inbox(BUYER))


async def reply_after_graph_429(svc: Service) -> bool:
    svc.graph.fail_next = [(429, 130429)]
    await svc.text(BUYER, "hi")
    return bool(svc.inbox(BUYER))


async def raw_output_reaches_buyer(svc: Service) -> bool:
    svc.llm.replies.append((200, tool_call("water", name="delete_everything")))
    await svc.text(BUYER, "water")
    return "{" in body_text(svc.last(BUYER))


async def llm_calls_on_429(svc: Service) -> int:
    svc.llm.default = (429, {"error": {}})
    await svc.text(BUYER, "water")
    return len(svc.llm.calls)


async def answered_while_the_llm_hangs(svc: Service) -> bool:
    svc.llm.hang = True
    try:
        await asyncio.wait_for(svc.text(BUYER, "water"), 1.0)
    except TimeoutError:
        return False
    return "top-ranked" in body_text(svc.last(BUYER))


SYNTHETIC_CASES: list[tuple[str, Any, Any, Any]] = [
    (defects.FALLBACK_TIER_SKIPPED, llm_503_search, (True, "offer:kim-water-20l"), (False, "buyer_search")),
    (defects.NO_LLM_TIMEOUT, answered_while_the_llm_hangs, True, False),
    (defects.RAW_LLM_OUTPUT_SHOWN, raw_output_reaches_buyer, False, True),
    (defects.NO_LLM_RETRY, llm_calls_on_429, 6, 1),
    (defects.NO_RETRY_CAP, llm_calls_on_429, 6, 11),
    (defects.DATABASE_TIER_SKIPPED, tier_after_ranking_down, "curated", "curated"),
    (defects.CURATED_TIER_SKIPPED, tier_after_ranking_down, "curated", "graceful_failure"),
    (defects.DEAD_END_APOLOGY, apology_buttons, ["buyer_search", "support_help", "back_home"], []),
    (defects.CHARGE_BEFORE_COMMIT, balance_after_failed_checkout, (10000, 0), (6500, 1)),
    (defects.DECLINED_MARKED_PAID, declined_state, "pending_payment", "paid"),
    (defects.PAYMENT_PAID_TWICE, receipts_after_late_callback, (1, 1), (2, 2)),
    (defects.CALLBACK_NOT_IDEMPOTENT, balance_after_duplicate_callback, 5000, 10000),
    (defects.NOTIFY_FAILURE_IGNORED, state_when_station_unreachable, "cancelled", "paid"),
    (defects.NOTIFY_STOPS_AT_FIRST_FAILURE, second_staff_notified, True, False),
    (defects.NO_QUOTE_DEADLINE, buyer_hears_after_deadline, True, False),
    (defects.PARTIAL_QUOTES_DROPPED, partial_quotes_shown, True, False),
    (defects.AVAILABILITY_NOT_RECHECKED, paused_item_checked_out, False, True),
    (defects.NO_REDISPATCH, redispatched, True, False),
    (defects.MAPS_FAILURE_BREAKS_NAVIGATION, driver_pins_when_maps_down, 2, 0),
    (defects.NO_INPUT_VALIDATION, llm_calls_for_a_long_text, 0, 1),
    (defects.RATE_LIMIT_DROPS_MESSAGES, menus_over_the_rate_limit, 5, 3),
    (defects.NO_GRAPH_BACKOFF, reply_after_graph_429, True, False),
]  # fmt: skip
OVERRIDES: dict[str, dict[str, Any]] = {
    defects.NO_LLM_TIMEOUT: {"agent_timeout_ms": 100},
    defects.PAYMENT_PAID_TWICE: {"payment_pending_notice_ms": 30},
    defects.RATE_LIMIT_DROPS_MESSAGES: {"rate_limit_per_user": 3, "rate_limit_window_seconds": 0.3},
    defects.NO_GRAPH_BACKOFF: {"graph_retry_base_ms": 1},
}


@pytest.mark.parametrize(
    ("switch", "scenario", "healthy", "broken"), SYNTHETIC_CASES, ids=[c[0] for c in SYNTHETIC_CASES]
)
@run_async
async def test_synthetic_defect_switch_changes_its_behaviour(
    tmp_path: Path, switch: str, scenario: Any, healthy: Any, broken: Any
) -> None:
    settings = {**FAST, **OVERRIDES.get(switch, {})}
    async with service(tmp_path / "healthy", **settings) as svc:
        assert await scenario(svc) == healthy
    async with service(tmp_path / "broken", switch, **settings) as svc:
        assert await scenario(svc) == broken


def test_every_synthetic_defect_has_a_case_and_a_scenario() -> None:
    names = list(defects.DEFECTS)
    # The 21 scenarios' switches run from FALLBACK_TIER_SKIPPED to NO_GRAPH_BACKOFF; later sections
    # (fault outcomes, boundaries) are listed by journeys, and checked by their own tests.
    synthetic = names[names.index(defects.FALLBACK_TIER_SKIPPED) : names.index(defects.NO_GRAPH_BACKOFF) + 1]
    assert synthetic == [c[0] for c in SYNTHETIC_CASES]
    named: list[str] = []
    for path in sorted((ROOT / "tests" / "synthetic").glob("*.scenario.yaml")):
        named += yaml.safe_load(path.read_text(encoding="utf-8"))["defects"]
    assert named == synthetic


# -- fault outcomes: every outcome the simulators produce, and the switch that mishandles each ----------

POLL_FAST = {"payment_poll_interval_ms": 20, "payment_poll_max_attempts": 3}


def momo_status(svc: Service, reference_id: str, status: str, reason: str | None = None) -> dict[str, Any]:
    """The body MoMo answers to ``GET requesttopay/{referenceId}`` for a request the fake recorded."""
    _, request = next((h, b) for h, b in svc.payments.requests if h["x-reference-id"] == reference_id)
    body = {"externalId": request["externalId"], "amount": request["amount"], "currency": "RWF"}
    body |= {"payer": request["payer"], "status": status}
    return body | ({"reason": reason} if reason else {})


async def momo_order(svc: Service) -> tuple[str, str]:
    """An order the buyer asked to pay by MoMo: (order id, the payment's reference id)."""
    order_id = await order_to_checkout(svc, quantity=1)
    await svc.tap(BUYER, f"pay_momo:{order_id}")
    return order_id, svc.payments.last_reference()


async def paid_after_pending_callback(svc: Service) -> tuple[str, int]:
    order_id, reference = await momo_order(svc)
    assert (await svc.callback(reference, "PENDING")).status_code == 200
    order = await svc.order(order_id)
    return order["state"], len(order["ledger"])


async def state_after_lost_callback(svc: Service) -> str:
    order_id, reference = await momo_order(svc)
    svc.payments.statuses[reference] = momo_status(svc, reference, "SUCCESSFUL")
    await past_deadline(svc)  # MTN never calls back: only a poll can learn it was paid
    return str((await svc.order(order_id))["state"])


async def polls_of_a_pending_payment(svc: Service) -> int:
    _, reference = await momo_order(svc)
    svc.payments.statuses[reference] = momo_status(svc, reference, "PENDING")
    await past_deadline(svc, 0.3)  # room for 15 polls; 3 are allowed
    return min(len(svc.payments.polls), 4)


async def state_after_a_failed_poll(svc: Service) -> str:
    order_id, reference = await momo_order(svc)
    for _ in range(200):  # until the first poll, which the fake answers 404 (unreadable)
        if svc.payments.polls:
            break
        await asyncio.sleep(0.005)
    svc.payments.statuses[reference] = momo_status(svc, reference, "SUCCESSFUL")
    await past_deadline(svc)
    return str((await svc.order(order_id))["state"])


async def raw_reason_shown(svc: Service) -> bool:
    _, reference = await momo_order(svc)
    await svc.callback(reference, "FAILED", reason="NOT_ENOUGH_FUNDS")
    text = body_text(svc.last(BUYER))
    assert "didn't go through" in text
    return "NOT_ENOUGH_FUNDS" in text


async def receipts_after_duplicate_order_callback(svc: Service) -> tuple[int, int]:
    order_id = await paid_order(svc)
    await svc.callback(svc.payments.last_reference())
    receipts = sum(t.startswith("✅ Payment received") for t in svc.texts(BUYER))
    return receipts, len((await svc.order(order_id))["ledger"])


FAULT_CASES: list[tuple[str, Any, Any, Any]] = [
    (defects.NON_SUCCESSFUL_STATUS_PAID, paid_after_pending_callback, ("pending_payment", 0), ("paid", 1)),
    (defects.NO_PAYMENT_POLLING, state_after_lost_callback, "paid", "pending_payment"),
    (defects.PAYMENT_POLL_UNBOUNDED, polls_of_a_pending_payment, 3, 4),
    (defects.POLL_STOPS_ON_ERROR, state_after_a_failed_poll, "paid", "pending_payment"),
    (defects.RAW_PAYMENT_REASON_SHOWN, raw_reason_shown, False, True),
    (defects.ORDER_CALLBACK_NOT_IDEMPOTENT, receipts_after_duplicate_order_callback, (1, 1), (2, 2)),
]  # fmt: skip


# Room between two polls for the test to change what the fake answers.
FAULT_OVERRIDES: dict[str, dict[str, Any]] = {defects.POLL_STOPS_ON_ERROR: {"payment_poll_interval_ms": 60}}


@pytest.mark.parametrize(
    ("switch", "scenario", "healthy", "broken"), FAULT_CASES, ids=[c[0] for c in FAULT_CASES]
)
@run_async
async def test_payment_outcome_switch_changes_its_behaviour(
    tmp_path: Path, switch: str, scenario: Any, healthy: Any, broken: Any
) -> None:
    settings = {**POLL_FAST, **FAULT_OVERRIDES.get(switch, {})}
    async with service(tmp_path / "healthy", **settings) as svc:
        assert await scenario(svc) == healthy
    async with service(tmp_path / "broken", switch, **settings) as svc:
        assert await scenario(svc) == broken


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("APPROVAL_REJECTED", "declined on your phone"),
        ("EXPIRED", "expired before it was approved"),
        ("COULD_NOT_PERFORM_TRANSACTION", "expired before it was approved"),
        ("PAYER_LIMIT_REACHED", "transaction limit"),
        ("INTERNAL_PROCESSING_ERROR", "check your MoMo balance"),
        ("SERVICE_UNAVAILABLE", "MoMo couldn't complete the payment"),
        (None, "MoMo couldn't complete the payment"),
    ],
)
@run_async
async def test_each_failure_reason_gets_its_own_words_never_the_code(
    tmp_path: Path, reason: str | None, says: str
) -> None:
    async with service(tmp_path) as svc:
        order_id, reference = await momo_order(svc)
        await svc.callback(reference, "FAILED", **({"reason": reason} if reason else {}))
        failed = svc.last(BUYER)
        assert says in body_text(failed)
        assert reason is None or reason not in body_text(failed)
        assert choice_ids(failed) == [f"pay_momo:{order_id}", f"pay_wallet:{order_id}", "back_home"]
        await svc.tap(BUYER, "wallet_topup")
        await svc.tap(BUYER, "topup:5000", "list_reply")
        await svc.callback(svc.payments.last_reference(), "FAILED", reason=reason or "NOT_ALLOWED")
        assert says in body_text(svc.last(BUYER)) or reason is None


@run_async
async def test_a_poll_settles_once_and_the_late_callback_is_a_duplicate(tmp_path: Path) -> None:
    async with service(tmp_path, **POLL_FAST) as svc:
        order_id, reference = await momo_order(svc)
        svc.payments.statuses[reference] = momo_status(svc, reference, "FAILED", "EXPIRED")
        await past_deadline(svc)
        assert "expired before it was approved" in body_text(svc.last(BUYER))
        [polled] = await svc.events(name="payment_polled", order_id=order_id)
        assert (polled["data"]["status"], polled["data"]["outcome"]) == ("FAILED", "order_failed")
        sent = len(svc.inbox(BUYER))
        late = await svc.callback(reference, "FAILED", reason="EXPIRED")  # out of order: after the poll
        assert late.json() == {"status": "duplicate"}
        assert len(svc.inbox(BUYER)) == sent
        assert (await svc.order(order_id))["state"] == "pending_payment"


@run_async
async def test_unreadable_polls_are_retried_and_stop_at_the_bound(tmp_path: Path) -> None:
    async with service(tmp_path, **POLL_FAST) as svc:  # the fake answers 404 to an unknown reference
        order_id, _ = await momo_order(svc)
        await past_deadline(svc, 0.3)
        polled = await svc.events(name="payment_polled", order_id=None)
        assert [e["data"]["outcome"] for e in polled] == ["unreadable"] * 3
        assert (await svc.order(order_id))["state"] == "pending_payment"


# -- the upstream clients: Retry-After, resets, maps answers -------------------------------------------------


class Upstream:
    """An httpx MockTransport answering from ``answers`` in turn (an exception is raised); records calls."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def rate_limited(retry_after: str) -> httpx.Response:
    return httpx.Response(
        429, json={"error": {"code": "rate_limit_exceeded"}}, headers={"Retry-After": retry_after}
    )


def chat_answer() -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": "Hello"}}]})


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry waits asked for, recorded instead of slept (no timing in tests)."""
    waits: list[float] = []

    async def record(delay: float) -> None:
        waits.append(delay)

    monkeypatch.setattr(retry_module.asyncio, "sleep", record)
    return waits


async def llm_outcome(tmp_path: Path, upstream: Upstream, *switches: str) -> str:
    client = LlmClient(
        settings_for(tmp_path, *switches), EventLog(Store.open(":memory:")), upstream.transport
    )
    try:
        answer = await client.understand("hi", BUYER, "c1")
    except LlmError as exc:
        return exc.reason
    finally:
        await client.aclose()
    return type(answer).__name__


@pytest.mark.parametrize(
    ("switch", "answers", "healthy", "broken"),
    [
        # Honoured: one wait of Retry-After, then the answer; ignored: the (zero) backoff, no wait.
        (defects.RETRY_AFTER_IGNORED, ("1",), ("Chat", 2, [1.0]), ("Chat", 2, [])),
        # Beyond AGENT_RETRY_AFTER_MAX_MS (10 s): no retry at all; unbounded: a minute's wait.
        (defects.RETRY_AFTER_UNBOUNDED, ("60",), ("http_429", 1, []), ("Chat", 2, [60.0])),
    ],
)
@run_async
async def test_retry_after_is_honoured_within_its_bound(
    tmp_path: Path, slept: list[float], switch: str, answers: tuple[str], healthy: Any, broken: Any
) -> None:
    for switches, expected in (((), healthy), ((switch,), broken)):
        slept.clear()
        upstream = Upstream(rate_limited(answers[0]), chat_answer())
        assert (await llm_outcome(tmp_path, upstream, *switches), upstream.calls, slept) == expected


@run_async
async def test_connection_resets_are_retried_up_to_the_cap(tmp_path: Path, slept: list[float]) -> None:
    reset = httpx.RemoteProtocolError("peer closed connection without sending complete message body")
    upstream = Upstream(reset)
    assert await llm_outcome(tmp_path, upstream) == "transport_error: RemoteProtocolError"
    assert upstream.calls == 1 + 5  # 1 + AGENT_MAX_RETRIES
    upstream = Upstream(reset)
    await llm_outcome(tmp_path, upstream, defects.RESET_RETRY_UNCAPPED)
    assert upstream.calls == 1 + 10


def test_retry_after_as_an_http_date() -> None:
    later = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_module.retry_after(later) == 0.0  # in the past: no wait
    assert retry_module.retry_after(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    assert retry_module.retry_after(httpx.Response(429)) is None


async def maps_outcome(tmp_path: Path, upstream: Upstream, *switches: str) -> str:
    client = MapsClient(
        settings_for(tmp_path, *switches), EventLog(Store.open(":memory:")), upstream.transport
    )
    try:
        route = await client.route((-1.95, 30.1), (-1.97, 30.07), corr="c1", phone=DRIVER1)
    except MapsError as exc:
        return exc.reason
    except KeyError as exc:
        return f"crash: KeyError {exc}"
    finally:
        await client.aclose()
    return f"{route.distance_m} m"


@run_async
async def test_maps_zero_results_and_quota(tmp_path: Path, slept: list[float]) -> None:
    zero = Upstream(httpx.Response(200, json={"status": "ZERO_RESULTS"}))
    assert (await maps_outcome(tmp_path, zero), zero.calls) == ("zero_results", 1)  # an answer: no retry
    zero = Upstream(httpx.Response(200, json={"status": "ZERO_RESULTS"}))
    assert (
        await maps_outcome(tmp_path, zero, defects.MAPS_ZERO_RESULTS_CRASH) == "crash: KeyError 'distance_m'"
    )
    over = httpx.Response(429, json={"status": "OVER_QUERY_LIMIT"})
    quota = Upstream(over)
    assert (await maps_outcome(tmp_path, quota), quota.calls) == ("over_query_limit", 2)
    route = httpx.Response(
        200, json={"status": "OK", "distance_m": 3240, "duration_s": 610, "url": "https://m/r"}
    )
    slept.clear()
    quota = Upstream(
        httpx.Response(429, json={"status": "OVER_QUERY_LIMIT"}, headers={"Retry-After": "1"}), route
    )
    assert (await maps_outcome(tmp_path, quota), slept) == ("3240 m", [1.0])


def test_every_fault_outcome_defect_has_a_case_and_a_journey() -> None:
    cases = {c[0] for c in FAULT_CASES} | {
        defects.RETRY_AFTER_IGNORED,  # test_retry_after_is_honoured_within_its_bound
        defects.RETRY_AFTER_UNBOUNDED,
        defects.RESET_RETRY_UNCAPPED,  # test_connection_resets_are_retried_up_to_the_cap
        defects.MAPS_ZERO_RESULTS_CRASH,  # test_maps_zero_results_and_quota
    }
    assert cases == set(defects.FAULT_OUTCOMES)
    named: set[str] = set()
    for path in sorted((ROOT / "tests" / "e2e").glob("fault_*.journey.yaml")):
        named |= set(yaml.safe_load(path.read_text(encoding="utf-8")).get("defects", []))
    assert set(defects.FAULT_OUTCOMES) <= named


def test_an_answer_cut_at_the_token_limit_is_malformed() -> None:
    call = tool_call("water", 2)
    assert parse_completion(call).query == "water"
    call["choices"][0]["finish_reason"] = "length"  # the arguments still parse: the answer is not whole
    with pytest.raises(ValueError, match="cut short"):
        parse_completion(call)


@pytest.mark.parametrize("status", ["PENDING", "ONGOING", "successful_maybe"])
@run_async
async def test_only_successful_pays(tmp_path: Path, status: str) -> None:
    async with service(tmp_path) as svc:
        order_id, reference = await momo_order(svc)
        sent = len(svc.inbox(BUYER))
        assert (await svc.callback(reference, status)).json() == {"status": "not_final"}
        order = await svc.order(order_id)
        assert (order["state"], order["ledger"], len(svc.inbox(BUYER))) == ("pending_payment", [], sent)
        # The final word still settles it, once.
        assert (await svc.callback(reference, "SUCCESSFUL")).json() == {"status": "order_paid"}
