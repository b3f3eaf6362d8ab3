"""The other agents (vendor, support, admin, marketplace), the search's fallback chain, flags and limits."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from test_reference_fakes import (
    ADMIN_PHONE,
    BUYER,
    BUYER2,
    DRIVER1,
    KIM_OWNER,
    KIM_STAFF,
    REM_OWNER,
    Service,
    body_text,
    chat_text,
    choice_ids,
    order_to_checkout,
    paid_order,
    row_titles,
    run_async,
    service,
    tool_call,
)

from reference.flags import Flags

pytestmark = pytest.mark.unit


async def search(svc: Service, query: str, buyer: str = BUYER, quantity: int = 1) -> dict:
    svc.llm.replies.append((200, tool_call(query, quantity)))
    await svc.text(buyer, f"{quantity} {query}")
    return svc.last(buyer)


# -- vendor ---------------------------------------------------------------------------------------------


@run_async
async def test_vendor_menu_changes_reach_buyers(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        await svc.tap(KIM_OWNER, "vendor_hub", "list_reply")
        assert choice_ids(svc.last(KIM_OWNER)) == ["vnd_menu", "vnd_orders", "back_home"]
        await svc.tap(KIM_OWNER, "vnd_menu")
        menu = svc.last(KIM_OWNER)
        assert choice_ids(menu)[0] == "vnd_item:kim-water-20l"
        assert choice_ids(menu)[-1] == "vnd_add"

        # Add: shows up in the menu (first) and in search.
        await svc.tap(KIM_OWNER, "vnd_add", "list_reply")
        await svc.text(KIM_OWNER, "Sugar")
        assert svc.texts(KIM_OWNER)[-1].startswith("😔 Please send it as: name, price")
        await svc.text(KIM_OWNER, "Sugar 2kg, 3,100")
        assert svc.texts(KIM_OWNER)[-1] == "✅ Added Sugar 2kg at 3,100 RWF"
        await svc.tap(KIM_OWNER, "vnd_menu")
        assert choice_ids(svc.last(KIM_OWNER))[0] == "vnd_item:kimironko-sugar-2kg"
        offers = await search(svc, "sugar")
        assert choice_ids(offers) == ["offer:kimironko-sugar-2kg", "offer:rem-sugar-1kg"]

        # Price: the offer shows the new price.
        await svc.tap(KIM_OWNER, "vnd_item:kim-water-20l", "list_reply")
        assert choice_ids(svc.last(KIM_OWNER)) == [
            "vnd_price:kim-water-20l", "vnd_toggle:kim-water-20l", "vnd_remove:kim-water-20l",
        ]  # fmt: skip
        await svc.tap(KIM_OWNER, "vnd_price:kim-water-20l")
        await svc.text(KIM_OWNER, "free")
        assert svc.texts(KIM_OWNER)[-1].startswith("😔 Please send the price")
        await svc.text(KIM_OWNER, "3200")
        assert svc.texts(KIM_OWNER)[-1] == "✅ Price updated: Water 20L jerrycan 3,200 RWF"
        offers = await search(svc, "water")
        assert "Kimironko 3,200 RWF" in row_titles(offers)

        # Pause: not offered; resume: offered again.
        await svc.tap(KIM_OWNER, "vnd_toggle:kim-water-20l")
        assert svc.texts(KIM_OWNER)[-1] == "⏸ Water 20L jerrycan is now unavailable"
        assert "offer:kim-water-20l" not in choice_ids(await search(svc, "water"))
        await svc.tap(BUYER, "offer:kim-water-20l", "list_reply")  # a stale list row
        assert svc.texts(BUYER)[-2].startswith("😔 Water 20L jerrycan is no longer available")
        assert "offer:kim-water-20l" not in choice_ids(svc.last(BUYER))
        await svc.tap(KIM_OWNER, "vnd_toggle:kim-water-20l")
        assert svc.texts(KIM_OWNER)[-1] == "▶️ Water 20L jerrycan is available again"
        assert "offer:kim-water-20l" in choice_ids(await search(svc, "water"))

        # Remove: gone from search and menu; another vendor cannot touch it.
        await svc.tap(REM_OWNER, "vnd_remove:kimironko-sugar-2kg")
        assert svc.texts(REM_OWNER)[-1].startswith("😔 That item isn't on your menu")
        await svc.tap(KIM_OWNER, "vnd_remove:kimironko-sugar-2kg")
        assert svc.texts(KIM_OWNER)[-1] == "🗑 Removed Sugar 2kg"
        assert choice_ids(await search(svc, "sugar")) == ["offer:rem-sugar-1kg"]


@run_async
async def test_vendor_orders_and_non_vendors(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        await svc.tap(KIM_OWNER, "vnd_orders")
        assert svc.texts(KIM_OWNER)[-1] == "📦 Today's orders\nNo orders today"
        order_id = await paid_order(svc)
        await svc.tap(KIM_OWNER, "vnd_orders")
        assert svc.texts(KIM_OWNER)[-1] == f"📦 Today's orders\n• {order_id}: paid, 3,500 RWF"
        await svc.tap(BUYER, "vendor_hub", "list_reply")
        refusal = svc.last(BUYER)
        assert body_text(refusal).startswith("You're not registered as a vendor")
        assert choice_ids(refusal) == ["support_help", "back_home"]


# -- support, admin, marketplace, hubs ------------------------------------------------------------------


@run_async
async def test_support_help_and_ticket(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        await svc.text(BUYER, "HELP")
        assert choice_ids(svc.last(BUYER)) == ["sup_human", "back_home"]
        await svc.tap(BUYER, "support_help", "list_reply")
        await svc.tap(BUYER, "sup_human")
        match = re.fullmatch(r"🎫 Ticket (SUP-[A-Z0-9]{6}) created\. .*", svc.texts(BUYER)[-1])
        assert match, svc.texts(BUYER)[-1]
        [event] = await svc.events(name="ticket_created")
        assert event["data"]["ticket_id"] == match[1]
        row = svc.app.state.store.fetchone("SELECT phone, status FROM tickets WHERE id = ?", (match[1],))
        assert (row["phone"], row["status"]) == (BUYER, "open")


@run_async
async def test_admin_metrics_and_denial(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        await svc.text(BUYER, "/metrics")
        assert svc.texts(BUYER)[-1] == "⛔ Admin command denied"
        await svc.tap(KIM_STAFF, "admin_metrics")
        assert svc.texts(KIM_STAFF)[-1] == "⛔ Admin command denied"
        order_id = await order_to_checkout(svc, quantity=1)  # one search, answered by the LLM
        await svc.callback(await svc.pay_momo(BUYER, order_id))
        svc.llm.replies.append((503, {"error": {"message": "down"}}))
        svc.llm.default = (503, {"error": {"message": "down"}})
        await svc.text(BUYER2, "rice")  # a second search, answered by the ranking fallback
        await svc.text(ADMIN_PHONE, "/metrics")
        summary = svc.texts(ADMIN_PHONE)[-1]
        assert summary.startswith("📊 Today:")
        assert "Orders: 1" in summary
        assert "Paid: 1" in summary
        assert "Delivered: 0" in summary
        assert "Revenue: 3,500 RWF" in summary
        assert "Fallback rate: 50% (1 of 2 searches)" in summary


@run_async
async def test_hubs_for_staff_and_drivers(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        await svc.tap(KIM_STAFF, "station_hub", "list_reply")
        assert "no open orders today" in svc.texts(KIM_STAFF)[-1]
        await svc.tap(DRIVER1, "driver_hub", "list_reply")
        assert svc.texts(DRIVER1)[-1] == (
            "🛵 No deliveries in progress.\nNew jobs come here as soon as an order is ready."
        )
        await svc.tap(BUYER, "station_hub", "list_reply")
        assert svc.texts(BUYER)[-1].startswith("You're not registered as station staff")
        order_id = await paid_order(svc)
        await svc.tap(KIM_STAFF, "station_hub", "list_reply")
        assert f"{order_id}: paid" in svc.texts(KIM_STAFF)[-1]
        for step in ("st_accept", "st_preparing", "st_ready"):
            await svc.tap(KIM_STAFF, f"{step}:{order_id}")
        await svc.tap(DRIVER1, "driver_hub", "list_reply")
        assert choice_ids(svc.last(DRIVER1)) == [f"drv_accept:{order_id}"]
        await svc.tap(BUYER, "driver_hub", "list_reply")
        assert svc.texts(BUYER)[-1].startswith("You're not registered as a driver")


# -- the buyer search and its fallback chain -------------------------------------------------------------


@run_async
async def test_llm_answers_in_words_and_no_match(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        svc.llm.replies.append((200, chat_text("Hello! What would you like to order today?")))
        await svc.text(BUYER, "how are you")
        ask = svc.last(BUYER)
        assert body_text(ask).startswith("🛒 What would you like to order?")
        assert choice_ids(ask) == ["back_home"]
        await search(svc, "unicorn saddle")
        none = svc.last(BUYER)
        assert body_text(none).startswith('😔 No offers for "unicorn saddle" right now.')
        assert choice_ids(none) == ["buyer_search", "back_home"]
        await svc.tap(BUYER, "buyer_search", "list_reply")
        assert svc.texts(BUYER)[-1].startswith("🛒 What would you like to order?")
        assert await svc.events(name="fallback_triggered") == []


@pytest.mark.parametrize(
    ("replies", "reason", "calls"),
    [
        ([(503, {"error": {}})] * 6, "http_503", 6),
        ([(429, {"error": {}})] * 6, "http_429", 6),
        ([(200, "{not json")], "malformed", 1),
        ([(200, tool_call("water", name="delete_everything"))], "malformed", 1),
        ([(200, tool_call("water", quantity="two"))], "malformed", 1),
        ([(200, tool_call("water", quantity=True))], "malformed", 1),
        ([(200, tool_call("", quantity=1))], "malformed", 1),
        ([(200, {"choices": []})], "malformed", 1),
        ([(401, {"error": {"message": "bad key"}})], "http_401", 1),
    ],
    ids=[
        "503",
        "429",
        "not-json",
        "unknown-tool",
        "quantity-str",
        "quantity-bool",
        "empty-query",
        "no-choice",
        "401",
    ],
)
@run_async
async def test_llm_failures_fall_back_to_ranked_results(
    tmp_path: Path, replies: list, reason: str, calls: int
) -> None:
    async with service(tmp_path) as svc:
        svc.llm.replies.extend(replies)
        await svc.text(BUYER, "2 jerrycans of water near Remera")
        assert len(svc.llm.calls) == calls  # 1 + AGENT_MAX_RETRIES (5) for 429/5xx
        offers = svc.last(BUYER)
        body = body_text(offers)
        assert body.startswith("🛒 Offers for 2 × jerrycan water")
        assert "Showing top-ranked results" in body
        assert "📍 Near Remera" in body
        assert choice_ids(offers)[0] == "offer:kim-water-20l"  # best rated and verified, 1 km away
        assert "tool" not in body
        assert "{" not in body
        [fallback] = await svc.events(name="fallback_triggered")
        assert fallback["data"]["tier"] == "ranking"
        assert fallback["data"]["failed"] == ["ai"]
        assert fallback["data"]["reasons"] == {"ai": reason}
        assert len(await svc.events(name="llm_called")) == calls


@run_async
async def test_llm_recovers_after_two_429s(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        svc.llm.replies.extend([(429, {"error": {}}), (429, {"error": {}}), (200, tool_call("gas cylinder"))])
        await svc.text(BUYER, "gas please")
        assert len(svc.llm.calls) == 3
        assert body_text(svc.last(BUYER)).startswith("🛒 Offers for 1 × gas cylinder\n")
        assert "top-ranked" not in body_text(svc.last(BUYER))
        assert await svc.events(name="fallback_triggered") == []


@run_async
async def test_llm_timeout_falls_back_within_the_timeout(tmp_path: Path) -> None:
    import asyncio

    async with service(tmp_path, agent_timeout_ms=150) as svc:
        svc.llm.hang = True
        loop = asyncio.get_running_loop()
        started = loop.time()
        await svc.text(BUYER, "rice")
        elapsed = loop.time() - started
        assert 0.15 <= elapsed < 1.5, elapsed
        assert "Showing top-ranked results" in body_text(svc.last(BUYER))
        [fallback] = await svc.events(name="fallback_triggered")
        assert fallback["data"]["reasons"] == {"ai": "timeout"}
        assert len(svc.llm.calls) == 1


@run_async
async def test_no_llm_configured_uses_ranking(tmp_path: Path) -> None:
    async with service(tmp_path, llm_base_url="") as svc:
        await svc.text(BUYER, "Muraho neza! Ndashaka amazi")
        offers = svc.last(BUYER)
        assert body_text(offers).startswith("🛒 Offers for 1 × amazi")
        assert choice_ids(offers)[0].startswith("offer:")
        assert "water" in choice_ids(offers)[0]
        assert svc.llm.calls == []
        [fallback] = await svc.events(name="fallback_triggered")
        assert fallback["data"]["reasons"] == {"ai": "not_configured"}


@run_async
async def test_maps_down_gives_plain_pins(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        svc.maps.status = 503
        order_id = await paid_order(svc)
        for step in ("st_accept", "st_preparing", "st_ready"):
            await svc.tap(KIM_STAFF, f"{step}:{order_id}")
        await svc.tap(DRIVER1, f"drv_accept:{order_id}")
        pickup, dropoff, plain = svc.inbox(DRIVER1)[-3:]
        assert (pickup["type"], dropoff["type"]) == ("location", "location")
        assert "Route:" not in body_text(plain)
        assert choice_ids(plain) == [f"drv_delivered:{order_id}"]
        assert len(svc.maps.calls) == 2  # one retry
        [fallback] = await svc.events(name="fallback_triggered")
        assert (fallback["data"]["tier"], fallback["data"]["agent"]) == ("plain_pins", "driver")


# -- flags and limits -------------------------------------------------------------------------------------


@run_async
async def test_ai_agents_off_gives_the_legacy_flow(tmp_path: Path) -> None:
    flags = Flags(ai_agents=False)
    async with service(tmp_path, flags=flags) as svc:
        await svc.text(BUYER, "2 jerrycans of water")
        assert choice_ids(svc.last(BUYER))[0] == "buyer_search"  # the home menu
        await svc.tap(BUYER, "my_wallet", "list_reply")
        await svc.tap(KIM_OWNER, "vendor_hub", "list_reply")
        for phone in (BUYER, KIM_OWNER):
            assert body_text(svc.last(phone)) == "That option isn't available yet. What next?"
            assert choice_ids(svc.last(phone)) == ["back_home"]
        assert svc.llm.calls == []
        reasons = {e["data"]["reason"] for e in await svc.events(name="agent_disabled")}
        assert reasons == {"ai_agents_off"}


@run_async
async def test_one_agent_off_and_marketplace(tmp_path: Path) -> None:
    base = Flags()
    flags = replace(base, agents={**base.agents, "vendor": False})
    async with service(tmp_path, flags=flags) as svc:
        await svc.tap(KIM_OWNER, "vendor_hub", "list_reply")
        assert body_text(svc.last(KIM_OWNER)) == "That option isn't available yet. What next?"
        await svc.tap(BUYER, "marketplace", "list_reply")  # off by default
        assert body_text(svc.last(BUYER)) == "That option isn't available yet. What next?"
        await search(svc, "rice")
        assert body_text(svc.last(BUYER)).startswith("🛒 Offers for")
    flags = replace(base, agents={**base.agents, "marketplace": True})
    async with service(tmp_path / "on", flags=flags) as svc:
        await svc.tap(BUYER, "marketplace", "list_reply")
        assert body_text(svc.last(BUYER)).startswith("🛍️ Marketplace")
        assert all(i.startswith("offer:") for i in choice_ids(svc.last(BUYER)))


@run_async
async def test_rollout_percentage_splits_users_deterministically(tmp_path: Path) -> None:
    from reference.flags import rollout_bucket

    users = [f"2507900000{n:02d}" for n in range(12)]
    inside = [u for u in users if rollout_bucket(u) < 50]
    assert 0 < len(inside) < len(users)
    async with service(tmp_path, flags=Flags(rollout_percentage=50)) as svc:
        for user in users:
            await svc.tap(user, "my_wallet", "list_reply")
        answered = [u for u in users if body_text(svc.last(u)).startswith("💳 Wallet balance")]
    assert answered == inside


@run_async
async def test_rate_limit_defers_messages_with_one_notice_and_exempts_staff(tmp_path: Path) -> None:
    async with service(
        tmp_path, rate_limit_per_user=3, rate_limit_window_seconds=0.3, llm_base_url=""
    ) as svc:
        for _ in range(6):
            await svc.text(BUYER, "menu")
        texts = svc.texts(BUYER)
        assert len(texts) == 7  # nothing lost: 6 menus, and one notice
        assert [t.startswith("⏳ You're sending messages faster") for t in texts].count(True) == 1
        assert texts[3].startswith("⏳")  # the 4th message waited for the next window
        assert len(await svc.events(name="rate_limited")) == 1
        assert len(await svc.events(name="message_deferred")) == 1
        for _ in range(6):
            await svc.text(KIM_STAFF, "menu")
        assert len(svc.inbox(KIM_STAFF)) == 6
        assert await svc.events(name="message_deferred", phone=KIM_STAFF) == []


# -- failure handling that is already in place ---------------------------------------------------------------


@run_async
async def test_graph_rate_limit_is_retried_with_backoff(tmp_path: Path) -> None:
    async with service(tmp_path, graph_retry_base_ms=1) as svc:
        svc.graph.fail_next = [(429, 4), (400, 130429), (400, 130429)]
        await svc.text(BUYER, "hi")
        assert choice_ids(svc.last(BUYER))[0] == "buyer_search"
        [sent] = await svc.events(name="reply_sent", phone=BUYER)
        assert sent["data"]["attempts"] == 4
        svc.graph.fail_next = [(400, 130429)] * 5  # 1 + 4 retries, then it gives up
        await svc.text(BUYER, "menu")
        [failed] = await svc.events(name="reply_failed")
        assert failed["data"]["attempts"] == 5


@run_async
async def test_one_unreachable_staff_phone_does_not_stop_the_others(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        svc.graph.fail_to[KIM_STAFF] = 400
        order_id = await paid_order(svc)
        assert any(f"New order {order_id}" in body_text(m) for m in svc.inbox("250788200002"))
        [failed] = await svc.events(name="notification_failed", order_id=order_id)
        assert (failed["phone"], failed["data"]["status"]) == (KIM_STAFF, 400)
        await svc.tap("250788200002", f"st_accept:{order_id}")
        assert (await svc.order(order_id))["state"] == "accepted"


@run_async
async def test_invalid_input_gets_specific_prompts(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        svc.llm.replies.append((200, tool_call("water jerrycan", 1)))
        await svc.text(BUYER, "water")
        await svc.tap(BUYER, "offer:kim-water-20l", "list_reply")
        await svc.location(BUYER, {"latitude": -1.2921, "longitude": 36.8219})  # Nairobi
        assert svc.texts(BUYER)[-1] == (
            "😔 Sorry, we only deliver in Kigali. 📍 Please share a location in Kigali."
        )
        await svc.location(BUYER)  # the question still stands
        assert "Total: 3,500 RWF" in body_text(svc.last(BUYER))
        calls = len(svc.llm.calls)
        await svc.text(BUYER, "water " * 400)
        assert svc.texts(BUYER)[-1].startswith("✂️ That message is too long")
        assert len(svc.llm.calls) == calls


@run_async
async def test_item_paused_before_checkout_cancels_and_offers_others(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        svc.llm.replies.append((200, tool_call("water jerrycan", 2)))
        await svc.text(BUYER, "2 water")
        await svc.tap(BUYER, "offer:kim-water-20l", "list_reply")
        order_id = (await svc.events(name="order_state_changed"))[-1]["data"]["order_id"]
        await svc.tap(KIM_OWNER, "vnd_toggle:kim-water-20l")
        await svc.location(BUYER)
        notice, others = svc.inbox(BUYER)[-2:]
        assert body_text(notice).startswith("😔 Water 20L jerrycan just became unavailable")
        assert choice_ids(others) == ["offer:rem-water-20l", "offer:nya-water-20l"]
        assert (await svc.order(order_id))["state"] == "cancelled"
        await svc.tap(BUYER, "offer:rem-water-20l", "list_reply")
        newest = (await svc.events(name="order_state_changed"))[-1]["data"]["order_id"]
        assert (await svc.order(newest))["items"][0]["quantity"] == 2


@run_async
async def test_lower_tiers_answer_when_the_upper_ones_fail(tmp_path: Path) -> None:
    import sqlite3
    from dataclasses import replace as dc_replace

    async with service(tmp_path) as svc:
        ctx = svc.app.state.ctx
        svc.llm.default = (503, {"error": {}})

        def broken(*args: object, **kwargs: object) -> None:
            raise sqlite3.OperationalError("database is locked")

        ctx.catalog.search = broken  # ranking and database tiers both read the catalogue
        await svc.text(BUYER, "water")
        examples = svc.last(BUYER)
        assert "example offers" in body_text(examples)
        assert choice_ids(examples)[-1] == "buyer_search"
        assert all(i.startswith("offer:") for i in choice_ids(examples)[:-1])
        [event] = await svc.events(name="fallback_triggered")
        assert event["data"]["tier"] == "curated"
        assert event["data"]["failed"] == ["ai", "ranking", "database"]

        ctx.seed = dc_replace(ctx.seed, vendors=())  # and no curated examples either
        await svc.text(BUYER, "rice")
        apology = svc.last(BUYER)
        assert body_text(apology).startswith("😔 Sorry, search isn't available right now.")
        assert choice_ids(apology) == ["buyer_search", "support_help", "back_home"]
        event = (await svc.events(name="fallback_triggered"))[-1]
        assert event["data"]["tier"] == "graceful_failure"
        assert event["data"]["failed"] == ["ai", "ranking", "database", "curated"]
