"""The load test's shared reply stream against a real Graph API simulator on loopback (gevent, unpatched)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import gevent
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount

from easymo_qa.load.reply_stream import ReplyStream
from easymo_qa.simulators.graph_api import GraphSimConfig, create_graph_app
from easymo_qa.simulators.server import BackgroundServer
from easymo_qa.target import Target, harness_headers

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


# --- deployed simulators: a path prefix, the harness token, https -----------------------------------------


def _guarded_graph(token: str) -> Starlette:
    """The Graph simulator as `easymo-qa simulators serve` mounts it: under /graph, its /_sim/ API behind the
    harness token."""
    graph_app = create_graph_app(
        GraphSimConfig(access_token=TOKEN, phone_number_id=PHONE_ID, display_phone_number="1")
    )

    async def guard(request: Request, call_next: Any) -> Any:
        if "/_sim/" in request.url.path and request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"error": "harness token"}, status_code=401)
        return await call_next(request)

    return Starlette(
        routes=[Mount("/graph", app=graph_app)], middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)]
    )


def test_a_deployed_simulator_is_read_under_its_prefix_with_the_harness_token() -> None:
    with BackgroundServer(_guarded_graph("h")) as server:
        base = f"{server.url}/graph"
        assert send(base, MINE) == 200
        stream = ReplyStream(base, headers=harness_headers(replace(_target(), harness_token="h")))
        try:
            assert stream.last_seq() == 1
            assert abs(stream.server_clock() - time.time()) < 60
        finally:
            stream.stop()
        anonymous = ReplyStream(base)
        try:
            with pytest.raises(RuntimeError, match="HTTP 401"):
                anonymous.last_seq()
        finally:
            anonymous.stop()


def _target() -> Target:
    return Target("x", "http://127.0.0.1:1/wa", "s", "v", PHONE_ID, "1", graph_api_url="http://127.0.0.1:2")


@pytest.fixture
def https_graph(tmp_path: Path) -> Iterator[str]:
    """The Graph simulator over https on loopback, with a self-signed certificate (openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    app = create_graph_app(
        GraphSimConfig(access_token=TOKEN, phone_number_id=PHONE_ID, display_phone_number="1")
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", ssl_certfile=str(cert), ssl_keyfile=str(key), lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def test_https_is_verified_unless_told_not_to(https_graph: str) -> None:
    checked = ReplyStream(https_graph)
    try:
        with pytest.raises(ssl.SSLError):  # self-signed: refused by default
            checked.last_seq()
    finally:
        checked.stop()
    trusting = ReplyStream(https_graph, verify_tls=False)  # SimulatorsSettings.verify_tls: false
    try:
        assert trusting.last_seq() == 0
    finally:
        trusting.stop()


def test_only_http_and_https_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match=r"http\(s\)://host"):
        ReplyStream("ftp://127.0.0.1:1")
