"""Every journey defect switch changes the behaviour it names (and nothing is broken without it).

Each case runs one scenario twice, healthy and with the switch on, and returns what a journey would
observe; the two must be the expected pair.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from test_reference_fakes import (
    BUYER,
    DRIVER1,
    KIM_OWNER,
    KIM_STAFF,
    Service,
    WaUser,
    body_text,
    choice_ids,
    order_to_checkout,
    paid_order,
    ready_order,
    row_titles,
    run_async,
    service,
    tool_call,
)

from reference import defects

pytestmark = pytest.mark.unit
Scenario = Callable[[Service], Awaitable[Any]]


async def station_notified(svc: Service) -> bool:
    order_id = await paid_order(svc)
    return any(f"New order {order_id}" in body_text(m) for m in svc.inbox(KIM_STAFF))


async def state_after_wrong_code(svc: Service) -> str:
    order_id = await ready_order(svc)
    await svc.tap(DRIVER1, f"drv_accept:{order_id}")
    await svc.tap(DRIVER1, f"drv_delivered:{order_id}")
    receipt = next(t for t in svc.texts(BUYER) if "Delivery code:" in t)
    code = receipt.split("Delivery code: ")[1][:4]
    await svc.text(DRIVER1, "1111" if code != "1111" else "2222")
    return str((await svc.order(order_id))["state"])


async def paused_item_offered(svc: Service) -> bool:
    svc.llm.replies.append((200, tool_call("eggs tray")))
    await svc.text(BUYER, "eggs")
    return "offer:rem-eggs-30" in choice_ids(svc.last(BUYER))  # seeded as available: false


async def drivers_offered(svc: Service) -> bool:
    order_id = await ready_order(svc)
    return any(f"Delivery job {order_id}" in body_text(m) for m in svc.inbox(DRIVER1))


async def buyer_told_of_rejection(svc: Service) -> tuple[bool, int]:
    order_id = await paid_order(svc)
    await svc.tap(KIM_STAFF, f"st_reject:{order_id}")
    told = any(f"can't take order {order_id}" in t for t in svc.texts(BUYER))
    return told, int((await svc.wallet(BUYER))["balance"])  # refunded either way


async def wallet_debits(svc: Service) -> tuple[int, int]:
    await svc.tap(BUYER, "topup:20000", "list_reply")
    await svc.callback(svc.payments.last_reference())
    order_id = await order_to_checkout(svc, quantity=1)
    await svc.tap(BUYER, f"pay_wallet:{order_id}")
    ledger = (await svc.order(order_id))["ledger"]
    return len(ledger), int((await svc.wallet(BUYER))["balance"])


async def offered_price_after_update(svc: Service) -> tuple[str, str]:
    await svc.tap(KIM_OWNER, "vnd_price:kim-rice-5kg")
    await svc.text(KIM_OWNER, "9000")
    svc.llm.replies.append((200, tool_call("rice")))
    await svc.text(BUYER, "rice")
    kimironko = next(t for t in row_titles(svc.last(BUYER)) if t.startswith("Kimironko"))
    return svc.texts(KIM_OWNER)[-1], kimironko


async def ticket_reply(svc: Service) -> tuple[str, int]:
    await svc.tap(BUYER, "sup_human")
    rows = svc.app.state.store.fetchall("SELECT id FROM tickets")
    return svc.texts(BUYER)[-1].split(".")[0], len(rows)


async def marketplace_reply(svc: Service) -> str:
    await svc.tap(BUYER, "marketplace", "list_reply")
    return body_text(svc.last(BUYER)).split(":")[0]


async def help_reply(svc: Service) -> str:
    await svc.tap(BUYER, "support_help", "list_reply")
    return body_text(svc.last(BUYER)).split("\n")[0][:19]


async def unknown_tap_reply(svc: Service) -> bool:
    await svc.tap(BUYER, "qa_no_such_option")
    return "Traceback (most recent call last)" in body_text(svc.last(BUYER))


async def french_greeting_header_fits(svc: Service) -> bool:
    await svc.text(BUYER, "bonjour")
    return len(svc.last(BUYER)["interactive"]["header"]["text"]) <= 60  # Cloud API's header limit


async def username_only_user_answered(svc: Service) -> tuple[int, int]:
    """A user with a username and no phone shown greets the bot: (replies by BSUID, replies by phone)."""
    user = WaUser("RW.70000000000000000001", username="qa.aline")
    await svc.text(user, "hi")
    return len(svc.graph.to(user.user_id)), len([m for m in svc.graph.sent if "to" in m])


CASES: list[tuple[str, Scenario, Any, Any]] = [
    (defects.STATION_NOT_NOTIFIED, station_notified, True, False),
    (defects.DELIVERY_CODE_NOT_CHECKED, state_after_wrong_code, "out_for_delivery", "delivered"),
    (defects.AVAILABILITY_IGNORED, paused_item_offered, False, True),
    (defects.DRIVER_NOT_NOTIFIED, drivers_offered, True, False),
    (defects.BUYER_NOT_TOLD_OF_REJECTION, buyer_told_of_rejection, (True, 3500), (False, 3500)),
    (defects.WALLET_DOUBLE_DEBIT, wallet_debits, (1, 16500), (2, 13000)),
    (
        defects.PRICE_CHANGE_IGNORED,
        offered_price_after_update,
        ("✅ Price updated: Rice 5kg 9,000 RWF", "Kimironko 9,000 RWF"),
        ("✅ Price updated: Rice 5kg 9,000 RWF", "Kimironko 7,500 RWF"),
    ),
    (defects.TICKET_NOT_CREATED, ticket_reply, None, ("🎫 Ticket created", 0)),
    (
        defects.MARKETPLACE_AGENT_ON,
        marketplace_reply,
        "That option isn't available yet. What next?",
        "🛍️ Marketplace",
    ),
    (defects.RAW_I18N_KEY, help_reply, None, "agent.not_available"),
    (defects.STACK_TRACE_LEAK, unknown_tap_reply, False, True),
    (defects.FRENCH_HEADER_TOO_LONG, french_greeting_header_fits, True, False),
    (defects.PHONE_ONLY_IDENTITY, username_only_user_answered, (1, 0), (0, 0)),
]


@pytest.mark.parametrize(("switch", "scenario", "healthy", "broken"), CASES, ids=[c[0] for c in CASES])
@run_async
async def test_defect_switch_changes_its_behaviour(
    tmp_path: Path, switch: str, scenario: Scenario, healthy: Any, broken: Any
) -> None:
    async with service(tmp_path / "healthy") as svc:
        observed_healthy = await scenario(svc)
    async with service(tmp_path / "broken", switch) as svc:
        observed_broken = await scenario(svc)
    if switch == defects.TICKET_NOT_CREATED:  # the healthy reply carries a fresh id
        text, count = observed_healthy
        assert text.startswith("🎫 Ticket SUP-")
        assert text.endswith(" created")
        assert count == 1
    elif switch == defects.RAW_I18N_KEY:
        assert observed_healthy != broken
        assert "." not in observed_healthy.split()[0]
    else:
        assert observed_healthy == healthy
    assert observed_broken == broken


def test_every_journey_defect_has_a_case() -> None:
    names = list(defects.DEFECTS)
    journey_switches = set(
        names[names.index(defects.STATION_NOT_NOTIFIED) : names.index(defects.FALLBACK_TIER_SKIPPED)]
    )
    assert journey_switches == {c[0] for c in CASES}


def delivery_code(svc: Service, order_id: str) -> str:
    receipt = next(t for t in svc.texts(BUYER) if order_id in t and "Delivery code:" in t)
    return receipt.split("Delivery code: ")[1][:4]


async def two_parcels_waiting_for_codes(svc: Service) -> tuple[str, str]:
    """Two ready orders, both taken by DRIVER1 and tapped Delivered (first, then second)."""
    first, second = await ready_order(svc), await ready_order(svc)
    for order_id in (first, second):
        await svc.tap(DRIVER1, f"drv_accept:{order_id}")
        await svc.tap(DRIVER1, f"drv_delivered:{order_id}")
    return first, second


@run_async
async def test_a_driver_with_two_parcels_delivers_each_by_its_own_code(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        first, second = await two_parcels_waiting_for_codes(svc)
        await svc.text(DRIVER1, delivery_code(svc, first))  # the parcel tapped first, code typed first
        assert svc.texts(DRIVER1)[-1] == f"✅ Delivery confirmed: order {first}. Thank you!"
        assert (await svc.order(second))["state"] == "out_for_delivery"
        await svc.text(DRIVER1, delivery_code(svc, second))
        assert svc.texts(DRIVER1)[-1] == f"✅ Delivery confirmed: order {second}. Thank you!"
        assert (await svc.order(first))["state"] == (await svc.order(second))["state"] == "delivered"


@run_async
async def test_a_parcel_locked_by_wrong_codes_leaves_the_others_deliverable(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        first, second = await two_parcels_waiting_for_codes(svc)
        wrong = "".join(str((int(c) + 1) % 10) for c in delivery_code(svc, second))
        if wrong == delivery_code(svc, first):
            wrong = "".join(str((int(c) + 2) % 10) for c in delivery_code(svc, second))
        for _ in range(3):  # wrong codes count against the parcel tapped last, until it is locked
            await svc.text(DRIVER1, wrong)
        assert svc.texts(DRIVER1)[-1].startswith("❌ That code doesn't match. No tries left for order")
        assert second in svc.texts(DRIVER1)[-1]
        await svc.text(DRIVER1, delivery_code(svc, first))  # the other parcel still waits for its code
        assert svc.texts(DRIVER1)[-1] == f"✅ Delivery confirmed: order {first}. Thank you!"
        assert (await svc.order(first))["state"] == "delivered"
        assert (await svc.order(second))["state"] == "out_for_delivery"
