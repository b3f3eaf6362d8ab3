"""The bot's mark-as-read and typing-indicator requests: recorded by the Graph API simulator as events of
the user whose message they name, never replies; matched by ``read`` / ``typing`` expectations.

A small bot on loopback answers each webhook message: it may mark the message read (or show typing), then
replies, addressing a username-only user by BSUID. Simulated users and journeys play against it through
the real Graph API simulator.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from test_graph_simulator import AUTH, OTHER, SEND, USER, config, run, text

from easymo_qa.conversation.loader import load_journey
from easymo_qa.conversation.model import Expect
from easymo_qa.conversation.runner import JourneyRunner, JourneyStepFailed
from easymo_qa.simulators.graph_api import create_graph_app
from easymo_qa.simulators.server import BackgroundServer
from easymo_qa.target import Target
from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.expect import Expectation, ReplyError
from easymo_qa.whatsapp.identity import Identity
from easymo_qa.whatsapp.numbers import TestNumberPool
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.replies import ReplyReader
from easymo_qa.whatsapp.user import WhatsAppUser

pytestmark = pytest.mark.unit


def read(message_id: str, typing: bool = False) -> dict[str, Any]:
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
    return body | ({"typing_indicator": {"type": "text"}} if typing else {})


# --- the simulator ---------------------------------------------------------------------------------------


def test_read_and_typing_are_events_of_the_user_whose_message_they_name() -> None:
    username_only = Identity(OTHER, "username_only")

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        mine = payloads.new_wamid(USER)
        for body in (read(mine), text(), read(mine, typing=True), read(username_only.new_wamid())):
            assert (await client.post(SEND, json=body, headers=AUTH)).json() != {}
        everything = (await client.get("/_sim/messages", params={"events": 1})).json()["messages"]
        assert [(r["seq"], r["type"], r["to"], r.get("event", False)) for r in everything] == [
            (1, "read", USER, True),
            (2, "text", USER, False),
            (3, "typing", USER, True),
            (4, "read", OTHER, True),  # a BSUID chat key resolves to the user's phone
        ]
        assert everything[0]["message_id"] == mine
        # Events are no replies: left out unless asked for, by recipient or for everyone.
        replies = (await client.get("/_sim/messages", params={"to": USER})).json()["messages"]
        assert [r["seq"] for r in replies] == [2]
        assert [r["seq"] for r in (await client.get("/_sim/messages")).json()["messages"]] == [2]
        assert (await client.get("/_sim/rejections")).json()["rejections"] == []

    run(scenario)


def test_a_mark_as_read_naming_no_wamid_is_refused_and_recorded_nowhere() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(SEND, json=read("wamid.not-base64!"), headers=AUTH)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == 131009
        assert "message_id" in error["message"]
        assert (await client.get("/_sim/messages", params={"events": "true"})).json()["messages"] == []

    run(scenario)


def test_a_default_long_poll_is_not_answered_by_an_event() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await client.post(SEND, json=read(payloads.new_wamid(USER)), headers=AUTH)
        started = time.monotonic()
        answer = (await client.get("/_sim/messages", params={"to": USER, "wait": 0.3})).json()
        assert answer == {"messages": [], "last_seq": 1}
        assert time.monotonic() - started >= 0.25
        [event] = (await client.get("/_sim/messages", params={"to": USER, "events": 1})).json()["messages"]
        assert event["type"] == "read"

    run(scenario)


def test_an_event_record_becomes_an_outbound_event() -> None:
    record = {"seq": 7, "to": USER, "type": "typing", "event": True, "message_id": "wamid.X", "body": {}}
    event = OutboundMessage.from_record(record | {"received_at": 1.5})
    assert (event.is_event, event.kind, event.message_id, event.text) == (True, "typing", "wamid.X", "")
    assert "typing" in event.summary()
    reply = OutboundMessage.from_record({"seq": 8, "to": USER, "body": text()})
    assert not reply.is_event
    assert not Expectation().matches(event)  # a reply expectation, even the loosest, never takes an event
    assert Expectation(read=True).matches(event)  # a typing request marks the message read too
    assert not Expectation(read=True).matches(reply)


# --- a bot on loopback -----------------------------------------------------------------------------------


@dataclass
class Bot:
    """What the bot does with each message: mark it read (or another message), show typing, reply."""

    mark: str | None = "read"  # None, "read" or "typing"
    mark_other: bool = False  # mark some other message of the user's chat instead of this one
    reply: str | None = "Muraho! How can I help?"


@pytest.fixture
def stack() -> Iterator[tuple[Target, Bot]]:
    behaviour = Bot()
    with BackgroundServer(create_graph_app(config(webhook_url=None))) as graph:

        async def webhook(request: Request) -> JSONResponse:
            value = (await request.json())["entry"][0]["changes"][0]["value"]
            async with httpx.AsyncClient(base_url=graph.url, headers=AUTH) as client:
                for message in value.get("messages", []):
                    chat = message.get("from") or message["from_user_id"]
                    if behaviour.mark:
                        marked = payloads.new_wamid(chat) if behaviour.mark_other else message["id"]
                        await client.post(SEND, json=read(marked, typing=behaviour.mark == "typing"))
                    if behaviour.reply:
                        to = {"to": chat} if "from" in message else {"recipient": chat}
                        answer = text(body=behaviour.reply) | {"to": None} | to
                        await client.post(SEND, json={k: v for k, v in answer.items() if v is not None})
            return JSONResponse({})

        with BackgroundServer(Starlette(routes=[Route("/webhook", webhook, methods=["POST"])])) as bot:
            target = Target(
                env_name="unit",
                webhook_url=f"{bot.url}/webhook",
                app_secret="s",
                verify_token="v",
                phone_number_id="106540352242922",
                display_phone_number="15550783881",
                graph_api_url=graph.url,
                reply_seconds=2.0,
                no_reply_seconds=0.3,
                reply_budget_seconds=2.0,
            )
            yield target, behaviour


def user(target: Target, client: httpx.Client, **kwargs: Any) -> WhatsAppUser:
    return WhatsAppUser(target, client, TestNumberPool("25079", 12).next(), **kwargs)


def test_a_read_event_is_matched_and_is_never_a_reply(stack: tuple[Target, Bot]) -> None:
    target, _bot = stack
    seen: list[OutboundMessage] = []
    with httpx.Client() as client:
        buyer = user(target, client, on_reply=seen.append)
        buyer.send_text("hello")
        event, reply = buyer.expect_replies([Expectation(read=True), Expectation(text="Muraho")], strict=True)
        assert (event.is_event, event.kind, reply.kind) == (True, "read", "text")
        assert buyer.last_reply is reply
        assert seen == [reply]  # hygiene (on_reply) never sees an event
        assert len(buyer.transcript.reply_latencies_ms) == 1  # nor is it a latency sample
        assert "bot marked the message read" in buyer.transcript.render()


def test_a_read_event_nobody_expected_is_not_an_unexpected_reply(stack: tuple[Target, Bot]) -> None:
    target, bot = stack
    bot.mark = "typing"
    with httpx.Client() as client:
        buyer = user(target, client)
        buyer.send_text("hello")
        buyer.expect_replies([Expectation(text="Muraho")], strict=True, ordered=True)
        buyer.expect_nothing_unclaimed(0.3)
        bot.reply = None
        buyer.send_text("again")
        buyer.expect_no_reply(0.3)
        assert "bot is typing" in buyer.transcript.render()


def test_read_fails_when_the_bot_never_marks_the_message_read(stack: tuple[Target, Bot]) -> None:
    target, bot = stack
    bot.mark = None
    with httpx.Client() as client:
        buyer = user(target, client)
        buyer.send_text("hello")
        with pytest.raises(ReplyError) as caught:
            buyer.expect_replies([Expectation(read=True), Expectation(text="Muraho")], within=0.5)
    # The reply came: only the read is missing, and the failure says so.
    assert str(caught.value).startswith("the bot did not mark the message read")
    assert "the bot marks the message read" in str(caught.value)
    assert 'text "Muraho! How can I help?"' in str(caught.value)
    assert buyer.transcript.replies_timed_out == 0  # a missing event is no censored reply latency


def test_read_fails_when_the_bot_marks_another_message(stack: tuple[Target, Bot]) -> None:
    target, bot = stack
    bot.mark_other = True
    with httpx.Client() as client:
        buyer = user(target, client)
        buyer.send_text("hello")
        with pytest.raises(ReplyError, match="did not mark the message read"):
            buyer.expect_replies([Expectation(read=True)], within=0.5)


def test_typing_needs_a_typing_indicator_and_implies_read(stack: tuple[Target, Bot]) -> None:
    target, bot = stack
    with httpx.Client() as client:
        buyer = user(target, client)
        buyer.send_text("hello")
        with pytest.raises(ReplyError, match="typing indicator"):
            buyer.expect_replies([Expectation(typing=True), Expectation(text="Muraho")], within=0.5)
        bot.mark = "typing"
        buyer.send_text("hello again")
        found = buyer.expect_replies([Expectation(read=True), Expectation(typing=True)], within=2)
        assert [m.kind for m in found] == ["typing", "typing"]  # one typing request does both


def test_the_rollback_drill_reader_sees_replies_only(stack: tuple[Target, Bot]) -> None:
    target, _bot = stack
    assert target.graph_api_url
    with httpx.Client() as client:
        buyer = user(target, client)
        buyer.send_text("hello")
        reader = ReplyReader(client, target.graph_api_url)
        assert [m.kind for m in reader.poll(buyer.phone, 0, 2)] == ["text"]
        assert sorted(m.kind for m in reader.poll(buyer.phone, 0, 0, events=True)) == ["read", "text"]


# --- journeys ----------------------------------------------------------------------------------------------

JOURNEY = """\
journey: read-probe
title: "The bot marks the buyer's message read, then answers"
actors:
  buyer: {role: buyer, identity: IDENTITY}
steps:
  - actor: buyer
    send: "hello"
    expect: EXPECT
"""


def journey(tmp_path: Path, target: Target, expect: str, identity: str = "phone") -> None:
    path = tmp_path / "read.journey.yaml"
    path.write_text(JOURNEY.replace("EXPECT", expect).replace("IDENTITY", identity), encoding="utf-8")
    with httpx.Client() as client:
        JourneyRunner(target, client, TestNumberPool("25079", 12)).run(load_journey(path))


@pytest.mark.parametrize("identity", ["phone", "username_only"])
def test_a_journey_expects_the_read_before_the_reply(
    tmp_path: Path, stack: tuple[Target, Bot], identity: str
) -> None:
    target, _bot = stack
    journey(tmp_path, target, '[{read: true}, {text: "Muraho"}]', identity)


def test_a_strict_journey_does_not_count_a_read_event_as_unexpected(
    tmp_path: Path, stack: tuple[Target, Bot]
) -> None:
    target, bot = stack
    bot.mark = "typing"
    journey(tmp_path, target, '[{text: "Muraho"}]')


def test_a_journey_fails_when_the_bot_never_marks_read(tmp_path: Path, stack: tuple[Target, Bot]) -> None:
    target, bot = stack
    bot.mark = None
    with pytest.raises(JourneyStepFailed) as caught:
        journey(tmp_path, target, '[{read: true}, {text: "Muraho"}]')
    assert "the bot marks the message read" in str(caught.value)
    assert "read.journey.yaml:" in caught.value.location


@pytest.mark.parametrize(
    "fields", [{"text": "hi"}, {"kind": "text"}, {"count": 2}, {"capture": {"x": {"text": "(.)"}}}]
)
def test_an_event_expectation_has_no_message_fields(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="read / typing expect an event"):
        Expect(read=True, **fields)
    assert Expect(typing=True).typing
