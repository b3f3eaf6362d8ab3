"""Message hygiene rules (easymo_qa/hygiene/): each rule with good and bad messages, table-driven."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from easymo_qa.hygiene import RULES
from easymo_qa.hygiene.conventions import CONVENTIONS
from easymo_qa.hygiene.leaks import LEAKS, raw_keys
from easymo_qa.hygiene.log import (
    HygieneLog,
    KnownIssue,
    KnownIssuesError,
    load_known_issues,
)
from easymo_qa.hygiene.message_parts import leading_emojis
from easymo_qa.hygiene.registry import Registry, Rule
from easymo_qa.layout import Layout
from easymo_qa.whatsapp.outbound import OutboundMessage

REPO = Path(__file__).resolve().parents[2]
TO = "250790000001"
_seq = iter(range(1, 10**6))


def record(body: dict[str, Any]) -> OutboundMessage:
    return OutboundMessage.from_record({"seq": next(_seq), "wamid": "wamid.x", "to": TO, "body": body})


def text(body: str) -> OutboundMessage:
    return record({"type": "text", "text": {"body": body}})


def buttons(body: str, *choices: tuple[str, str], header: str = "") -> OutboundMessage:
    interactive: dict[str, Any] = {
        "type": "button",
        "body": {"text": body},
        "action": {"buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in choices]},
    }
    if header:
        interactive["header"] = {"type": "text", "text": header}
    return record({"type": "interactive", "interactive": interactive})


def listing(body: str, *rows: tuple[str, str], description: str = "") -> OutboundMessage:
    items = [{"id": i, "title": t, **({"description": description} if description else {})} for i, t in rows]
    interactive = {
        "type": "list",
        "body": {"text": body},
        "action": {"button": "Open", "sections": [{"title": "Services", "rows": items}]},
    }
    return record({"type": "interactive", "interactive": interactive})


HOME = ("back_home", "🏠 Home")

# (rule, message that breaks it, message that does not) — several rows per rule.
CASES: list[tuple[str, OutboundMessage, OutboundMessage]] = [
    ("raw_i18n_key", text("agent.not_available"), text("😔 That agent isn't available right now.")),
    ("raw_i18n_key", text("😔 agent.error_occurred"), text("Visit https://easymo.rw/help.page for help")),
    ("raw_i18n_key", text("Results: pharmacy.options_found now"), text("Write to help@easymo.rw today")),
    ("raw_i18n_key", text("Please driver.provide_locations."), text("Total: 3.500 RWF, 2.5 km away")),
    ("raw_i18n_key", buttons("Pick one", ("a", "menu.back_home")), text("Type it, e.g. water, i.e. 20 L")),
    ("raw_i18n_key", listing("Pick", ("r1", "Shop"), description="agent.select_option"), text("easymo.rw")),
    ("raw_i18n_key", text("home.title"), text("Version v1.2.3 of Kimironko. Next")),
    ("unfilled_placeholder", text("✨ Hello {name}!"), text("✨ Hello Aimée!")),
    ("unfilled_placeholder", text("Hello {{ name }}"), text("50% off today, 10% tomorrow")),
    ("unfilled_placeholder", text("Total: ${total} RWF"), text("Total: 3,500 RWF")),
    ("unfilled_placeholder", text("Hi %s, welcome"), text("Dial *182*7*1# to approve")),
    ("unfilled_placeholder", text("Hi %(name)s"), text("{ } braces alone")),
    ("missing_value", text("✨ Hello undefined!"), text("None of the vendors answered in time.")),
    ("missing_value", text("Order None is ready"), text("The order was annulled")),
    ("missing_value", text("Total: null RWF"), text("No value here")),
    ("missing_value", text("Total: NaN RWF"), text("Nandos and Nancy")),
    ("missing_value", buttons("Pick", ("a", "[object Object]")), buttons("Pick", ("a", "🛒 Order"))),
    (
        "bad_tap_id",
        listing("Pick", ("agent_option_undefined_1", "Shop")),
        listing("Pick", ("offer:x-1", "A")),
    ),
    ("bad_tap_id", buttons("Pick", ("offer:None", "A")), buttons("Pick", ("back_home", "🏠 Home"))),
    ("bad_tap_id", buttons("Pick", ("pay:null:3", "A")), buttons("Pick", ("annulled_orders", "A"))),
    ("bad_tap_id", buttons("Pick", (" ", "A")), buttons("Pick", ("nonempty", "A"))),
    (
        "stack_trace",
        text("Traceback (most recent call last):\n  File \"/app/x.py\", line 3, in f\nKeyError: 'x'"),
        text("😔 Sorry, something went wrong on our side. Please try again in a moment."),
    ),
    ("stack_trace", text("KeyError: 'buyer'"), text("Error? Try again later.")),
    ("stack_trace", text("sqlite3.OperationalError: database is locked"), text("The database of offers")),
    ("stack_trace", text("Exception: boom"), text("An exceptional offer today")),
    (
        "stack_trace",
        text("Oops\n    at handler (file:///app/index.ts:12:5)"),
        text("Meet at 12:30 at Remera"),
    ),
    ("stack_trace", text("😔 ReplyFailedError"), text("😔 Payment for order ORD-ABC123 didn't go through.")),
    ("json_dump", text('{"error": "timeout", "status": 504}'), text("Use [Home] to go back")),
    ("json_dump", text('[{"id": 1}]'), text("Price: 3,500 RWF")),
    ("json_dump", text('Result: {"tool": "search"}'), text("Result: 3 offers")),
    ("json_dump", text("{'error': 'x'}"), text("Tap Home to go back (a ‘quote’)")),
    ("one_subject_emoji", text("🛒🏪 Offers"), text("🛒 Offers for 2 × water\n📍 Near Kimironko")),
    ("one_subject_emoji", text("🛒 🛵 Your delivery"), text("😔 🛒 No offers right now")),
    ("one_subject_emoji", buttons("💳📦 Wallet", HOME), text("🛵 Jean is on the way with 📦 your order")),
    ("apology_emoji", text("😢 Sorry, no offers"), text("😔 Sorry, search isn't available right now.")),
    ("apology_emoji", text("🙁 Payment failed"), text("⚠️ Sorry, the matching service is unavailable.")),
    (
        "apology_emoji",
        text("Sorry, search is down"),
        text("😔 Payment for order ORD-ABC123 didn't go through."),
    ),
    ("apology_emoji", text("📍 Sorry, we only deliver in Kigali."), text("📍 Please share your location.")),
    ("success_emoji", text("✔️ Order placed"), text("✅ Payment received for order ORD-ABC123")),
    ("success_emoji", text("☑️ Done"), text("✅ Order placed successfully")),
    ("success_emoji", text("Payment successful"), text("👍 Noted: no quote from you.")),
    ("success_emoji", text("👌 Saved"), text("🎫 Ticket SUP-ABC123 created.")),
    (
        "way_back_home",
        buttons("😔 Sorry, search isn't available right now.", ("retry", "🔍 Try again")),
        buttons("😔 Sorry, search isn't available right now.", ("retry", "🔍 Try again"), HOME),
    ),
    (
        "way_back_home",
        listing("😔 No vendor answered in time. Here are top-ranked vendors:", ("vendor:a", "Shop A")),
        listing("😔 No vendor answered in time.", ("vendor:a", "Shop A"), ("back_home", "🏠 Home")),
    ),
    (
        "way_back_home",
        buttons("⚠️ The service is unavailable.", ("support_help", "🆘 Help")),
        text("😔 Sorry, that code doesn't match."),  # plain text: not an interactive dead end
    ),
    (
        "way_back_home",
        buttons("We're sorry, that failed.", ("again", "Again")),
        buttons("😔 That failed.", ("main_menu", "↩️ Menu")),
    ),
    (
        "way_back_home",
        buttons("😔 I can't find order ORD-X.", ("orders", "📦 My orders")),
        buttons("✅ Done", ("next", "Next")),  # not an apology
    ),
]


@pytest.mark.parametrize(("rule", "bad", "good"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_flags_the_bad_message_and_not_the_good_one(
    rule: str, bad: OutboundMessage, good: OutboundMessage
) -> None:
    assert rule in {v.rule for v in RULES.check(bad)}, f"{rule} missed {bad.summary()}"
    assert rule not in {v.rule for v in RULES.check(good)}, RULES.check(good)


def test_every_rule_has_cases() -> None:
    assert len(RULES) == len(LEAKS) + len(CONVENTIONS)  # no name in both groups
    assert {c[0] for c in CASES} == set(RULES)
    assert all(r.description and r.name == name for name, r in RULES.items())


# Messages the healthy reference sends (as the suites saw them): no rule may fire on any of them.
HEALTHY = [
    listing(
        "✨ Hello Aimée Uwase 🌍! What would you like to do today?",
        ("buyer_search", "🛒 Order something"),
        ("my_orders", "📦 My orders"),
        ("support_help", "🆘 Help"),
    ),
    text("🛒 What would you like to order? Type the item, how many and your area, for example: 2 jerrycans."),
    buttons("💳 Wallet balance: 0 RWF", ("wallet_topup", "➕ Top up"), HOME),
    buttons(
        "You're not registered as a vendor. Ask for help to join easyMO.", ("support_help", "🆘 Help"), HOME
    ),
    buttons(
        "🆘 Help\n• To order, type what you need\n• Pay by MoMo or from your easyMO wallet\n"
        "Need a person? Tap 🙋 Talk to a person.",
        ("sup_human", "🙋 Talk to a person"),
        HOME,
    ),
    buttons("🎫 Ticket SUP-VFWFAM created. An agent will reply within 2 hours.", HOME),
    buttons("That option isn't available yet. What next?", HOME),
    buttons("😔 Sorry, I can't read that kind of message yet. Please type what you need.", HOME),
    buttons("✂️ That message is too long. Please keep it under 1000 characters.", HOME),
    text(
        "📲 Approve the MoMo request of 20,000 RWF on your phone.\nNo prompt? Dial *182*7*1# to see requests."
    ),
    text("✅ Wallet topped up: +20,000 RWF. Balance: 20,000 RWF"),
    text("👩‍🍳 Order ORD-ABC123 is being prepared"),
    text("ℹ️ Order ORD-ABC123 was already paid, so your MoMo payment of 500 RWF went to your wallet."),
    text("📊 Today:\n• Orders: 3\n• Paid: 2\n• Revenue: 33,000 RWF\n• Fallback rate: 50% (1 of 2 searches)"),
    text("💬 Quote request Q-AB12CD: water. Reply with the code and your price, e.g. Q-AB12CD 4500"),
    text("⏳ You're sending messages faster than we can answer. Please wait a minute, then try again."),
    listing(
        "🛒 Offers for 2 × jerrycan water\n📍 Near Kimironko\nTap an offer to order it.",
        ("offer:k", "Kim 1,500 RWF"),
    ),
    record(
        {"type": "location", "location": {"latitude": -1.95, "longitude": 30.1, "name": "Pickup: Remera"}}
    ),
]


@pytest.mark.parametrize("message", HEALTHY, ids=lambda m: m.text[:30])
def test_healthy_messages_pass_every_rule(message: OutboundMessage) -> None:
    assert RULES.check(message) == []


@pytest.mark.parametrize(
    ("text_", "expected"),
    [
        ("👩‍🍳 Order", ["👩‍🍳"]),
        ("ℹ️ Order", ["ℹ"]),
        ("  ✅ ✨Hi", ["✅", "✨"]),
        ("⚠️⚠️ x", ["⚠", "⚠"]),
        ("1️⃣ one", []),
        ("Hello 😔", []),
        ("", []),
        ("🇷🇼 Rwanda", ["🇷🇼"]),
        ("👍🏽 ok", ["👍🏽"]),
        (
            "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f Scotland",
            ["🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"],
        ),
        # Text symbols with no emoji property, which the former hand-kept tables counted as emojis.
        ("✓ Done", []),
        ("→ Next", []),
    ],
)
def test_leading_emojis(text_: str, expected: list[str]) -> None:
    assert leading_emojis(text_) == expected


def test_raw_keys_lists_each_key() -> None:
    assert raw_keys("agent.not_available, then agent.error_occurred.") == [
        "agent.not_available",
        "agent.error_occurred",
    ]


def test_a_violation_names_the_rule_the_place_and_the_message() -> None:
    [v] = RULES.check(buttons("Pick", ("agent_option_undefined_1", "Shop")))
    assert (v.rule, v.where, v.to) == ("bad_tap_id", "button id", TO)
    assert "agent_option_undefined_1" in v.line()
    assert "Pick" in v.line()


def test_log_checks_each_message_once_and_from_many_threads() -> None:
    log = HygieneLog()
    bad = text("agent.not_available")
    messages = [text(f"✅ Saved {i}") for i in range(200)] + [bad, bad]
    threads = [
        threading.Thread(target=lambda chunk=messages[i::4]: [log(m) for m in chunk]) for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (log.checked, len(log.violations)) == (201, 1)
    assert log.to_dict()["violations"][0]["rule"] == "raw_i18n_key"
    assert "1 violation(s) in 201 message(s)" in log.render()


def test_known_issues_become_warnings() -> None:
    issue = KnownIssue("apology_emoji", "^📍 Sorry, we only deliver", "reported")
    log = HygieneLog([issue])
    assert log(text("📍 Sorry, we only deliver in Kigali.")) == []
    log(text("📍 Sorry, the map is down."))  # same rule, another message: still a violation
    assert (len(log.violations), len(log.known)) == (1, 1)
    assert "known issues" in log.render()


def test_known_issues_file(tmp_path: Path) -> None:
    assert load_known_issues(tmp_path / "missing.yaml") == ()
    assert all(i.rule in RULES for i in load_known_issues(REPO / Layout().hygiene_known_issues))
    path = tmp_path / "known.yaml"
    path.write_text("- rule: apology_emoji\n  text: x\n  reason: r\n- rule: nope\n  text: x\n  reason: r\n")
    with pytest.raises(KnownIssuesError, match=r"known.yaml:4: unknown rule 'nope'"):
        load_known_issues(path)
    path.write_text("- rule: apology_emoji\n  text: '('\n  reason: r\n")
    with pytest.raises(KnownIssuesError, match="not a regular expression"):
        load_known_issues(path)
    path.write_text("- rule: apology_emoji\n")
    with pytest.raises(KnownIssuesError, match="exactly the keys"):
        load_known_issues(path)


def test_a_registry_of_its_own_rules_keeps_their_order_and_refuses_a_name_twice(tmp_path: Path) -> None:
    mine = Registry()

    @mine.rule("no_shouting", "no text in capitals")
    def _no_shouting(message: OutboundMessage) -> Iterator[tuple[str, str]]:
        if message.text.isupper():
            yield "body", "shouting"

    with pytest.raises(ValueError, match="registered twice"):
        mine.rule("no_shouting", "again")(_no_shouting)
    both = Registry(mine | {"always": Rule("always", "always fires", lambda m: iter([("body", "x")]))})
    assert list(both) == ["no_shouting", "always"]
    log = HygieneLog(rules=mine)
    assert [v.detail for v in log(text("HELLO"))] == ["shouting"]
    assert log(text("agent.not_available")) == []
    path = tmp_path / "known.yaml"
    path.write_text("- rule: raw_i18n_key\n  text: x\n  reason: r\n")
    with pytest.raises(KnownIssuesError, match="unknown rule 'raw_i18n_key'; rules: no_shouting"):
        load_known_issues(path, mine)
