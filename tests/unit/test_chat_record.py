"""The pieces of ``easymo-qa chat`` that need no bot: run-specific values and their regexes, the journey
writer on a made-up session, the WhatsApp-like rendering, and what a typed line means."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from easymo_qa.chat import commands
from easymo_qa.chat.model import ChatActor, Received, Turn
from easymo_qa.chat.patterns import escape, find_tokens, lead_in, render
from easymo_qa.chat.record import Recording, journey_name, write_journey
from easymo_qa.chat.render import render_message, whatsapp_text
from easymo_qa.chat.session import another_conversations
from easymo_qa.conversation.loader import load_journey
from easymo_qa.hygiene import RULES
from easymo_qa.whatsapp.outbound import OutboundMessage

pytestmark = pytest.mark.unit

BUYER = "250790111111"
STATION = "250788200003"


def message(seq: int, to: str, body: dict[str, Any], at: float = 0.0) -> OutboundMessage:
    return OutboundMessage.from_record(
        {"seq": seq, "wamid": f"wamid.{seq}", "to": to, "received_at": at, "body": body}
    )


def text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body}}


def buttons(body: str, *ids_titles: tuple[str, str]) -> dict[str, Any]:
    action = {"buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in ids_titles]}
    return {
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": body}, "action": action},
    }


def shown(console_text: Any) -> str:
    console = Console(width=200, soft_wrap=True, highlight=False, record=True)
    console.print(console_text)
    return console.export_text()


# --- run-specific values ---------------------------------------------------------------------------


def test_ids_amounts_times_dates_codes_and_own_numbers_become_shapes_or_variables() -> None:
    line = f"Order ORD-7F3K2Q: Total: 6,500 RWF, at 14:05 on 2026-12-03, code 4821, call {BUYER}"
    tokens = find_tokens(line, {BUYER: "buyer.phone"})
    assert [(t.value, t.name) for t in tokens] == [
        ("ORD-7F3K2Q", "order_id"),
        ("6,500", "total"),
        ("14:05", "time"),
        ("2026-12-03", "date"),
        ("4821", "code"),
        (BUYER, "buyer.phone"),
    ]
    pattern = render(line, tokens, {"ORD-7F3K2Q": "order_id"})
    assert pattern == (
        r"Order ${order_id}: Total: [\d,]+ RWF, at \d{1,2}:\d{2} on \d{4}-\d{2}-\d{2}, code \d{4}, "
        "call ${buyer.phone}"
    )


def test_a_phone_or_a_decimal_is_no_code() -> None:
    assert find_tokens("call 250788200001 or walk 1.0 km, rated 4.7") == []


def test_escaping_touches_only_what_a_regex_reads() -> None:
    literal = "What? (1+1) costs $5 [x] - #1 a.b *c* {n} |"
    assert escape(literal) == r"What\? \(1\+1\) costs \$5 \[x\] - #1 a\.b \*c\* \{n\} \|"
    assert re.fullmatch(escape(literal), literal)


def test_a_long_line_is_cut_at_a_sentence_end_or_a_word_never_inside_a_value() -> None:
    line = "✅ Order ORD-7F3K2Q accepted. Tap 👩‍🍳 Preparing when you start, and tell the buyer."
    start, end = lead_in(line, find_tokens(line))
    assert line[start:end] == "Order ORD-7F3K2Q accepted"
    line = "🛵 Jean Bosco accepted order ORD-7F3K2Q and is coming to pick it up with the van"
    start, end = lead_in(line, find_tokens(line))
    assert line[start:end] == "Jean Bosco accepted order ORD-7F3K2Q and is coming"
    line = "Please share your delivery location."
    assert line[slice(*lead_in(line, []))] == "Please share your delivery location"


# --- the journey writer ------------------------------------------------------------------------------


def made_up_session() -> tuple[dict[str, ChatActor], list[Turn]]:
    actors = {
        "buyer": ChatActor("buyer", "buyer", BUYER, False, "phone", "Aimée"),
        "station": ChatActor("station", "station", STATION, True),
    }
    order = message(
        11,
        BUYER,
        buttons(
            f"🧾 Order ORD-AB12CD for 16,000 RWF\nWe call {BUYER} on arrival.",
            ("pay:ORD-AB12CD", "📲 Pay"),
            ("back_home", "🏠 Home"),
        ),
    )
    quote = message(12, BUYER, buttons("💬 Your quote is ready", ("quote:Q-9XK2", "See quote")))
    paid = message(21, BUYER, text("✅ Paid 16,000 RWF for ORD-AB12CD. Code: 7731"))
    notice = message(22, STATION, buttons("🆕 New order ORD-AB12CD", ("st_accept:ORD-AB12CD", "✅ Accept")))
    accepted = message(31, STATION, text("✅ Accepted ORD-AB12CD (quote Q-9XK2)"))
    timer = message(32, BUYER, text("⏳ Still looking for a driver for ORD-AB12CD"), at=100.0)
    turns = [
        Turn(
            "buyer",
            "send",
            "gas in Remera?",
            0.0,
            10,
            replies=[Received("buyer", order, 40.0), Received("buyer", quote, 45.0)],
        ),
        Turn(
            "buyer",
            "tap",
            "pay:ORD-AB12CD",
            1.0,
            20,
            replies=[Received("buyer", paid, 30.0), Received("station", notice, 35.0)],
        ),
        Turn(
            "station",
            "tap",
            "st_accept:ORD-AB12CD",
            2.0,
            30,
            replies=[Received("station", accepted, 2500.0), Received("buyer", timer, 4000.0)],
            settled_at=50.0,  # the timer's message came after that: left out, as a comment
        ),
        Turn("station", "send", "7731", 3.0, 40),
        Turn("buyer", "share", (-1.95, 30.09, "Office"), 4.0, 50),
    ]
    return actors, turns


def test_a_session_is_written_as_a_journey_that_loads_with_no_run_specific_literal(tmp_path: Path) -> None:
    actors, turns = made_up_session()
    path = tmp_path / "Gas Order!.journey.yaml"
    steps = write_journey(path, Recording(journey_name(path), "Gas", "recorded by a test"), actors, turns)
    written = path.read_text()
    journey = load_journey(path)
    assert steps == len(journey.steps) == 5
    assert journey.journey == "gas-order"
    assert journey.actors["buyer"].phone is None
    assert journey.actors["buyer"].name == "Aimée"
    assert journey.actors["station"].phone == STATION
    for literal in ("ORD-AB12CD", "Q-9XK2", "16,000", "7731", BUYER):
        assert literal not in written, literal
    first, second, third, fourth, fifth = journey.steps
    order, quote = first.expect
    assert order.text == r"Order ORD-[A-Z0-9]{6} for [\d,]+ RWF"
    assert order.buttons == ("pay:*", "back_home")
    assert {name: c.text for name, c in order.capture.items()} == {
        "order_id": "(ORD-[A-Z0-9]{6})",
        "amount": r"for ([\d,]+)",
    }
    assert (quote.capture["quote_id"].button, quote.capture["quote_id"].pattern) == (
        0,
        r"quote:(Q-[A-Z0-9]{4})",
    )
    assert second.tap == "pay:${order_id}"
    paid, notice = second.expect
    assert paid.text == r"Paid ${amount} RWF for ${order_id}\. Code: \d{4}"
    assert paid.capture["code"].text == r"Code: (\d{4})"
    assert (notice.to, notice.buttons) == ("station", ("st_accept:${order_id}",))
    assert third.expect[0].text == r"Accepted ${order_id} \(quote ${quote_id}\)"
    assert third.expect[0].within == 5  # it took 2.5 s: twice that, not the 1 s default budget
    assert len(third.expect) == 1
    assert "    # Left out: these came while the chat waited for you" in written
    idle = (
        '    #  - {to: buyer, kind: text, text: "Still looking for a driver for ${order_id}"}  # 4.0 s after'
    )
    assert idle in written
    assert (fourth.send, fourth.expect) == ("${code}", [])
    assert (fifth.share.latitude, fifth.share.name) == (-1.95, "Office")  # type: ignore[union-attr]


def test_the_run_s_own_numbers_are_variables_in_texts(tmp_path: Path) -> None:
    actors, turns = made_up_session()
    welcome = message(9, BUYER, text(f"Hello! We will call {BUYER}."))
    turns.insert(0, Turn("buyer", "send", "hi", 0.0, 5, replies=[Received("buyer", welcome, 10.0)]))
    path = tmp_path / "own.journey.yaml"
    write_journey(path, Recording("own", "Own", "test"), actors, turns)
    assert load_journey(path).steps[0].expect[0].text == "Hello! We will call ${buyer.phone}"


# --- rendering ---------------------------------------------------------------------------------------


def test_buttons_and_rows_are_numbered_with_their_ids_and_the_latency_shows() -> None:
    reply = message(
        1, BUYER, buttons("🧾 *Order* _ORD-AB12CD_", ("pay:X", "📲 Pay"), ("back_home", "🏠 Home"))
    )
    screen = shown(render_message(reply, "buyer", 42.4))
    assert screen.splitlines() == [
        "┌ bot → buyer  buttons  42 ms",
        "│ 🧾 Order ORD-AB12CD",
        "│   [1] 📲 Pay (pay:X)",
        "│   [2] 🏠 Home (back_home)",
    ]
    rows = [
        {"id": "buyer_search", "title": "🛒 Order"},
        {"id": "my_orders", "title": "📦 Orders", "description": "today"},
    ]
    listing = {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "header": {"type": "text", "text": "easyMO"},
            "body": {"text": "Hello"},
            "action": {"button": "Open", "sections": [{"title": "Services", "rows": rows}]},
        },
    }
    screen = shown(render_message(message(2, BUYER, listing), "buyer", None))
    assert "│   [1] 🛒 Order (buyer_search)\n│   [2] 📦 Orders (my_orders)\n│         today" in screen
    for line in ("│ easyMO", "│ Hello", "│ ☰ Open", "│   Services"):
        assert line in screen.splitlines()


def test_locations_media_and_hygiene_warnings_show_inline() -> None:
    pin = message(
        1, STATION, {"type": "location", "location": {"latitude": -1.9, "longitude": 30.1, "name": "Depot"}}
    )
    assert "│ 📍 Depot (-1.9, 30.1)" in shown(render_message(pin, "driver", 12.0))
    photo = message(
        2, BUYER, {"type": "image", "image": {"link": "https://x.test/a.jpg", "caption": "Receipt"}}
    )
    assert "│ [image] Receipt  https://x.test/a.jpg" in shown(render_message(photo, "buyer", 5.0))
    leaky = message(3, BUYER, text("Hello {name}, agent.not_available"))
    screen = shown(render_message(leaky, "buyer", 5.0, RULES.check(leaky)))
    assert re.search(r"│ ⚠ hygiene \[\w+\] .*\{name\}", screen), screen


def test_a_location_request_says_how_to_answer_it() -> None:
    ask = {
        "type": "interactive",
        "interactive": {
            "type": "location_request_message",
            "body": {"text": "Where should we deliver?"},
            "action": {"name": "send_location"},
        },
    }
    screen = shown(render_message(message(1, BUYER, ask), "buyer", 8.0))
    assert screen.splitlines()[1:] == [
        "│ Where should we deliver?",
        "│ [📍 Send location]  answer with /location latitude,longitude",
    ]


def test_whatsapp_markup_needs_word_edges() -> None:
    styled = whatsapp_text("*Total:* 5 _now_ ~old~ Dial *182*7*1# snake_case")
    assert styled.plain == "Total: 5 now old Dial *182*7*1# snake_case"
    assert [(s.start, s.end, s.style) for s in styled.spans] == [
        (0, 6, "bold"),
        (9, 12, "italic"),
        (13, 16, "strike"),
    ]


def test_staff_messages_about_another_order_are_someone_else_s() -> None:
    ours = {"ORD-AAAAAA"}
    assert another_conversations({"ORD-BBBBBB"}, ours)
    assert not another_conversations({"ORD-AAAAAA", "ORD-BBBBBB"}, ours)
    assert not another_conversations({"QR-CCCC"}, ours)  # a first quote: the vendor hears of it first
    assert not another_conversations(set(), ours)
    assert not another_conversations({"ORD-BBBBBB"}, set())  # a staff-only chat sees everything


# --- typed lines ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", commands.Refresh()),
        ("hello", commands.SendText("hello")),
        ("3", commands.Pick(number=3, typed="3")),
        ("1464", commands.SendText("1464")),
        ("/text 3", commands.SendText("3")),
        ("/location -1.9441, 30.1032 Office", commands.ShareLocation(-1.9441, 30.1032, "Office")),
        ("/image receipt", commands.SendImage("receipt")),
        ("/as driver +250788300002", commands.SwitchActor("driver", "250788300002")),
        ("/quit", commands.Quit()),
        (
            "/location 91,0",
            commands.Problem("/location: 91.0,0.0 is off the map (latitude ±90, longitude ±180)"),
        ),
        ("/as driver 12ab", commands.Problem("/as driver: '12ab' is not a phone number (8 to 15 digits)")),
        ("/text", commands.Problem("/text needs the text to send, e.g. /text 1234")),
    ],
)
def test_what_a_typed_line_means(line: str, expected: commands.Command) -> None:
    assert commands.parse(line) == expected
