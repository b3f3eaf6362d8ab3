"""The reference service, in-process: HTTP contract, conversation, and that every defect switch bites.

The app runs through ``httpx.ASGITransport`` with its real lifespan; its Graph API calls go to a fake
Graph app, also in-process. Messages are handled in the background, so tests wait on the fake Graph
(with a deadline) or on the processor going idle; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import itertools
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reference import defects, messages
from reference.app import create_app
from reference.config import Settings
from reference.messages import BODY_MAX, ELLIPSIS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SECRET, VERIFY, PHONE_ID, TOKEN, ADMIN = "app-secret", "verify-me", "123456789", "graph-token", "admin-token"
USER = "250788123456"
HOME_IDS = [
    "buyer_search",
    "my_orders",
    "my_wallet",
    "vendor_hub",
    "station_hub",
    "driver_hub",
    "support_help",
]
_wamids = itertools.count(1)


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body on a fresh event loop, with an overall deadline."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), timeout=30))

    return wrapper


# -- inbound payloads (Meta's shape) --------------------------------------------------------------


def wamid() -> str:
    return f"wamid.test.{next(_wamids)}.{uuid.uuid4().hex[:8]}"


def msg(kind: str, sender: str = USER, wid: str | None = None, **content: Any) -> dict[str, Any]:
    return {"from": sender, "id": wid or wamid(), "timestamp": "1700000000", "type": kind, **content}


def text(body: str, sender: str = USER, wid: str | None = None) -> dict[str, Any]:
    return msg("text", sender, wid, text={"body": body})


def reply(kind: str, reply_id: str, sender: str = USER) -> dict[str, Any]:
    return msg("interactive", sender, interactive={"type": kind, kind: {"id": reply_id, "title": "x"}})


def webhook(
    *messages: dict[str, Any],
    statuses: list[dict[str, Any]] | None = None,
    phone_id: str = PHONE_ID,
    name: str = "Aline",
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "250700000001", "phone_number_id": phone_id},
    }
    if messages:
        senders = dict.fromkeys(m["from"] for m in messages)
        value["contacts"] = [{"profile": {"name": name}, "wa_id": s} for s in senders]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}],
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- the fake Graph API and the running service ---------------------------------------------------


class FakeGraph:
    """Records posted messages; ``fail_next`` queues error statuses to answer first."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []  # (path, authorization)
        self.fail_next: list[int] = []
        self._changed = asyncio.Condition()
        self.app = Starlette(
            routes=[Route("/{version}/{phone_id}/messages", self._messages, methods=["POST"])]
        )

    async def _messages(self, request: Request) -> JSONResponse:
        self.requests.append((request.url.path, request.headers.get("authorization", "")))
        if self.fail_next:
            status = self.fail_next.pop(0)
            return JSONResponse({"error": {"message": "boom", "type": "OAuthException", "code": 2}}, status)
        body = await request.json()
        async with self._changed:
            self.sent.append(body)
            self._changed.notify_all()
        return JSONResponse(
            {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.out.{len(self.sent)}"}]}
        )

    def to(self, phone: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["to"] == phone]

    async def wait_for(self, phone: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.to(phone)) >= count), timeout)
        return self.to(phone)


class Service:
    def __init__(self, app: Starlette, graph: FakeGraph, client: httpx.AsyncClient) -> None:
        self.app, self.graph, self.client = app, graph, client

    async def post(
        self, payload: dict[str, Any] | bytes, *, signature: str | None = "auto"
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else encode(payload)
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = sign(body) if signature == "auto" else signature
        return await self.client.post("/wa-webhook", content=body, headers=headers)

    async def settle(self) -> None:
        """Wait until every queued message has been handled."""
        await self.app.state.processor.idle()

    async def events(self, **query: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/admin/events", params=query, headers={"X-Admin-Token": ADMIN})
        assert response.status_code == 200, response.text
        return response.json()["events"]

    async def names(self, **query: Any) -> list[str]:
        return [e["name"] for e in await self.events(**query)]


def settings_for(tmp_path: Path, *switches: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_secret": SECRET,
        "verify_token": VERIFY,
        "phone_id": PHONE_ID,
        "token": TOKEN,
        "graph_base_url": "http://graph.test",
        "db_path": str(tmp_path / "ref.sqlite3"),
        "admin_token": ADMIN,
        "defects": frozenset(switches),
    }
    return Settings(**{**values, **overrides})


@contextlib.asynccontextmanager
async def service(tmp_path: Path, *switches: str, **overrides: Any) -> AsyncIterator[Service]:
    graph = FakeGraph()
    app = create_app(
        settings_for(tmp_path, *switches, **overrides), graph_transport=httpx.ASGITransport(graph.app)
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sut") as client:
            yield Service(app, graph, client)


def body_text(message: dict[str, Any]) -> str:
    if message["type"] == "text":
        return message["text"]["body"]
    return message["interactive"]["body"]["text"]


def assert_home_menu(message: dict[str, Any], name: str = "Aline") -> None:
    assert message["type"] == "interactive"
    interactive = message["interactive"]
    assert interactive["type"] == "list"
    assert interactive["header"] == {"type": "text", "text": "easyMO"}
    assert interactive["body"]["text"] == f"✨ Hello {name}! What would you like to do today?"
    assert interactive["action"]["button"] == "Open"
    [section] = interactive["action"]["sections"]
    assert section["title"] == "Services"
    assert [row["id"] for row in section["rows"]] == HOME_IDS
    assert all(len(row["title"]) <= 24 for row in section["rows"])


def assert_home_button(message: dict[str, Any], body: str) -> None:
    assert message["type"] == "interactive"
    assert message["interactive"]["type"] == "button"
    assert body_text(message) == body
    assert message["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "back_home", "title": "🏠 Home"}}
    ]


# -- GET verification -----------------------------------------------------------------------------


@run_async
async def test_handshake_echoes_challenge_with_right_token(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
        response = await svc.client.get("/wa-webhook", params=params)
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "c"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "c"},
        {},
    ],
)
@run_async
async def test_handshake_refuses_anything_else(tmp_path: Path, params: dict[str, str]) -> None:
    async with service(tmp_path) as svc:
        response = await svc.client.get("/wa-webhook", params=params)
    assert (response.status_code, response.text) == (403, "forbidden")


@run_async
async def test_defect_verify_any_token(tmp_path: Path) -> None:
    async with service(tmp_path, defects.VERIFY_ANY_TOKEN) as svc:
        params = {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "c"}
        response = await svc.client.get("/wa-webhook", params=params)
    assert (response.status_code, response.text) == (200, "c")


# -- POST checks ----------------------------------------------------------------------------------


@run_async
async def test_post_checks_and_request_id(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        payload = webhook(text("hi"))
        missing = await svc.post(payload, signature=None)
        wrong = await svc.post(payload, signature=sign(encode(payload), "other-secret"))
        other_prefix = await svc.post(payload, signature="sha1=" + sign(encode(payload))[7:])
        bad_json = await svc.post(b"{not json", signature=sign(b"{not json"))
        deep = b"[" * 100_000
        too_deep = await svc.post(deep, signature=sign(deep))
        put = await svc.client.put("/wa-webhook", content=b"{}")
        ok = await svc.post(webhook())
        await svc.settle()
        assert svc.graph.sent == []
    assert [(r.status_code, r.text) for r in (missing, wrong, other_prefix)] == [(401, "sig")] * 3
    assert (bad_json.status_code, bad_json.text) == (400, "bad_json")
    assert too_deep.status_code == 400
    assert put.status_code == 405
    assert (ok.status_code, ok.text) == (200, "ok")
    request_ids = {r.headers["x-request-id"] for r in (missing, wrong, bad_json, put, ok)}
    assert len(request_ids) == 5
    assert all(uuid.UUID(rid) for rid in request_ids)


@run_async
async def test_body_limit_declared_and_streamed(tmp_path: Path) -> None:
    async with service(tmp_path, webhook_max_bytes=2048) as svc:
        big = encode(webhook(text("x" * 3000)))
        declared = await svc.post(big)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(big), 512):
                yield big[start : start + 512]

        streamed = await svc.client.post(
            "/wa-webhook", content=chunks(), headers={"X-Hub-Signature-256": sign(big)}
        )
    assert (declared.status_code, declared.text) == (413, "payload_too_large")
    assert (streamed.status_code, streamed.text) == (413, "payload_too_large")
    assert "content-length" not in streamed.request.headers  # really chunked


@run_async
async def test_defect_no_signature_check(tmp_path: Path) -> None:
    payload = webhook(text("hi"))
    async with service(tmp_path, defects.NO_SIGNATURE_CHECK) as svc:
        response = await svc.post(payload, signature=None)
        assert response.status_code == 200
        await svc.graph.wait_for(USER, 1)


@run_async
async def test_defect_signature_over_reencoded_json(tmp_path: Path) -> None:
    ascii_payload, kinyarwanda = webhook(text("Muraho")), webhook(text("Ndashaka amata 🥛"), name="Uwase")
    async with service(tmp_path / "healthy") as svc:
        assert (await svc.post(ascii_payload)).status_code == 200
        assert (await svc.post(kinyarwanda)).status_code == 200
        await svc.graph.wait_for(USER, 2)
    async with service(tmp_path / "defect", defects.SIGNATURE_OVER_REENCODED_JSON) as svc:
        assert (await svc.post(ascii_payload)).status_code == 200
        assert (await svc.post(kinyarwanda)).status_code == 401


@run_async
async def test_other_defects_of_the_http_layer(tmp_path: Path) -> None:
    async with service(tmp_path / "json", defects.BAD_JSON_500) as svc:
        assert (await svc.post(b"{oops", signature=sign(b"{oops"))).status_code == 500
    async with service(tmp_path / "size", defects.NO_BODY_LIMIT, webhook_max_bytes=2048) as svc:
        assert (await svc.post(webhook(text("x" * 3000)))).status_code == 200


# -- envelope filtering, dedupe, statuses ---------------------------------------------------------


@run_async
async def test_duplicates_are_processed_once(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        repeated = text("hello")
        assert (await svc.post(webhook(repeated))).status_code == 200
        assert (await svc.post(webhook(repeated))).status_code == 200
        same_payload = text("again")
        await svc.post(webhook(same_payload, dict(same_payload)))
        await svc.settle()
        assert len(svc.graph.to(USER)) == 2
        duplicates = await svc.events(name="duplicate_ignored")
        assert sorted(e["data"]["scope"] for e in duplicates) == ["payload", "store"]


@run_async
async def test_defect_no_dedupe(tmp_path: Path) -> None:
    async with service(tmp_path, defects.NO_DEDUPE) as svc:
        repeated = text("hello")
        await svc.post(webhook(repeated))
        await svc.post(webhook(repeated))
        await svc.graph.wait_for(USER, 2)


@run_async
async def test_other_phone_number_id_is_ignored(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        response = await svc.post(webhook(text("hi"), phone_id="999"))
        await svc.settle()
        assert response.status_code == 200
        assert svc.graph.sent == []
        [event] = await svc.events(name="phone_mismatch_ignored")
        assert event["data"]["phone_number_id"] == "999"
        assert event["correlation_id"] == response.headers["x-request-id"]
    async with service(tmp_path / "defect", defects.NO_PHONE_ID_FILTER) as svc:
        await svc.post(webhook(text("hi"), phone_id="999"))
        await svc.graph.wait_for(USER, 1)


@pytest.mark.parametrize(("bot_number", "answered"), [("+250 700 000 001", True), ("+250700000999", False)])
@run_async
async def test_display_number_must_match_when_configured(
    tmp_path: Path, bot_number: str, answered: bool
) -> None:
    async with service(tmp_path, bot_number_e164=bot_number) as svc:
        await svc.post(webhook(text("hi")))
        await svc.settle()
        assert len(svc.graph.to(USER)) == int(answered)
        assert len(await svc.events(name="phone_mismatch_ignored")) == int(not answered)


@run_async
async def test_statuses_get_no_reply(tmp_path: Path) -> None:
    status = {"id": "wamid.out.1", "status": "delivered", "timestamp": "1700000000", "recipient_id": USER}
    async with service(tmp_path) as svc:
        assert (await svc.post(webhook(statuses=[status]))).status_code == 200
        await svc.settle()
        assert svc.graph.sent == []
        [event] = await svc.events(name="status_received")
        assert event["data"] == {"wamid": "wamid.out.1", "status": "delivered"}
    async with service(tmp_path / "defect", defects.REPLY_TO_STATUSES) as svc:
        await svc.post(webhook(statuses=[status]))
        [thanks] = await svc.graph.wait_for(USER, 1)
        assert body_text(thanks) == "Thanks!"


# -- the conversation -----------------------------------------------------------------------------


@run_async
async def test_text_gets_home_menu_posted_to_graph(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        inbound = text("Muraho")
        await svc.post(webhook(inbound))
        [menu] = await svc.graph.wait_for(USER, 1)
        assert_home_menu(menu)
        assert menu["to"] == USER
        assert menu["messaging_product"] == "whatsapp"
        assert svc.graph.requests == [(f"/v20.0/{PHONE_ID}/messages", f"Bearer {TOKEN}")]
        await svc.settle()
        events = await svc.events(phone=USER)
        assert [e["name"] for e in events] == ["message_received", "reply_sent", "message_handled"]
        assert len({e["correlation_id"] for e in events}) == 1
        assert events[1]["data"]["wamid"] == "wamid.out.1"


@pytest.mark.parametrize("name", ["Uwimana Béatrice", "محمد", "🦁 Simba 🇷🇼", "Nyiramana\u200dXYZ"])
@run_async
async def test_profile_names_are_kept_intact(tmp_path: Path, name: str) -> None:
    async with service(tmp_path) as svc:
        await svc.post(webhook(text("menu"), name=name))
        [menu] = await svc.graph.wait_for(USER, 1)
    assert_home_menu(menu, name)


@run_async
async def test_long_profile_name_is_truncated_to_fit(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        await svc.post(webhook(text("hi"), name="Mukamana " * 200))
        [menu] = await svc.graph.wait_for(USER, 1)
    body = body_text(menu)
    assert len(body) <= BODY_MAX
    assert body.startswith("✨ Hello Mukamana Mukamana")
    assert body.endswith(f"Mukamana{ELLIPSIS}! What would you like to do today?")


@run_async
async def test_stop_then_silence_then_start(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        await svc.post(webhook(text("  STOP ")))
        [bye] = await svc.graph.wait_for(USER, 1)
        assert body_text(bye) == "You're opted out of easyMO messages. Reply START to opt back in."
        for inbound in (text("hello"), reply("button_reply", "back_home"), msg("image", image={"id": "1"})):
            await svc.post(webhook(inbound))
        await svc.settle()
        assert len(svc.graph.to(USER)) == 1
        assert (await svc.names(name="reply_suppressed")) == ["reply_suppressed"] * 3
        await svc.post(webhook(text("Start")))
        messages = await svc.graph.wait_for(USER, 3)
        assert body_text(messages[1]) == "Welcome back! You're opted in again."
        assert_home_menu(messages[2])
        assert await svc.names(name="opted_out") == ["opted_out"]
        assert await svc.names(name="opted_in") == ["opted_in"]


@run_async
async def test_defect_optout_ignored(tmp_path: Path) -> None:
    async with service(tmp_path, defects.OPTOUT_IGNORED) as svc:
        await svc.post(webhook(text("unsubscribe")))
        await svc.graph.wait_for(USER, 1)
        await svc.post(webhook(text("hello")))
        messages = await svc.graph.wait_for(USER, 2)
    assert_home_menu(messages[1])


@run_async
async def test_replies_by_message_kind(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        inbound = [
            reply("button_reply", "back_home"),
            reply("list_reply", "no_such_option"),
            msg("location", location={"latitude": -1.9441, "longitude": 30.0619}),
            msg("audio", audio={"id": "42", "voice": True}),
            msg("reaction", reaction={"message_id": "wamid.out.1", "emoji": "👍"}),
        ]
        # One payload: the same user's messages are answered in order.
        await svc.post(webhook(*inbound))
        await svc.settle()
        home, unavailable, located, unsupported = svc.graph.to(USER)
        assert await svc.names(name="reaction_ignored") == ["reaction_ignored"]
    assert_home_menu(home)
    assert_home_button(unavailable, "That option isn't available yet. What next?")
    assert_home_button(located, "📍 Thanks, location received. What next?")
    assert_home_button(
        unsupported, "😔 Sorry, I can't read that kind of message yet. Please type what you need."
    )


@run_async
async def test_users_are_answered_concurrently_and_each_in_order(tmp_path: Path) -> None:
    users = [f"25078{n:07d}" for n in range(20)]
    async with service(tmp_path) as svc:
        payloads = [webhook(text("stop", u), text("start", u)) for u in users]
        responses = await asyncio.gather(*(svc.post(p) for p in payloads))
        assert {r.status_code for r in responses} == {200}
        await svc.settle()
        for user in users:
            bodies = [body_text(m) for m in svc.graph.to(user)]
            assert bodies[:2] == [
                "You're opted out of easyMO messages. Reply START to opt back in.",
                "Welcome back! You're opted in again.",
            ]
            assert len(bodies) == 3


@run_async
async def test_session_expires_after_ttl(tmp_path: Path) -> None:
    async with service(tmp_path, session_ttl_seconds=1) as svc:
        store = svc.app.state.store
        store.save_session(USER, {"key": "buyer_search", "data": {}})
        with store._lock:  # age the session instead of waiting for it
            store._conn.execute("UPDATE sessions SET updated_at = updated_at - 5")
        await svc.post(webhook(text("hello")))
        await svc.settle()
        assert await svc.names(name="session_expired") == ["session_expired"]
        assert store.load_session(USER) is None


@run_async
async def test_a_failing_message_does_not_lose_the_others(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:

        async def broken(turn: Any) -> None:
            raise RuntimeError("internal detail that must not leak")

        svc.app.state.router.on_id("my_orders", broken)
        await svc.post(webhook(reply("list_reply", "my_orders"), text("hi")))
        await svc.settle()
        apology, menu = svc.graph.to(USER)
        [failed] = await svc.events(name="message_failed")
    assert "internal detail" not in json.dumps(apology)
    assert body_text(apology).startswith("😔 Sorry, something went wrong")
    assert_home_menu(menu)
    assert failed["data"]["error"] == "RuntimeError"


@run_async
async def test_graph_errors_are_retried_then_reported(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        svc.graph.fail_next = [503, 429]
        await svc.post(webhook(text("hi")))
        await svc.graph.wait_for(USER, 1)
        await svc.settle()
        [sent] = await svc.events(name="reply_sent")
        assert sent["data"]["attempts"] == 3
        svc.graph.fail_next = [401]
        await svc.post(webhook(text("again")))
        await svc.settle()
        [failed] = await svc.events(name="reply_failed")
        assert failed["data"]["status"] == 401
        assert failed["data"]["error"]["code"] == 2
        assert await svc.names(name="message_failed") == ["message_failed"]


@run_async
async def test_defect_slow_reply(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    for switches, slow in (((), False), ((defects.SLOW_REPLY,), True)):
        async with service(tmp_path / str(slow), *switches) as svc:
            started = loop.time()
            await svc.post(webhook(text("hi")))
            await svc.graph.wait_for(USER, 1)
            elapsed = loop.time() - started
        assert (elapsed >= 0.6) is slow, elapsed


def test_outbound_builders_obey_cloud_api_limits() -> None:
    long = "Murakoze" * 700
    assert len(messages.text(USER, long)["text"]["body"]) == 4096
    built = messages.buttons(
        USER, long, [messages.Button("a", "Tanga komande ubu nonaha"), messages.HOME_BUTTON]
    )
    titles = [b["reply"]["title"] for b in built["interactive"]["action"]["buttons"]]
    assert titles == ["Tanga komande ubu n" + ELLIPSIS, "🏠 Home"]
    assert len(built["interactive"]["body"]["text"]) == BODY_MAX
    rows = [messages.Row(f"r{i}", "x" * 30, "y" * 80) for i in range(10)]
    listed = messages.list_message(USER, "body", "Open", [messages.Section("S", rows)])
    [section] = listed["interactive"]["action"]["sections"]
    assert {len(r["title"]) for r in section["rows"]} == {24}
    assert {len(r["description"]) for r in section["rows"]} == {72}
    with pytest.raises(ValueError, match="1 to 3 buttons"):
        messages.buttons(USER, "b", [messages.Button(str(i), "t") for i in range(4)])
    with pytest.raises(ValueError, match="1 to 10 rows"):
        messages.list_message(USER, "b", "Open", [messages.Section("S", [*rows, messages.Row("r10", "t")])])
    with pytest.raises(ValueError, match="unique"):
        messages.buttons(USER, "b", [messages.Button("a", "t"), messages.Button("a", "u")])


# -- health, admin API, command line --------------------------------------------------------------


@run_async
async def test_health_and_admin_auth(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        health = await svc.client.get("/health")
        no_token = await svc.client.get("/admin/events")
        bad_limit = await svc.client.get("/admin/events?limit=x", headers={"X-Admin-Token": ADMIN})
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["db"] == "ok"
    assert no_token.status_code == 401
    assert bad_limit.status_code == 400


def test_list_defects_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reference", "--list-defects"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    names = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert names == list(defects.DEFECTS)
    assert all(len(line.split("\t")) == 2 for line in result.stdout.splitlines())


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "WA_APP_SECRET"), ({"REFERENCE_DEFECTS": "no_such_bug"}, "no_signature_check")],
)
def test_bad_configuration_exits_2(env: dict[str, str], expected: str) -> None:
    base = (
        {}
        if not env
        else {
            "WA_APP_SECRET": "s",
            "WA_VERIFY_TOKEN": "v",
            "WA_PHONE_ID": "1",
            "WA_TOKEN": "t",
            "WA_GRAPH_BASE_URL": "http://127.0.0.1:9",
            "REFERENCE_DB_PATH": "/tmp/x.sqlite3",
            "ADMIN_TOKEN": "a",
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "reference"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **base, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert expected in result.stderr
