"""Webhook reliability (marker ``reliability``): 1000+ signed messages the way Meta delivers them.

55+ users send home-menu words (each worth exactly one reply, the home menu); a fifth of them are
username-only (no phone in their webhooks: only their BSUID) and a fifth show a username beside their phone
(``easymo_qa.reliability.STORM_KINDS``); about 10 % of the messages
are delivered twice with the same wamid (racing, later, or twice in one payload), about 10 % travel in
multi-message webhooks, about 10 % carry a timestamp older than the one before. Meanwhile a few buyers
top up, order and pay with every effectful step delivered twice at once. Afterwards every message must
have exactly one outcome (a reply, or a reason the SUT recorded), with no duplicate reply, no failed
handling (``message_failed``, ``reply_failed``, ``job_failed``) and no duplicate order, payment request or
ledger entry. The counts go to ``reports/reliability.json`` for the sign-off's
``reliability_*`` gates. Black box: the webhook, the Graph API simulator and ``GET /admin/events``.

Replay a run with ``RELIABILITY_SEED=<seed printed in the table>``.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from easymo_qa.hygiene.log import HygieneLog
from easymo_qa.reliability import (
    EventReader,
    build_plan,
    failure_events,
    send_plan,
    users_needed,
    wait_until_settled,
)
from easymo_qa.reliability import account as account_for
from easymo_qa.signoff.reliability import RELIABILITY_FILE, ReliabilityResult
from easymo_qa.target import Target
from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.expect import Expectation
from easymo_qa.whatsapp.numbers import TestNumberPool
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.replies import ReplyReader
from easymo_qa.whatsapp.user import WhatsAppUser

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.easymo,
    pytest.mark.needs("easymo"),
    pytest.mark.needs("observability"),
]

MIN_MESSAGES = 1000
MIN_USERS = 55
BUYERS = 5  # the purchase cohort: duplicated top-up, checkout and payment
CONCURRENCY = 16
SEND_LIMIT_SECONDS = 120.0
TOPUP, SEARCH, OFFER = "topup:20000", "I need a gas cylinder in Remera", "offer:rem-gas-12kg"
DROPOFF = (-1.9570, 30.1010)  # Remera
EXPECTED_LEDGER_ENTRIES = 2  # the top-up credit, the order's wallet debit


def is_home_menu(reply: OutboundMessage) -> bool:
    return reply.kind == "list" and "support_help" in reply.row_ids


def twice(user: WhatsAppUser, message: dict[str, Any], summary: str) -> None:
    """Deliver one message twice at once (same wamid), as Meta does when a webhook ACK is slow."""
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(user.send, message, summary=summary)
        again = pool.submit(user.post_payload, user.webhook_for([dict(message)]))
        statuses = (first.result().status_code, again.result().status_code)
    assert statuses == (200, 200), f"{summary}: HTTP {statuses}"


def purchase(user: WhatsAppUser) -> None:
    """Top up 20,000 RWF, order a gas cylinder and pay it from the wallet; every effectful step twice.

    It runs inside the storm's own flood of 1000+ messages, so each reply gets the whole reply wait: what
    counts here is duplicates, not latency (the load and functional latency gates own that).
    """
    wait = user.target.reply_seconds
    user.tap_button("my_wallet", "💳 Wallet")
    user.expect_reply(text="Wallet balance", within=wait)
    user.tap_button("wallet_topup", "➕ Top up")
    user.expect_reply("list", rows=[TOPUP], within=wait)
    context = user.last_reply.wamid if user.last_reply else None
    twice(user, payloads.list_reply(user.phone, TOPUP, context_id=context), f"choose {TOPUP} (twice)")
    user.expect_replies(
        [Expectation(text="Approve the MoMo request of 20,000 RWF"), Expectation(text=r"Wallet topped up")],
        wait,
    )
    user.send_text(SEARCH)
    user.expect_reply("list", rows=[OFFER], within=wait)
    user.choose_row(OFFER)
    user.expect_reply(text="share your delivery location", within=wait)
    twice(user, payloads.location(user.phone, *DROPOFF), "share the drop-off location (twice)")
    checkout = user.expect_reply("buttons", text="Total: ", within=wait)
    order_id = re.search(r"ORD-[A-Z0-9]{6}", checkout.text)
    assert order_id, f"no order id in the checkout: {checkout.summary()}"
    pay = payloads.button_reply(user.phone, f"pay_wallet:{order_id.group(0)}", context_id=checkout.wamid)
    twice(user, pay, "pay from the wallet (twice)")
    user.expect_reply(text=f"Payment received for order {order_id.group(0)}", within=wait)
    user.expect_no_reply()


def effects(events: list[dict[str, Any]]) -> dict[str, int]:
    """What one buyer's purchase left: orders created, MoMo requests, ledger entries."""
    names = Counter(e["name"] for e in events)
    created = {
        e["data"].get("order_id")
        for e in events
        if e["name"] == "order_state_changed" and e["data"].get("from") is None
    }
    return {
        "orders": len(created),
        "payment_requests": names["payment_requested"],
        "ledger_entries": names["ledger_entry_added"],
    }


def counts_table(result: ReliabilityResult, seed: int, kinds: Counter[str]) -> str:
    rows = [
        ("users", result.users),
        ("  storm users, phone only", kinds["phone"]),
        ("  storm users, phone + username", kinds["phone_and_username"]),
        ("  storm users, username only", kinds["username_only"]),
        ("sent (distinct messages)", result.sent),
        ("webhook deliveries", result.deliveries),
        ("batched messages", result.batched),
        ("out-of-order messages", result.out_of_order),
        ("accepted (HTTP 200)", result.accepted),
        ("replied", result.replied),
        ("no reply, reason recorded", result.no_reply_with_reason),
        ("failed handling", result.failed_handling),
        ("duplicates sent", result.duplicates_sent),
        ("duplicates suppressed", result.duplicates_suppressed),
        ("duplicate replies", result.duplicate_replies),
        ("effectful steps duplicated", result.orders_checked),
        ("duplicate orders / charges", result.duplicate_effects),
        ("lost", result.lost),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"webhook reliability (seed {seed}, {result.seconds:.1f} s)"]
    lines += [f"  {k:<{width}}  {v:>6}" for k, v in rows]
    lines += [f"  ! {p}" for p in result.problems]
    return "\n".join(lines)


@pytest.mark.rule("R-DEDUPE-1", "R-DEDUPE-2", "R-DEDUPE-3", "R-ID-5", "R-OBS-1", "R-PAY-4")
def test_webhook_reliability(
    target: Target,
    http_client: httpx.Client,
    number_pool: TestNumberPool,
    reports_dir: Path,
    message_hygiene: HygieneLog,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert target.graph_api_url, "the reliability test reads replies from the Graph API simulator"
    seed = int(os.environ.get("RELIABILITY_SEED") or secrets.randbelow(10**9))
    users, per_user = users_needed(MIN_MESSAGES, MIN_USERS, target.setting("RATE_LIMIT_PER_USER", 60))
    plan = build_plan([number_pool.next() for _ in range(users)], per_user, seed=seed)
    buyers = [
        WhatsAppUser(target, http_client, number_pool.next("10"), role="buyer", name=f"Buyer {i}",
                     on_reply=message_hygiene)
        for i in range(BUYERS)
    ]  # fmt: skip
    started = time.perf_counter()

    with ThreadPoolExecutor(BUYERS) as pool:
        purchases = [pool.submit(purchase, b) for b in buyers]
        results = send_plan(plan, http_client, target, concurrency=CONCURRENCY, time_limit=SEND_LIMIT_SECONDS)
        purchase_errors = [str(f.exception()) for f in purchases if f.exception() is not None]

    reader = EventReader(http_client, target, plan.identities)  # username-only users: ?user_id=<BSUID>
    all_settled = wait_until_settled(
        plan, reader, timeout=max(30.0, 4 * target.reply_seconds), quiet=target.no_reply_seconds
    )
    replies = {
        phone: ReplyReader(http_client, target.graph_api_url).poll(phone, 0, 0) for phone in plan.users
    }
    for phone_replies in replies.values():
        for reply in phone_replies:
            message_hygiene(reply)
    acc = account_for(plan, results, reader.events, {p: len(r) for p, r in replies.items()})
    not_home = [r for rs in replies.values() for r in rs if not is_home_menu(r)]
    problems = list(acc.problems)
    problems += [f"not the home menu: {r.to}: {r.summary()}" for r in not_home[:5]]
    problems += [f"purchase failed: {e.splitlines()[0][:200]}" for e in purchase_errors]

    duplicate_effects = 0
    failed_handling = acc.failed_handling
    for buyer in buyers:
        events = reader.refresh(buyer.phone)
        if failed := failure_events(events):
            failed_handling += len(failed)
            names = ", ".join(sorted({e["name"] for e in failed}))
            problems.append(f"buyer {buyer.phone}: handling failed during the purchase: {names}")
        found = effects(events)
        extra = (
            max(0, found["orders"] - 1)
            + max(0, found["payment_requests"] - 1)
            + max(0, found["ledger_entries"] - EXPECTED_LEDGER_ENTRIES)
        )
        duplicate_effects += extra
        if extra:
            problems.append(f"buyer {buyer.phone}: {found} after one duplicated purchase")

    failed_posts = Counter(r.status or r.error for r in results if r.status != 200)
    problems += [f"{n} deliveries answered {what}" for what, n in failed_posts.items()]
    result = ReliabilityResult(
        users=len(plan.users) + len(buyers),
        sent=acc.sent,
        accepted=acc.accepted,
        replied=acc.replied,
        no_reply_with_reason=acc.no_reply_with_reason,
        lost=acc.lost,
        failed_handling=failed_handling,
        duplicates_sent=acc.duplicates_sent,
        duplicates_suppressed=acc.duplicates_suppressed,
        duplicate_replies=acc.duplicate_replies,
        deliveries=len(plan.deliveries),
        batched=plan.batched,
        out_of_order=plan.out_of_order,
        orders_checked=3 * (len(buyers) - len(purchase_errors)),  # completed purchases only
        duplicate_effects=duplicate_effects,
        seconds=round(time.perf_counter() - started, 3),
        reasons=dict(acc.reasons),
        problems=problems[:20],
        environment=target.env_name,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    result.write(reports_dir / RELIABILITY_FILE)
    table = counts_table(result, seed, plan.kinds())
    request.node.add_report_section("call", "reliability", table)
    _attach_to_allure(table)
    with capsys.disabled():
        print("\n" + table)  # noqa: T201 - the counts are this test's report

    assert result.sent >= MIN_MESSAGES, f"only {result.sent} messages sent\n{table}"
    assert result.accepted == result.sent, f"not every message was accepted with HTTP 200\n{table}"
    assert all_settled, f"some messages never reached an end (handled or failed)\n{table}"
    assert (result.lost, result.duplicate_replies) == (0, 0), table
    assert result.failed_handling == 0, f"the SUT failed to handle some messages\n{table}"
    assert result.duplicates_suppressed == result.duplicates_sent, f"duplicates not all suppressed\n{table}"
    assert not not_home, f"{len(not_home)} replies were not the home menu\n{table}"
    assert not purchase_errors, "\n".join(purchase_errors)
    assert duplicate_effects == 0, table


def _attach_to_allure(text: str) -> None:
    try:
        import allure
    except ImportError:
        return
    allure.attach(text, name="webhook reliability", attachment_type=allure.attachment_type.TEXT)
