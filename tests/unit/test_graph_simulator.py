"""The Graph API simulator (easymo_qa.simulators.graph_api), in-process and once on a real loopback socket."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from easymo_qa.simulators import graph_api
from easymo_qa.simulators.graph_api import GraphReply, GraphSimConfig, create_graph_app
from easymo_qa.simulators.outbox import Outbox
from easymo_qa.simulators.server import BackgroundServer
from easymo_qa.whatsapp import signing

pytestmark = pytest.mark.unit

TOKEN = "EAAG-test-token"
PHONE_ID = "106540352242922"
SECRET = "app-secret-for-tests"
WEBHOOK = "http://sut.test/webhook"
USER = "250788123456"
OTHER = "250722000111"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEND = f"/v21.0/{PHONE_ID}/messages"


def config(**overrides: Any) -> GraphSimConfig:
    values: dict[str, Any] = {
        "access_token": TOKEN,
        "phone_number_id": PHONE_ID,
        "display_phone_number": "15550783881",
        "webhook_url": WEBHOOK,
        "app_secret": SECRET,
    }
    return GraphSimConfig(**(values | overrides))


def text(to: str = USER, body: str = "Muraho") -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}}


def four_buttons(to: str = USER) -> dict[str, Any]:
    buttons = [{"type": "reply", "reply": {"id": f"b{i}", "title": f"Option {i}"}} for i in range(4)]
    return {
        "messaging_product": "whatsapp",
        "to": to,
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": "Choose"}, "action": {"buttons": buttons}},
    }


Scenario = Callable[[httpx.AsyncClient, Starlette], Awaitable[None]]


def run(scenario: Scenario, app: Starlette | None = None) -> Starlette:
    """Run ``scenario(client, app)`` in a fresh event loop against the app, in-process."""
    app = app if app is not None else create_graph_app(config())

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://graph.test") as client:
            await scenario(client, app)

    asyncio.run(main())
    return app


def assert_graph_error(payload: dict[str, Any], code: int) -> dict[str, Any]:
    error = payload["error"]
    assert error["code"] == code
    assert error["type"] in ("OAuthException", "GraphMethodException")
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["fbtrace_id"].startswith("A")
    assert len(error["fbtrace_id"]) == 23
    return error


# --- the messages endpoint -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["missing", "wrong-token", "no-scheme", "basic"],
)
def test_bad_token_is_401_oauth_error(headers: dict[str, str]) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(SEND, json=text(), headers=headers)
        assert response.status_code == 401
        error = assert_graph_error(response.json(), 190)
        assert error == {
            "message": "Invalid OAuth access token - Cannot parse access token",
            "type": "OAuthException",
            "code": 190,
            "fbtrace_id": error["fbtrace_id"],
        }
        assert app.state.graph.outbox.messages() == []

    run(scenario)


def test_bearer_scheme_is_case_insensitive() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(SEND, json=text(), headers={"Authorization": f"bearer {TOKEN}"})
        assert response.status_code == 200

    run(scenario)


def test_unknown_phone_number_id_is_400_subcode_33() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post("/v21.0/999/messages", json=text(), headers=AUTH)
        assert response.status_code == 400
        error = assert_graph_error(response.json(), 100)
        assert error["error_subcode"] == 33
        assert "Object with ID '999' does not exist" in error["message"]

    run(scenario)


@pytest.mark.parametrize("version", ["v20.0", "v21.0", "v3.2"])
def test_any_graph_version_is_accepted(version: str) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(f"/{version}/{PHONE_ID}/messages", json=text(), headers=AUTH)
        assert response.status_code == 200

    run(scenario)


@pytest.mark.parametrize("version", ["21.0", "v21", "latest"])
def test_malformed_version_is_refused(version: str) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(f"/{version}/{PHONE_ID}/messages", json=text(), headers=AUTH)
        assert response.status_code == 400
        assert_graph_error(response.json(), 2500)

    run(scenario)


def test_invalid_json_is_400_code_100_and_recorded() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(SEND, content=b'{"to": "25078', headers=AUTH)
        assert response.status_code == 400
        assert_graph_error(response.json(), 100)
        [rejection] = (await client.get("/_sim/rejections")).json()["rejections"]
        assert rejection["body"] is None  # readers can always do (body or {}).get(...)
        assert rejection["raw_body"] == '{"to": "25078'
        assert rejection["http_status"] == 400

    run(scenario)


def test_json_that_is_not_an_object_is_400_code_100() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(SEND, json=["hello"], headers=AUTH)
        assert response.status_code == 400
        assert_graph_error(response.json(), 100)
        [rejection] = (await client.get("/_sim/rejections")).json()["rejections"]
        assert rejection["body"] is None
        assert rejection["raw_body"] == '["hello"]'

    run(scenario)


def test_four_buttons_get_metas_error_object() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(SEND, json=four_buttons(), headers=AUTH)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error == {
            "message": "(#131009) interactive button messages allow at most 3 buttons, got 4",
            "type": "OAuthException",
            "code": 131009,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": "interactive button messages allow at most 3 buttons, got 4",
            },
            "error_subcode": 2494010,
            "fbtrace_id": error["fbtrace_id"],
        }
        assert error["fbtrace_id"].startswith("A")
        assert (await client.get("/_sim/messages", params={"to": USER})).json()["messages"] == []

    run(scenario)


def test_details_join_every_violation() -> None:
    body = four_buttons()
    body["interactive"]["action"]["buttons"][0]["reply"]["title"] = "x" * 21

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        error = (await client.post(SEND, json=body, headers=AUTH)).json()["error"]
        assert error["error_data"]["details"] == (
            "interactive button messages allow at most 3 buttons, got 4; "
            "button title must be at most 20 characters, got 21"
        )

    run(scenario)


def test_valid_message_is_accepted_and_recorded() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        before = time.time()
        response = await client.post(SEND, json=text(to="+" + USER), headers=AUTH)
        assert response.status_code == 200
        answer = response.json()
        [message_ref] = answer["messages"]
        assert answer == {
            "messaging_product": "whatsapp",
            "contacts": [{"input": "+" + USER, "wa_id": USER}],
            "messages": [{"id": message_ref["id"]}],
        }
        assert message_ref["id"].startswith("wamid.")

        [recorded] = (await client.get("/_sim/messages", params={"to": USER})).json()["messages"]
        assert recorded["seq"] == 1
        assert recorded["wamid"] == message_ref["id"]
        assert recorded["to"] == USER
        assert recorded["type"] == "text"
        assert before <= recorded["received_at"] <= time.time()
        assert recorded["body"] == text(to="+" + USER)

    run(scenario)


def test_each_message_gets_a_new_wamid_and_the_next_seq() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        for i in range(5):
            await client.post(SEND, json=text(body=f"m{i}"), headers=AUTH)
        await client.post(SEND, json=four_buttons(), headers=AUTH)  # seq 6, a rejection
        await client.post(SEND, json=text(to=OTHER), headers=AUTH)
        answer = (await client.get("/_sim/messages")).json()
        assert [m["seq"] for m in answer["messages"]] == [1, 2, 3, 4, 5, 7]
        assert len({m["wamid"] for m in answer["messages"]}) == 6
        assert answer["last_seq"] == 7

    run(scenario)


def test_message_without_type_is_recorded_as_text() -> None:
    body = text()
    del body["type"]

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        assert (await client.post(SEND, json=body, headers=AUTH)).status_code == 200
        [recorded] = (await client.get("/_sim/messages")).json()["messages"]
        assert recorded["type"] == "text"

    run(scenario)


# --- the harness API -------------------------------------------------------------------------------------


def test_long_poll_returns_as_soon_as_a_message_arrives() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        started = time.monotonic()
        poll = asyncio.create_task(client.get("/_sim/messages", params={"to": USER, "after": 0, "wait": 10}))
        await asyncio.sleep(0.1)
        assert not poll.done()
        await client.post(SEND, json=text(to=OTHER), headers=AUTH)  # someone else's: must not answer
        await asyncio.sleep(0.1)
        assert not poll.done()
        await client.post(SEND, json=text(body="your ride is here"), headers=AUTH)
        answer = (await poll).json()
        assert time.monotonic() - started < 5
        assert [m["body"]["text"]["body"] for m in answer["messages"]] == ["your ride is here"]
        assert answer["last_seq"] == 2

    run(scenario)


def test_long_poll_answers_empty_after_wait() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        started = time.monotonic()
        answer = (await client.get("/_sim/messages", params={"to": USER, "wait": 0.3})).json()
        elapsed = time.monotonic() - started
        assert answer == {"messages": [], "last_seq": 0}
        assert 0.25 <= elapsed < 3

    run(scenario)


def test_wait_zero_answers_now_and_after_filters() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        for i in range(3):
            await client.post(SEND, json=text(body=f"m{i}"), headers=AUTH)
        answer = (await client.get("/_sim/messages", params={"to": USER, "after": 1, "wait": 0})).json()
        assert [m["seq"] for m in answer["messages"]] == [2, 3]
        started = time.monotonic()
        answer = (await client.get("/_sim/messages", params={"to": USER, "after": 3})).json()
        assert answer["messages"] == []
        assert time.monotonic() - started < 1

    run(scenario)


@pytest.mark.parametrize("spelling", ["+" + USER, USER, " " + USER], ids=["plus", "digits", "decoded-plus"])
def test_recipient_is_normalised(spelling: str) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await client.post(SEND, json=text(to="+" + USER), headers=AUTH)
        answer = (await client.get("/_sim/messages", params={"to": spelling})).json()
        assert len(answer["messages"]) == 1

    run(scenario)


def test_raw_plus_in_query_string_is_understood() -> None:
    # An unencoded '+' in a query string decodes to a space; the recipient must still match.
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await client.post(SEND, json=text(), headers=AUTH)
        answer = (await client.get(f"/_sim/messages?to=+{USER}")).json()
        assert len(answer["messages"]) == 1

    run(scenario)


def test_hundreds_of_concurrent_long_polls_each_wake_for_their_own_recipient() -> None:
    recipients = [f"2507880{i:05d}" for i in range(300)]

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        polls = [
            asyncio.create_task(client.get("/_sim/messages", params={"to": r, "wait": 20}))
            for r in recipients
        ]
        await asyncio.sleep(0.2)
        assert not any(p.done() for p in polls)
        started = time.monotonic()
        for r in recipients:
            await client.post(SEND, json=text(to=r, body=f"hi {r}"), headers=AUTH)
        answers = [(await p).json() for p in polls]
        assert time.monotonic() - started < 10
        for r, answer in zip(recipients, answers, strict=True):
            [message] = answer["messages"]
            assert message["to"] == r
        assert app.state.graph.outbox._waiters == {}  # every waiter cleaned up

    run(scenario)


def test_wait_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_api, "MAX_WAIT_SECONDS", 0.2)

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        started = time.monotonic()
        await client.get("/_sim/messages", params={"to": USER, "wait": 3600})
        assert time.monotonic() - started < 2

    run(scenario)


@pytest.mark.parametrize("query", ["to=abc", "to=RW.123456789", "after=x", "wait=soon", "wait=nan"])
def test_bad_query_is_400(query: str) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.get(f"/_sim/messages?{query}")
        assert response.status_code == 400
        assert response.json()["error"]

    run(scenario)


def test_messages_without_to_lists_everyone() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await client.post(SEND, json=text(to=USER), headers=AUTH)
        await client.post(SEND, json=text(to=OTHER), headers=AUTH)
        answer = (await client.get("/_sim/messages")).json()
        assert [m["to"] for m in answer["messages"]] == [USER, OTHER]
        answer = (await client.get("/_sim/messages", params={"after": 1})).json()
        assert [m["to"] for m in answer["messages"]] == [OTHER]

    run(scenario)


def test_rejections_are_listed_by_recipient() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await client.post(SEND, json=four_buttons(to=USER), headers=AUTH)
        await client.post(SEND, json=text(), headers=AUTH)
        await client.post(SEND, json=four_buttons(to="+" + OTHER), headers=AUTH)
        await client.post(SEND, json=text(), headers={"Authorization": "Bearer nope"})

        everyone = (await client.get("/_sim/rejections")).json()["rejections"]
        assert [(r["seq"], r["to"], r["http_status"]) for r in everyone] == [
            (1, USER, 400),
            (3, OTHER, 400),
            (4, USER, 401),
        ]
        mine = (await client.get("/_sim/rejections", params={"to": USER, "after": 1})).json()["rejections"]
        [rejection] = mine
        assert rejection["error"]["code"] == 190
        first = everyone[0]
        assert set(first) >= {"seq", "to", "received_at", "body", "error"}
        assert first["body"] == four_buttons()
        assert first["error"]["code"] == 131009
        assert first["error"]["error_subcode"] == 2494010

    run(scenario)


def test_delete_clears_everything_but_seq_keeps_counting() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await client.post(SEND, json=text(), headers=AUTH)
        await client.post(SEND, json=four_buttons(), headers=AUTH)
        assert (await client.delete("/_sim/messages")).status_code == 200
        assert (await client.get("/_sim/messages")).json()["messages"] == []
        assert (await client.get("/_sim/rejections")).json()["rejections"] == []
        await client.post(SEND, json=text(), headers=AUTH)
        # A poller still holding cursor 2 sees the new message rather than missing it.
        [message] = (await client.get("/_sim/messages", params={"to": USER, "after": 2})).json()["messages"]
        assert message["seq"] == 3

    run(scenario)


def test_health() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.get("/_sim/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    run(scenario)


def test_send_handler_can_be_wrapped_by_a_fault_layer() -> None:
    """The seam the fault rules will use: wrap ``app.state.graph.send``; refusals are recorded."""
    app = create_graph_app(config())
    inner = app.state.graph.send
    calls = 0

    async def every_other_throttled(body: dict[str, Any]) -> GraphReply:
        nonlocal calls
        calls += 1
        if calls % 2:
            return GraphReply(429, graph_api.graph_error("(#130429) Rate limit hit", code=130429))
        return await inner(body)

    app.state.graph.send = every_other_throttled

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        assert (await client.post(SEND, json=text(), headers=AUTH)).status_code == 429
        assert (await client.post(SEND, json=text(), headers=AUTH)).status_code == 200
        [rejection] = (await client.get("/_sim/rejections")).json()["rejections"]
        assert rejection["error"]["code"] == 130429
        assert len((await client.get("/_sim/messages")).json()["messages"]) == 1

    run(scenario, app)


# --- status webhooks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["sent", "delivered", "read", "failed"])
def test_statuses_posts_a_signed_webhook(state: str) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        with respx.mock(assert_all_called=True) as router:
            route = router.post(WEBHOOK).mock(return_value=httpx.Response(200))
            response = await client.post(
                "/_sim/statuses", json={"wamid": "wamid.out1", "recipient_id": "+" + USER, "status": state}
            )
        assert response.status_code == 200
        assert response.json() == {"sut_status": 200}

        sent = route.calls.last.request
        body = sent.content
        assert signing.verify_signature(body, sent.headers["X-Hub-Signature-256"], SECRET)
        assert body == signing.encode_body(json.loads(body))  # Meta's compact, ASCII-escaped bytes
        assert sent.headers["Content-Type"] == "application/json"
        value = json.loads(body)["entry"][0]["changes"][0]["value"]
        assert value["metadata"] == {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID}
        [status] = value["statuses"]
        assert (status["id"], status["recipient_id"], status["status"]) == ("wamid.out1", USER, state)
        assert ("errors" in status) == (state == "failed")

    run(scenario)


def test_statuses_reports_the_sut_answer() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        with respx.mock() as router:
            router.post(WEBHOOK).mock(return_value=httpx.Response(403))
            response = await client.post(
                "/_sim/statuses", json={"wamid": "wamid.x", "recipient_id": USER, "status": "read"}
            )
        assert response.json() == {"sut_status": 403}

    run(scenario)


def test_statuses_unreachable_sut_is_502() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        with respx.mock() as router:
            router.post(WEBHOOK).mock(side_effect=httpx.ConnectError("refused"))
            response = await client.post(
                "/_sim/statuses", json={"wamid": "wamid.x", "recipient_id": USER, "status": "read"}
            )
        assert response.status_code == 502
        assert response.json()["sut_status"] is None

    run(scenario)


@pytest.mark.parametrize("missing", ["webhook_url", "app_secret"])
def test_statuses_without_webhook_config_is_409(missing: str) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(
            "/_sim/statuses", json={"wamid": "wamid.x", "recipient_id": USER, "status": "read"}
        )
        assert response.status_code == 409
        assert "webhook_url" in response.json()["error"]

    run(scenario, create_graph_app(config(**{missing: None})))


@pytest.mark.parametrize(
    "payload",
    [
        {"wamid": "wamid.x", "recipient_id": USER, "status": "deleted"},
        {"recipient_id": USER, "status": "read"},
        {"wamid": "wamid.x", "recipient_id": "", "status": "read"},
        ["not", "an", "object"],
    ],
    ids=["unknown-status", "no-wamid", "no-recipient", "not-object"],
)
def test_statuses_bad_request_is_400(payload: Any) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post("/_sim/statuses", json=payload)
        assert response.status_code == 400
        assert response.json()["error"]

    run(scenario)


# --- outbox --------------------------------------------------------------------------------------------


def test_outbox_keeps_only_the_newest_records() -> None:
    outbox = Outbox(max_records=3)
    for i in range(5):
        outbox.record_message(wamid=f"w{i}", to=USER if i % 2 else OTHER, kind="text", body={})
    assert [m["wamid"] for m in outbox.messages()] == ["w2", "w3", "w4"]
    assert [m["wamid"] for m in outbox.messages(USER)] == ["w3"]
    assert [m["wamid"] for m in outbox.messages(OTHER)] == ["w2", "w4"]
    assert outbox.last_seq == 5


# --- on a real socket ------------------------------------------------------------------------------------


def test_on_a_real_loopback_socket_with_a_webhook_receiver() -> None:
    received: list[tuple[bytes, str]] = []

    async def webhook(request: Request) -> JSONResponse:
        received.append((await request.body(), request.headers.get("x-hub-signature-256", "")))
        return JSONResponse({}, status_code=200)

    sut = Starlette(routes=[Route("/webhook", webhook, methods=["POST"])])
    with BackgroundServer(sut) as sut_server:
        graph_app = create_graph_app(config(webhook_url=f"{sut_server.url}/webhook"))
        with (
            BackgroundServer(graph_app, host="localhost") as graph,
            httpx.Client(base_url=graph.url) as client,
        ):
            assert graph.port > 0
            assert graph.url == f"http://127.0.0.1:{graph.port}"
            assert client.get("/_sim/health").json() == {"status": "ok"}
            sent = client.post(SEND, json=text(), headers=AUTH)
            assert sent.status_code == 200
            wamid = sent.json()["messages"][0]["id"]
            [message] = client.get("/_sim/messages", params={"to": USER, "wait": 2}).json()["messages"]
            assert message["wamid"] == wamid

            status = client.post(
                "/_sim/statuses", json={"wamid": wamid, "recipient_id": USER, "status": "delivered"}
            )
            assert status.json() == {"sut_status": 200}
    [(body, signature)] = received
    assert signing.verify_signature(body, signature, SECRET)
    assert json.loads(body)["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] == wamid


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "10.0.0.1", "192.168.1.20", "::", "example.com", "127.0.0.1.nip.io"]
)
def test_background_server_refuses_non_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        BackgroundServer(create_graph_app(config()), host=host)


@pytest.mark.parametrize(
    ("host", "bound"),
    [
        ("localhost", "127.0.0.1"),
        ("127.0.0.1", "127.0.0.1"),
        ("127.9.8.7", "127.9.8.7"),
        ("::1", "::1"),
        ("[::1]", "::1"),
    ],
)
def test_loopback_hosts_are_accepted(host: str, bound: str) -> None:
    assert BackgroundServer(create_graph_app(config()), host=host).host == bound


def test_stop_does_not_hang_on_an_open_long_poll() -> None:
    server = BackgroundServer(create_graph_app(config()), graceful_shutdown=0.5).start()
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            httpx.get(f"{server.url}/_sim/messages", params={"to": USER, "wait": 30}, timeout=40)
        except httpx.HTTPError as exc:  # the server going away mid-poll is expected here
            errors.append(exc)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    time.sleep(0.3)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    assert not server.running
    server.stop()  # a second stop is harmless
    poller.join(5)
    assert not poller.is_alive()


def test_startup_failure_is_a_clear_error() -> None:
    async def broken_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            raise RuntimeError("cannot start")

    with pytest.raises(RuntimeError, match="start"):
        BackgroundServer(broken_app, lifespan="on", startup_timeout=3).start()
