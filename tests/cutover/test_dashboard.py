"""The admin dashboard in a real browser: headless Chromium (pytest-playwright) sees live numbers move.

The page is opened once and never reloaded; the harness then sends traffic (a greeting, a search, a
search whose LLM call fails so that a fallback answers, and an order paid from the wallet), and the test
waits, in the browser, until the page's own refresh shows the new counts. The screenshot is saved to
``reports/dashboard.png``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from easymo_qa.cutover import SEARCH_TEXT
from easymo_qa.fault_client import FaultClient
from easymo_qa.target import Target
from easymo_qa.whatsapp.expect import Expectation
from easymo_qa.whatsapp.user import WhatsAppUser

pytestmark = [
    pytest.mark.dashboard,
    pytest.mark.easymo,
    pytest.mark.needs("observability"),
    # pytest-playwright's own base_url fixture, not ours
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

METRICS = (
    "messages_received_total",
    "messages_received_5m",
    "messages_per_minute",
    "success_rate_pct",
    "failure_rate_pct",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "fallback_rate_pct",
    "fallbacks_total",
    "searches_total",
    "orders_per_hour",
)
WAIT_MS = 15_000  # the page refreshes every 2 s
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def value(page: Page, key: str) -> float | None:
    text = page.locator(f'[data-metric="{key}"]').inner_text().strip()
    return float(text) if NUMBER.match(text) else None


def wait_until_at_least(page: Page, key: str, minimum: float) -> None:
    """Poll in the browser (no sleeps, no reload) until the number shown reaches ``minimum``."""
    page.wait_for_function(
        """([key, minimum]) => {
             const el = document.querySelector(`[data-metric="${key}"]`);
             return el !== null && Number(el.textContent) >= minimum;
           }""",
        arg=[key, minimum],
        timeout=WAIT_MS,
    )


def pay_an_order_from_the_wallet(buyer: WhatsAppUser) -> int:
    """The wallet journey's steps: top up with MoMo, search, choose, share a location, pay. Messages sent."""
    buyer.choose_row("my_wallet", "💳 Wallet")
    buyer.expect_reply("buttons", buttons=["wallet_topup"])
    buyer.tap_button("wallet_topup", "Top up")
    buyer.expect_reply("list", rows=["topup:20000"])
    buyer.choose_row("topup:20000", "20,000 RWF")
    buyer.expect_replies([Expectation(text="Approve the MoMo request"), Expectation(text="Wallet topped up")])
    buyer.send_text(SEARCH_TEXT)
    buyer.expect_reply("list", rows=["offer:rem-gas-12kg"])
    buyer.choose_row("offer:rem-gas-12kg", "Gas")
    buyer.expect_reply(text="location")
    buyer.share_location(-1.9570, 30.1010)
    checkout = buyer.expect_reply("buttons", buttons=["pay_wallet:*"])
    pay = next(b for b in checkout.button_ids if b.startswith("pay_wallet:"))
    buyer.tap_button(pay, "💳 Wallet")
    buyer.expect_reply(text="Payment received")
    return 6


@pytest.mark.rule("R-OBS-3")
def test_dashboard_shows_live_numbers(
    page: Page,
    target: Target,
    http_client: httpx.Client,
    new_user: Callable[..., WhatsAppUser],
    reports_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    if not target.admin_url or not target.admin_token:
        pytest.skip(f"not covered: environment {target.env_name!r} has no admin URL for the dashboard")
    page.set_viewport_size({"width": 1280, "height": 900})
    response = page.goto(f"{target.admin_url}/admin/dashboard?token={target.admin_token}")
    assert response is not None, "the dashboard did not open"
    assert response.status == 200, f"the dashboard answered {response.status}"
    for key in METRICS:
        expect(page.locator(f'[data-metric="{key}"]')).to_be_visible()
    page.evaluate("window.__notReloaded = true")
    before = {key: value(page, key) or 0.0 for key in ("messages_received_total", "searches_total")}
    before_orders = value(page, "orders_per_hour") or 0.0

    visitor = new_user(name="Dashboard Visitor")
    visitor.send_text("hi")
    visitor.expect_reply("list", rows=["buyer_search"])
    visitor.send_text(SEARCH_TEXT)
    visitor.expect_reply("list", rows=["offer:*"])
    sent = 2
    if target.has("faults"):
        with FaultClient(http_client, {"llm": target.llm_url or ""}, scope=request.node.nodeid) as faults:
            faults.llm("status", status=503, key=visitor.phone)
            visitor.send_text("2 jerrycans of water near Kimironko")
            visitor.expect_reply("list", rows=["offer:*"])  # ranked offers: a fallback answered
            sent += 1
    sent += pay_an_order_from_the_wallet(new_user(role="buyer", name="Dashboard Buyer"))

    wait_until_at_least(page, "messages_received_total", before["messages_received_total"] + sent)
    wait_until_at_least(page, "searches_total", before["searches_total"] + 2)
    wait_until_at_least(page, "orders_per_hour", before_orders + 1)
    if target.has("faults"):
        wait_until_at_least(page, "fallbacks_total", 1)
    assert page.evaluate("window.__notReloaded === true"), "the numbers moved only because the page reloaded"
    for key in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "success_rate_pct"):
        assert value(page, key) is not None, f"{key} shows no number: {page.locator(f'[data-metric={key}]')}"
    page.screenshot(path=str(reports_dir / "dashboard.png"), full_page=True)
