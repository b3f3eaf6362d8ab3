"""Strict conversations: what each actor must see and must not see, in what order and how fast.

The journey runner plays against a scripted bot (no network): each inbound message maps to replies, each
to an actor after a delay. Every defect a real bot could have here (an extra message, the right message
to the wrong actor, a late or early reply, replies out of order) must fail the journey at the right line.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from easymo_qa.conversation.loader import load_journey
from easymo_qa.conversation.runner import JourneyRunner, JourneyStepFailed
from easymo_qa.target import Target
from easymo_qa.whatsapp.numbers import TestNumberPool
from easymo_qa.whatsapp.outbound import OutboundMessage

pytestmark = pytest.mark.unit

STATION = "250788200001"
# (recipient: "buyer" or a phone, delay in seconds, text)
Reply = tuple[str, float, str]


class ScriptedBot:
    """Answers each inbound text with scripted replies; a reply is visible once its delay has passed."""

    def __init__(self, script: Callable[[str], list[Reply]]) -> None:
        self.script = script
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.reply_source = self  # WhatsAppUser reads replies from the client's reply_source

    def post(self, url: str, content: bytes, headers: dict[str, str]) -> SimpleNamespace:
        message = json.loads(content)["entry"][0]["changes"][0]["value"]["messages"][0]
        said = message.get("text", {}).get("body") or message.get("interactive", {}).get("button_reply", {})
        said = said if isinstance(said, str) else said.get("id", "")
        now = time.time()
        with self.lock:
            for to, delay, text in self.script(said):
                self.records.append(
                    {
                        "seq": len(self.records) + 1,
                        "wamid": f"wamid.{len(self.records)}",
                        "to": message["from"] if to == "buyer" else to,
                        "received_at": now + delay,
                        "body": {"type": "text", "text": {"body": text}},
                    }
                )
        return SimpleNamespace(status_code=200)

    def poll(self, to: str, after: int, wait: float) -> list[OutboundMessage]:
        deadline = time.monotonic() + wait
        while True:
            with self.lock:
                ready = [
                    OutboundMessage.from_record(r)
                    for r in self.records
                    if r["to"] == to and r["seq"] > after and r["received_at"] <= time.time()
                ]
            if ready or time.monotonic() >= deadline:
                return ready
            time.sleep(0.01)

    def last_seq(self) -> int:
        return len(self.records)

    def rejections(self, to: str, after: int = 0) -> list[str]:
        return []


JOURNEY = """\
journey: strict-probe
title: "Buyer orders; the station hears of it"
actors:
  buyer: {role: buyer}
  station: {role: station, phone: "250788200001"}
steps:
  - actor: buyer
    send: "order"
    expect:
      - {text: "Order (ORD-[A-Z0-9]{6}) placed", capture: {order_id: {text: "(ORD-[A-Z0-9]{6})"}}}
      - {text: "Pay now"}
      - {to: station, text: "New order ${order_id}"}
"""

HEALTHY: list[Reply] = [
    ("buyer", 0.01, "Order ORD-ABC123 placed"),
    ("buyer", 0.02, "Pay now"),
    (STATION, 0.02, "New order ORD-ABC123"),
]


def run(tmp_path: Path, replies: list[Reply], journey: str = JOURNEY) -> None:
    path = tmp_path / "probe.journey.yaml"
    path.write_text(journey, encoding="utf-8")
    target = Target(
        env_name="unit",
        webhook_url="http://127.0.0.1:9/wa-webhook",
        app_secret="s",
        verify_token="v",
        phone_number_id="1",
        display_phone_number="250700000000",
        graph_api_url="http://127.0.0.1:9",
        no_reply_seconds=0.3,
        reply_seconds=2.0,
        reply_budget_seconds=1.0,
    )
    bot = ScriptedBot(lambda said: replies if said == "order" else [])
    JourneyRunner(target, bot, TestNumberPool("25079", 12)).run(load_journey(path))  # type: ignore[arg-type]


def failure(tmp_path: Path, replies: list[Reply], journey: str = JOURNEY) -> str:
    with pytest.raises(JourneyStepFailed) as caught:
        run(tmp_path, replies, journey)
    assert "probe.journey.yaml:" in caught.value.location  # file:line of the failing step
    return str(caught.value)


def test_the_healthy_conversation_passes(tmp_path: Path) -> None:
    run(tmp_path, HEALTHY)


def test_an_extra_message_fails(tmp_path: Path) -> None:
    text = failure(tmp_path, [*HEALTHY, ("buyer", 0.05, "Pay now")])
    assert "nobody expected" in text


def test_an_extra_message_after_the_last_step_fails(tmp_path: Path) -> None:
    text = failure(tmp_path, [*HEALTHY, ("buyer", 0.2, "Thanks for your order!")])
    assert "nobody expected" in text
    assert "Thanks for your order" in text


def test_the_right_message_to_the_wrong_actor_fails(tmp_path: Path) -> None:
    leaked = [*HEALTHY, (STATION, 0.03, "Pay now")]
    assert "nobody expected" in failure(tmp_path, leaked)


def test_a_reply_one_second_late_fails(tmp_path: Path) -> None:
    late = [("buyer", 0.01, "Order ORD-ABC123 placed"), ("buyer", 1.05, "Pay now"), HEALTHY[2]]
    text = failure(tmp_path, late)
    assert "too late" in text
    assert "within 1.000 s" in text


def test_replies_out_of_order_fail_unless_the_step_allows_any_order(tmp_path: Path) -> None:
    swapped = [("buyer", 0.01, "Pay now"), ("buyer", 0.05, "Order ORD-ABC123 placed"), HEALTHY[2]]
    assert "out of order" in failure(tmp_path, swapped)
    run(tmp_path, swapped, JOURNEY.replace('send: "order"', 'send: "order"\n    any_order: true'))


def test_an_ignore_allowance_lets_a_named_message_through(tmp_path: Path) -> None:
    chatty = [*HEALTHY, ("buyer", 0.03, "Tip: you can pay by wallet")]
    allowed = JOURNEY.replace("actors:", 'ignore: {to: buyer, text: "^Tip:"}\nactors:')
    run(tmp_path, chatty, allowed)


def test_a_deadline_window_fails_a_reply_that_comes_too_early(tmp_path: Path) -> None:
    windowed = JOURNEY.replace('{text: "Pay now"}', '{text: "Pay now", after: 0.5, within: 1.5}')
    assert "too early" in failure(tmp_path, HEALTHY, windowed)
    on_time = [HEALTHY[0], ("buyer", 0.6, "Pay now"), HEALTHY[2]]
    run(tmp_path, on_time, windowed)


def test_a_seeded_actor_ignores_other_conversations_but_not_ours(tmp_path: Path) -> None:
    # Seeded staff are shared by tests running at the same time: another order's notice is not ours.
    run(tmp_path, [*HEALTHY, (STATION, 0.03, "New order ORD-ZZZ999")])
    # The same notice about our own order, twice, is an extra message.
    text = failure(tmp_path, [*HEALTHY, (STATION, 0.03, "New order ORD-ABC123")])
    assert "nobody expected" in text


def test_a_plain_test_fails_on_a_reply_no_check_claimed() -> None:
    # tests/smoke's users (the new_user fixture) end with this check: an unclaimed reply fails the test.
    from easymo_qa.whatsapp.expect import ReplyError
    from easymo_qa.whatsapp.user import WhatsAppUser

    target = Target("unit", "http://127.0.0.1:9/w", "s", "v", "1", "250700000000", graph_api_url="http://x")
    bot = ScriptedBot(lambda said: [("buyer", 0.0, "Hello"), ("buyer", 0.05, "Hello again")])
    user = WhatsAppUser(target, bot, "250790000001")  # type: ignore[arg-type]
    user.send_text("hi")
    user.expect_reply(text="^Hello$")
    user.send_text("hi")  # the unclaimed "Hello again" of the first turn is kept, not dropped
    user.expect_reply(text="^Hello$")
    with pytest.raises(ReplyError, match="no check of this test claimed"):
        user.expect_nothing_unclaimed(0.2)


def test_a_plain_test_fails_on_a_reply_over_the_environments_budget() -> None:
    from easymo_qa.whatsapp.expect import ReplyError
    from easymo_qa.whatsapp.user import WhatsAppUser

    target = Target("unit", "http://127.0.0.1:9/w", "s", "v", "1", "250700000000", graph_api_url="http://x")
    bot = ScriptedBot(lambda said: [("buyer", 1.1 if said == "slow" else 0.0, "Hello")])
    user = WhatsAppUser(target, bot, "250790000002")  # type: ignore[arg-type]
    user.send_text("fast")
    user.expect_reply(text="Hello")
    user.send_text("slow")
    with pytest.raises(ReplyError, match="too late"):
        user.expect_reply(text="Hello")
    user.send_text("slow")
    user.expect_reply(text="Hello", within=2)  # a test that asks for a longer wait sets the budget
