"""The load test's shared reply stream against a real Graph API simulator on loopback (gevent, unpatched)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gevent
import httpx
import pytest

from easymo_qa.load.reply_stream import ReplyStream
from easymo_qa.simulators.graph_api import GraphSimConfig, create_graph_app
from easymo_qa.simulators.server import BackgroundServer

TOKEN, PHONE_ID = "tok", "106540352242922"
MINE, OTHER, NOT_MINE = "250790011111", "250790022222", "250799933333"


@pytest.fixture
def graph() -> Iterator[str]:
    app = create_graph_app(
        GraphSimConfig(access_token=TOKEN, phone_number_id=PHONE_ID, display_phone_number="1")
    )
    with BackgroundServer(app) as server:
        yield server.url


def send(url: str, to: str, body: Any = "hello") -> int:
    message = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}}
    response = httpx.post(
        f"{url}/v21.0/{PHONE_ID}/messages", json=message, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    return response.status_code


def test_each_waiting_user_gets_its_own_replies_only(graph: str) -> None:
    send(graph, MINE, "before the stream started")  # skipped: the stream starts after it
    stream = ReplyStream(graph, keep=lambda to: to.startswith("2507900"), wait_seconds=2).start()
    try:
        other = gevent.spawn(stream.poll, OTHER, 0, 5.0)
        gevent.sleep(0.05)
        assert send(graph, MINE) == 200
        assert send(graph, NOT_MINE) == 200
        mine = stream.poll(MINE, 0, 5.0)
        assert [m.text for m in mine] == ["hello"]
        assert not other.ready()  # not woken by someone else's reply
        assert send(graph, OTHER, "yours") == 200
        assert [m.text for m in other.get(timeout=5)] == ["yours"]
        assert stream.poll(MINE, mine[-1].seq, 0.2) == []  # nothing new after the cursor
        assert stream.poll(NOT_MINE, 0, 0.2) == []  # another worker's number: dropped
        assert stream.stats.polls >= 1
        assert stream.stats.delivered == 2
    finally:
        stream.stop()


def test_last_seq_and_rejections_come_from_the_simulator(graph: str) -> None:
    stream = ReplyStream(graph)
    try:
        assert send(graph, MINE) == 200
        assert send(graph, MINE, "x" * 5000) == 400  # over the text limit: refused and recorded
        assert stream.last_seq() == 2
        [line] = stream.rejections(MINE)
        assert line.startswith("text message:")
    finally:
        stream.stop()


def test_old_messages_leave_the_mailboxes(graph: str) -> None:
    stream = ReplyStream(graph, retention_seconds=0.0)
    stream.deliver(
        [{"seq": 1, "to": MINE, "received_at": 1.0, "body": {"type": "text", "text": {"body": "a"}}}]
    )
    stream.deliver(
        [{"seq": 2, "to": OTHER, "received_at": 2.0, "body": {"type": "text", "text": {"body": "b"}}}]
    )
    assert stream.poll(MINE, 0, 0) == []
    stream.stop()
