"""The fault plane (easymo_qa.simulators.faults) and its install in the four simulators, mostly in-process."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from easymo_qa.simulators.faults import (
    DEFAULT_HANG_SECONDS,
    FaultPlane,
    FaultRule,
    FaultRuleError,
)
from easymo_qa.simulators.graph_api import GraphSimConfig, create_graph_app
from easymo_qa.simulators.llm import LlmSimConfig, create_llm_app
from easymo_qa.simulators.maps import MapsSimConfig, create_maps_app
from easymo_qa.simulators.payments.app import create_payments_app
from easymo_qa.simulators.payments.model import PaymentsSimConfig
from easymo_qa.simulators.server import BackgroundServer

pytestmark = pytest.mark.unit

SCOPE = "tests/unit/test_fault_plane.py::a-test"
OTHER_SCOPE = "tests/unit/test_fault_plane.py::another-test"
USER = "250788123456"
OTHER = "250722000111"
WAIT_SECONDS = 5.0
EPSILON = 0.01  # asyncio timers may wake a hair early

GRAPH_TOKEN = "EAAG-test-token"
PHONE_ID = "106540352242922"
SEND = f"/v21.0/{PHONE_ID}/messages"
GRAPH_AUTH = {"Authorization": f"Bearer {GRAPH_TOKEN}"}

LLM_KEY = "sk-test-0123456789abcdef"
LLM_AUTH = {"Authorization": f"Bearer {LLM_KEY}"}
CHAT = "/v1/chat/completions"
SEARCH_TOOL = {
    "type": "function",
    "function": {"name": "search_offers", "parameters": {"type": "object", "properties": {}}},
}

ROUTE = "/v1/route"
KIMIRONKO, REMERA = "-1.9353,30.1268", "-1.9556,30.1167"

MOMO_KEY = "momo-access-token"
MOMO_SECRET = "callback-secret-for-tests"
PAY = "/collection/v1_0/requesttopay"
CALLBACK = "http://127.0.0.1:8765/momo/callback"  # answered in-process by the Receiver


# --- helpers ---------------------------------------------------------------------------------------------


def graph_app() -> Starlette:
    return create_graph_app(
        GraphSimConfig(access_token=GRAPH_TOKEN, phone_number_id=PHONE_ID, display_phone_number="15550783881")
    )


def llm_app() -> Starlette:
    return create_llm_app(LlmSimConfig(api_key=LLM_KEY))


def maps_app() -> Starlette:
    return create_maps_app(MapsSimConfig())


class Receiver:
    """The SUT's payment callback endpoint: records each POST's raw body, headers and arrival time."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str], float]] = []
        self.app = Starlette(routes=[Route("/momo/callback", self._callback, methods=["POST"])])

    async def _callback(self, request: Request) -> JSONResponse:
        self.received.append((await request.body(), dict(request.headers), time.monotonic()))
        return JSONResponse({"ok": True})


def payments_app(receiver: Receiver | None = None, **overrides: Any) -> Starlette:
    config = PaymentsSimConfig(
        **({"callback_secret": MOMO_SECRET, "api_key": MOMO_KEY, "approve_delay_seconds": 0.01} | overrides)
    )
    transport = httpx.ASGITransport(app=receiver.app) if receiver else None
    return create_payments_app(config, callback_transport=transport)


def text(to: str = USER) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "Muraho"}}


def chat(message: str = "2 jerrycans of water near Kimironko", user: str = "alice") -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": message}],
        "tools": [SEARCH_TOOL],
        "user": user,
    }


def pay_body(msisdn: str = USER, external_id: str = "order-1") -> dict[str, Any]:
    return {
        "amount": "3500",
        "currency": "RWF",
        "externalId": external_id,
        "payer": {"partyIdType": "MSISDN", "partyId": msisdn},
    }


def pay_headers(reference_id: str | None = None, callback: str | None = CALLBACK) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {MOMO_KEY}",
        "X-Target-Environment": "sandbox",
        "X-Reference-Id": reference_id or str(uuid.uuid4()),
    }
    if callback is not None:
        headers["X-Callback-Url"] = callback
    return headers


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(MOMO_SECRET.encode(), body, hashlib.sha256).hexdigest()


Scenario = Callable[[httpx.AsyncClient, Starlette], Awaitable[None]]


def run(app: Starlette, scenario: Scenario) -> None:
    """Run ``scenario(client, app)`` in a fresh event loop, in-process."""

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as client:
            try:
                await scenario(client, app)
            finally:
                if hasattr(app.state, "payments"):
                    await app.state.payments.aclose()

    asyncio.run(main())


async def add_fault(client: httpx.AsyncClient, **rule: Any) -> str:
    response = await client.post("/_sim/faults", json={"scope": SCOPE} | rule)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def fault_view(client: httpx.AsyncClient, rule_id: str) -> dict[str, Any]:
    [view] = (await client.get("/_sim/faults", params={"id": rule_id})).json()["faults"]
    return view


async def wait_until(condition: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)


def plane(ops: dict[str, tuple[str, ...]] | None = None, **kwargs: Any) -> FaultPlane:
    return FaultPlane("test", ops or {"chat": ("status", "delay", "hang", "malformed", "reset")}, **kwargs)


def rule(**fields: Any) -> FaultRule:
    return FaultRule(**({"scope": SCOPE, "action": "status", "status": 503} | fields))


# --- plane semantics -------------------------------------------------------------------------------------


def test_times_spends_the_rule_but_keeps_it_listed() -> None:
    faults = plane()
    added = faults.add(rule(times=2))
    assert added.id == "f1"
    assert added.op == "chat"  # the only op, filled in
    assert [faults.take("chat", "alice") for _ in range(3)] == [added, added, None]
    [listed] = faults.rules()
    assert (listed.hits, listed.spent) == (2, True)


def test_rule_without_times_never_runs_out() -> None:
    faults = plane()
    faults.add(rule())
    assert all(faults.take("chat", None) is not None for _ in range(50))
    assert faults.rules()[0].hits == 50


def test_first_matching_rule_wins_in_insertion_order() -> None:
    faults = plane()
    for_alice = faults.add(rule(key="alice", times=1))
    anyone = faults.add(rule(status=500))
    assert faults.take("chat", "bob") is anyone
    assert faults.take("chat", "alice") is for_alice
    assert faults.take("chat", "alice") is anyone  # alice's rule is spent
    assert faults.take("other-op", "alice") is None


def test_scopes_are_removed_separately() -> None:
    faults = plane()
    mine = faults.add(rule(key="alice"))
    theirs = faults.add(rule(scope=OTHER_SCOPE, key="bob"))
    assert faults.take("chat", "bob") is theirs
    assert faults.remove(scope=SCOPE) == 1
    assert [r.id for r in faults.rules()] == [theirs.id]
    assert faults.take("chat", "alice") is None
    assert faults.rules(scope=OTHER_SCOPE)[0].hits == 1
    assert faults.remove(rule_id=mine.id) == 0
    assert faults.remove(rule_id=theirs.id) == 1
    faults.add(rule())
    faults.add(rule(scope=OTHER_SCOPE))
    assert faults.remove() == 2


def test_concurrent_takes_consume_exactly_times() -> None:
    faults = plane()
    faults.add(rule(times=7))

    async def one() -> bool:
        await asyncio.sleep(0)
        return faults.take("chat", None) is not None

    async def main() -> list[bool]:
        return await asyncio.gather(*(one() for _ in range(40)))

    assert sum(asyncio.run(main())) == 7
    assert faults.rules()[0].hits == 7


def test_takes_from_threads_consume_exactly_times() -> None:
    faults = plane()
    faults.add(rule(times=100))
    with ThreadPoolExecutor(max_workers=8) as pool:
        taken = list(pool.map(lambda _: faults.take("chat", None) is not None, range(1000)))
    assert sum(taken) == 100


def test_rules_are_copies() -> None:
    faults = plane()
    faults.add(rule())
    faults.rules()[0].hits = 99
    assert faults.rules()[0].hits == 0


def test_op_defaults_to_the_first_op_supporting_the_action() -> None:
    faults = plane({"pay": ("status", "decline"), "callback": ("drop", "delay")})
    assert faults.add(rule()).op == "pay"
    assert faults.add(rule(action="drop", status=None)).op == "callback"


def test_keys_are_normalised_when_asked() -> None:
    faults = plane(normalise_key=lambda key: "".join(ch for ch in key if ch.isdigit()))
    added = faults.add(rule(key="+250 788-123-456"))
    assert added.key == USER
    assert faults.take("chat", USER) is added


# --- validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "data", "reason"),
    [
        (llm_app, {"action": "explode"}, "action: Input should be"),
        (llm_app, {"action": "status"}, "action status needs status"),
        (llm_app, {"action": "delay"}, "action delay needs seconds"),
        (
            llm_app,
            {"action": "status", "status": 503, "seconds": 1},
            "seconds does not apply to action status",
        ),
        (
            llm_app,
            {"action": "status", "status": 200},
            "status: Input should be greater than or equal to 400",
        ),
        (llm_app, {"action": "hang", "seconds": 121}, "seconds: Input should be less than or equal to 120"),
        (llm_app, {"action": "reset", "times": 0}, "times: Input should be greater than or equal to 1"),
        (llm_app, {"action": "reset", "colour": "red"}, "colour: Extra inputs are not permitted"),
        (llm_app, {"action": "decline"}, "action 'decline' is not available"),
        (llm_app, {"action": "reset", "op": "embeddings"}, "op 'embeddings' is not an op"),
        (llm_app, {"action": "status", "status": 429, "graph_code": 4}, "graph_code is only for the graph"),
        (llm_app, {"action": "reset", "id": "f9"}, "id is set by the simulator"),
        (llm_app, {"action": "reset", "hits": 3}, "hits is set by the simulator"),
        (graph_app, {"action": "malformed", "variant": "unknown_tool"}, "variant 'unknown_tool' is not"),
        (graph_app, {"action": "reset", "key": "no digits"}, "empty once normalised"),
        (maps_app, {"action": "reset", "key": "x"}, "key 'x': key must be <lat>,<lng>"),
        (payments_app, {"action": "decline", "reason": "LOW_BALANCE"}, "not a documented MoMo failure"),
        (llm_app, {"action": "quota"}, "action 'quota' is not available"),
        (payments_app, {"action": "decline", "op": "callback"}, "not available for op callback"),
        (payments_app, {"scope": "", "action": "drop"}, "scope: String should have at least 1 character"),
    ],
)
def test_invalid_rules_are_refused_with_what_is_valid(
    app: Callable[[], Starlette], data: dict[str, Any], reason: str
) -> None:
    faults: FaultPlane = app().state.faults
    with pytest.raises(FaultRuleError) as caught:
        faults.add(faults.parse({"scope": SCOPE} | data))
    message = str(caught.value)
    assert reason in message
    assert f"valid on the {faults.simulator} simulator: op " in message


def test_parse_refuses_non_objects() -> None:
    with pytest.raises(FaultRuleError, match="expected a JSON object"):
        llm_app().state.faults.parse(["status"])


def test_hang_defaults_to_thirty_seconds() -> None:
    assert DEFAULT_HANG_SECONDS == 30.0
    assert rule(action="hang", status=None).seconds is None  # the plane applies the default


# --- the HTTP API ----------------------------------------------------------------------------------------


def test_http_api_adds_lists_and_deletes_by_scope_or_id() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post("/_sim/faults", json={"scope": SCOPE, "action": "reset", "times": 1})
        assert response.status_code == 201
        assert response.json() == {"id": "f1"}
        other = await add_fault(client, scope=OTHER_SCOPE, action="delay", seconds=0.5)

        listed = (await client.get("/_sim/faults", params={"scope": SCOPE})).json()["faults"]
        assert listed == [
            {
                "id": "f1",
                "scope": SCOPE,
                "op": "chat",
                "key": None,
                "action": "reset",
                "status": None,
                "body": None,
                "graph_code": None,
                "seconds": None,
                "variant": None,
                "reason": None,
                "retry_after": None,
                "times": 1,
                "hits": 0,
                "spent": False,
            }
        ]
        assert len((await client.get("/_sim/faults")).json()["faults"]) == 2

        assert (await client.delete("/_sim/faults")).status_code == 400
        assert (await client.delete("/_sim/faults", params={"scope": SCOPE})).json() == {"removed": 1}
        assert (await client.delete("/_sim/faults", params={"scope": SCOPE})).json() == {"removed": 0}
        assert [f["id"] for f in (await client.get("/_sim/faults")).json()["faults"]] == [other]
        assert (await client.delete("/_sim/faults", params={"id": other})).json() == {"removed": 1}

    run(llm_app(), scenario)


def test_http_api_explains_a_bad_rule() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post("/_sim/faults", json={"scope": SCOPE, "action": "explode"})
        assert response.status_code == 400
        answer = response.json()
        assert "invalid fault rule for the payments simulator: action: Input should be" in answer["error"]
        assert (
            "op requesttopay: status, delay, hang, malformed, reset, drop, decline, slow_callback, "
            "duplicate_callback; op callback: delay, malformed, drop" in answer["error"]
        )
        assert answer["valid"]["callback"] == ["delay", "malformed", "drop"]

        not_json = await client.post("/_sim/faults", content=b"{")
        assert not_json.status_code == 400
        assert "not valid JSON" in not_json.json()["error"]
        assert (await client.get("/_sim/faults")).json() == {"faults": []}

    run(payments_app(), scenario)


def test_every_simulator_serves_the_fault_api() -> None:
    for make in (graph_app, llm_app, maps_app, payments_app):
        app = make()

        async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
            await add_fault(client, action="reset")
            assert len((await client.get("/_sim/faults")).json()["faults"]) == 1

        run(app, scenario)


# --- graph -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (429, 130429, "(#130429) Rate limit hit"),
        (503, 2, "(#2) Service temporarily unavailable"),
        (500, 131000, "(#131000) Something went wrong"),
        (400, 100, "(#100) Invalid parameter"),
    ],
)
def test_graph_status_answers_meta_errors_and_records_a_rejection(
    status: int, code: int, message: str
) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="status", status=status, key="+250 788 123 456", times=1)
        response = await client.post(SEND, json=text(), headers=GRAPH_AUTH)
        assert response.status_code == status
        error = response.json()["error"]
        assert (error["code"], error["message"], error["type"]) == (code, message, "OAuthException")
        assert error["fbtrace_id"].startswith("A")
        [rejection] = (await client.get("/_sim/rejections")).json()["rejections"]
        assert (rejection["to"], rejection["http_status"], rejection["fault"]) == (USER, status, rule_id)
        assert rejection["error"]["code"] == code
        assert (await client.get("/_sim/messages")).json()["messages"] == []
        # Spent: the next message goes through.
        assert (await client.post(SEND, json=text(), headers=GRAPH_AUTH)).status_code == 200
        assert len((await client.get("/_sim/messages")).json()["messages"]) == 1
        assert (await fault_view(client, rule_id))["spent"] is True

    run(graph_app(), scenario)


def test_graph_status_overrides_and_other_recipients() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await add_fault(client, action="status", status=429, graph_code=131056, key=USER)
        await add_fault(client, action="status", status=500, body={"error": {"message": "custom"}}, key=OTHER)
        pair = (await client.post(SEND, json=text(), headers=GRAPH_AUTH)).json()["error"]
        assert (pair["code"], pair["message"]) == (
            131056,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        )
        custom = await client.post(SEND, json=text(OTHER), headers=GRAPH_AUTH)
        assert (custom.status_code, custom.json()) == (500, {"error": {"message": "custom"}})
        # A third recipient is untouched.
        assert (await client.post(SEND, json=text("250733000222"), headers=GRAPH_AUTH)).status_code == 200

    run(graph_app(), scenario)


def test_graph_faults_apply_only_after_meta_checks() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="status", status=503)
        response = await client.post(SEND, json=text(), headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401
        assert (await fault_view(client, rule_id))["hits"] == 0

    run(graph_app(), scenario)


def test_graph_drop_answers_200_but_records_no_message() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="drop", key=USER, times=1)
        response = await client.post(SEND, json=text(), headers=GRAPH_AUTH)
        assert response.status_code == 200
        answer = response.json()
        assert answer["messages"][0]["id"].startswith("wamid.")
        assert answer["contacts"] == [{"input": USER, "wa_id": USER}]
        assert (await client.get("/_sim/messages", params={"to": USER})).json()["messages"] == []
        [rejection] = (await client.get("/_sim/rejections", params={"to": USER})).json()["rejections"]
        assert (rejection["http_status"], rejection["fault"]) == (200, rule_id)
        assert rule_id in rejection["error"]["message"]

    run(graph_app(), scenario)


def test_graph_delay_then_delivers() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await add_fault(client, action="delay", seconds=0.2)
        started = time.monotonic()
        response = await client.post(SEND, json=text(), headers=GRAPH_AUTH)
        assert time.monotonic() - started >= 0.2 - EPSILON
        assert response.status_code == 200
        assert len((await client.get("/_sim/messages")).json()["messages"]) == 1
        assert (await client.get("/_sim/rejections")).json()["rejections"] == []

    run(graph_app(), scenario)


def test_graph_hang_then_504() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="hang", seconds=0.2)
        started = time.monotonic()
        response = await client.post(SEND, json=text(), headers=GRAPH_AUTH)
        assert time.monotonic() - started >= 0.2 - EPSILON
        assert response.status_code == 504
        assert response.json()["error"]["code"] == 2
        [rejection] = (await client.get("/_sim/rejections")).json()["rejections"]
        assert (rejection["http_status"], rejection["fault"]) == (504, rule_id)

    run(graph_app(), scenario)


def test_graph_malformed_is_200_with_invalid_json() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="malformed")
        response = await client.post(SEND, json=text(), headers=GRAPH_AUTH)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        with pytest.raises(json.JSONDecodeError):
            response.json()
        [rejection] = (await client.get("/_sim/rejections")).json()["rejections"]
        assert rejection["fault"] == rule_id
        assert (await client.get("/_sim/messages")).json()["messages"] == []

    run(graph_app(), scenario)


# --- llm -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [(503, "server_error", None), (429, "requests", "rate_limit_exceeded"), (500, "server_error", None)],
)
def test_llm_status_answers_openai_errors(status: int, error_type: str, code: str | None) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="status", status=status, key="alice")
        response = await client.post(CHAT, json=chat(), headers=LLM_AUTH)
        assert response.status_code == status
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert (error["type"], error["code"]) == (error_type, code)
        assert error["message"]
        bob = await client.post(CHAT, json=chat(user="bob"), headers=LLM_AUTH)
        assert bob.status_code == 200
        calls = (await client.get("/_sim/calls")).json()["calls"]
        assert [(c["user"], c["status"], c.get("fault")) for c in calls] == [
            ("alice", status, rule_id),
            ("bob", 200, None),
        ]

    run(llm_app(), scenario)


def test_llm_429_twice_then_ok_is_seen_as_three_calls() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="status", status=429, key="alice", times=2)
        statuses = [(await client.post(CHAT, json=chat(), headers=LLM_AUTH)).status_code for _ in range(3)]
        assert statuses == [429, 429, 200]
        calls = (await client.get("/_sim/calls", params={"user": "alice"})).json()["calls"]
        assert [(c["status"], c.get("fault")) for c in calls] == [(429, rule_id), (429, rule_id), (200, None)]
        assert (await fault_view(client, rule_id))["hits"] == 2

    run(llm_app(), scenario)


def test_llm_concurrent_requests_consume_exactly_times() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="status", status=503, times=3)
        responses = await asyncio.gather(
            *(client.post(CHAT, json=chat(user=f"u{i}"), headers=LLM_AUTH) for i in range(12))
        )
        assert Counter(r.status_code for r in responses) == {503: 3, 200: 9}
        calls = (await client.get("/_sim/calls")).json()["calls"]
        assert len(calls) == 12
        assert sum(c.get("fault") == rule_id for c in calls) == 3

    run(llm_app(), scenario)


def test_llm_hanging_call_is_counted_on_arrival() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="hang", seconds=0.3)
        started = time.monotonic()
        pending = asyncio.create_task(client.post(CHAT, json=chat(), headers=LLM_AUTH))
        await wait_until(lambda: app.state.llm.calls.last_seq == 1)
        [call] = (await client.get("/_sim/calls")).json()["calls"]
        assert (call["user"], call["status"]) == ("alice", None)
        response = await pending
        assert time.monotonic() - started >= 0.3 - EPSILON
        assert response.status_code == 504
        assert response.json()["error"]["type"] == "server_error"
        [call] = (await client.get("/_sim/calls")).json()["calls"]
        assert (call["status"], call["response_kind"], call["fault"]) == (504, "error", rule_id)

    run(llm_app(), scenario)


def test_llm_delay_then_answers_and_is_marked() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="delay", seconds=0.2)
        started = time.monotonic()
        response = await client.post(CHAT, json=chat(), headers=LLM_AUTH)
        assert time.monotonic() - started >= 0.2 - EPSILON
        assert response.json()["choices"][0]["finish_reason"] == "tool_calls"
        [call] = (await client.get("/_sim/calls")).json()["calls"]
        assert (call["status"], call["response_kind"], call["fault"]) == (200, "tool_call", rule_id)

    run(llm_app(), scenario)


def test_llm_malformed_variants() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await add_fault(client, action="malformed", times=1)
        await add_fault(client, action="malformed", variant="unknown_tool", times=1)
        await add_fault(client, action="malformed", variant="bad_arguments", times=1)

        garbage = await client.post(CHAT, json=chat(), headers=LLM_AUTH)
        assert garbage.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            garbage.json()

        unknown = (await client.post(CHAT, json=chat(), headers=LLM_AUTH)).json()
        assert unknown["object"] == "chat.completion"
        choice = unknown["choices"][0]
        assert choice["finish_reason"] == "tool_calls"
        [call] = choice["message"]["tool_calls"]
        assert call["function"]["name"] == "delete_everything"
        assert isinstance(json.loads(call["function"]["arguments"]), dict)

        bad = (await client.post(CHAT, json=chat(), headers=LLM_AUTH)).json()
        [call] = bad["choices"][0]["message"]["tool_calls"]
        assert call["function"]["name"] == "search_offers"
        with pytest.raises(json.JSONDecodeError):
            json.loads(call["function"]["arguments"])

        calls = (await client.get("/_sim/calls")).json()["calls"]
        assert [c["fault"] for c in calls] == ["f1", "f2", "f3"]
        assert [c["response_kind"] for c in calls] == ["unknown", "tool_call", "tool_call"]

    run(llm_app(), scenario)


def test_llm_refused_calls_are_counted_but_not_faulted() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="status", status=503)
        assert (
            await client.post(CHAT, json=chat(), headers={"Authorization": "Bearer no"})
        ).status_code == 401
        assert (await client.post(CHAT, json=chat(), headers=LLM_AUTH)).status_code == 503
        calls = (await client.get("/_sim/calls")).json()["calls"]
        assert [(c["status"], c.get("fault")) for c in calls] == [(401, None), (503, rule_id)]

    run(llm_app(), scenario)


# --- maps ------------------------------------------------------------------------------------------------


def test_maps_status_delay_hang_malformed() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        query = {"from": KIMIRONKO, "to": REMERA}
        down = await add_fault(client, action="status", status=503, times=1)
        response = await client.get(ROUTE, params=query)
        assert (response.status_code, response.json()) == (503, {"error": "service unavailable"})

        slow = await add_fault(client, action="delay", seconds=0.2, times=1)
        started = time.monotonic()
        response = await client.get(ROUTE, params=query)
        assert time.monotonic() - started >= 0.2 - EPSILON
        assert response.json()["distance_m"] > 0

        stuck = await add_fault(client, action="hang", seconds=0.1, times=1)
        response = await client.get(ROUTE, params=query)
        assert (response.status_code, response.json()) == (504, {"error": "gateway timeout"})

        garbage = await add_fault(client, action="malformed", times=1)
        response = await client.get(ROUTE, params=query)
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            response.json()

        calls = (await client.get("/_sim/calls")).json()["calls"]
        assert [(c["status"], c["fault"]) for c in calls] == [
            (503, down),
            (200, slow),
            (504, stuck),
            (200, garbage),
        ]
        assert (await client.get(ROUTE, params=query)).status_code == 200

    run(maps_app(), scenario)


def test_maps_quota_and_zero_results_keyed_by_destination() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        # The key is compared as a point: 6-decimal spelling of the same destination matches.
        quota = await add_fault(client, action="quota", key="-1.9556000,30.116700", times=1)
        empty = await add_fault(client, action="zero_results", key=REMERA, times=1)
        elsewhere = await client.get(ROUTE, params={"from": REMERA, "to": KIMIRONKO})
        assert elsewhere.json()["status"] == "OK"  # another destination: no rule applies
        response = await client.get(ROUTE, params={"from": KIMIRONKO, "to": REMERA})
        assert response.status_code == 429
        assert response.json()["status"] == "OVER_QUERY_LIMIT"
        assert "retry-after" not in response.headers
        response = await client.get(ROUTE, params={"from": KIMIRONKO, "to": REMERA})
        assert (response.status_code, response.json()) == (200, {"status": "ZERO_RESULTS"})
        calls = (await client.get("/_sim/calls")).json()["calls"]
        assert [(c["status"], c.get("fault")) for c in calls] == [(200, None), (429, quota), (200, empty)]

    run(maps_app(), scenario)


def test_retry_after_holds_the_key_until_the_window_passes() -> None:
    """A rule with retry_after keeps refusing the same key (a rate limiter), whatever its times."""

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        query = {"from": KIMIRONKO, "to": REMERA}
        rule_id = await add_fault(client, action="quota", key=REMERA, retry_after=0.3, times=1)
        first = await client.get(ROUTE, params=query)
        assert (first.status_code, first.headers["retry-after"]) == (429, "1")  # whole seconds, rounded up
        too_early = await client.get(ROUTE, params=query)
        assert too_early.status_code == 429
        other = await client.get(ROUTE, params={"from": REMERA, "to": KIMIRONKO})
        assert other.status_code == 200  # another key is not held
        await asyncio.sleep(0.3 + EPSILON)
        assert (await client.get(ROUTE, params=query)).status_code == 200
        assert (await fault_view(client, rule_id))["hits"] == 2

    run(maps_app(), scenario)


def test_llm_429_with_retry_after_header() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await add_fault(client, action="status", status=429, retry_after=2, key="alice", times=1)
        response = await client.post(CHAT, json=chat(user="alice"), headers=LLM_AUTH)
        assert (response.status_code, response.headers["retry-after"]) == (429, "2")
        assert response.json()["error"]["code"] == "rate_limit_exceeded"
        again = await client.post(CHAT, json=chat(user="alice"), headers=LLM_AUTH)
        assert again.status_code == 429  # inside the window, although the rule is spent
        assert (await client.post(CHAT, json=chat(user="bob"), headers=LLM_AUTH)).status_code == 200
        # Removing the test's rules also ends their windows.
        await client.delete("/_sim/faults", params={"scope": SCOPE})
        assert (await client.post(CHAT, json=chat(user="alice"), headers=LLM_AUTH)).status_code == 200

    run(llm_app(), scenario)


# --- payments --------------------------------------------------------------------------------------------


def run_payments(scenario: Scenario, receiver: Receiver, **config: Any) -> None:
    run(payments_app(receiver, **config), scenario)


async def payment(client: httpx.AsyncClient, external_id: str) -> dict[str, Any]:
    [found] = (await client.get("/_sim/payments", params={"external_id": external_id})).json()["payments"]
    return found


def test_payments_status_makes_no_payment_and_is_recorded() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="status", status=500, key=USER)
        response = await client.post(PAY, json=pay_body(), headers=pay_headers())
        assert response.status_code == 500
        assert response.json() == {
            "code": "INTERNAL_PROCESSING_ERROR",
            "message": "An internal error occurred while processing.",
        }
        assert (await client.get("/_sim/payments")).json()["payments"] == []
        [rejection] = (await client.get("/_sim/rejections")).json()["rejections"]
        assert (rejection["http_status"], rejection["fault"]) == (500, rule_id)
        # Another payer is untouched.
        other = await client.post(PAY, json=pay_body(OTHER), headers=pay_headers(callback=None))
        assert other.status_code == 202

    run_payments(scenario, Receiver())


def test_payments_drop_accepts_and_never_resolves() -> None:
    receiver = Receiver()

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="drop", key=USER, times=1)
        reference = str(uuid.uuid4())
        response = await client.post(PAY, json=pay_body(external_id="lost"), headers=pay_headers(reference))
        assert response.status_code == 202
        assert not app.state.payments._tasks  # nothing will ever resolve it
        await client.post(PAY, json=pay_body(external_id="fine"), headers=pay_headers())
        # The ordinary payment, requested after, resolves and calls back; the dropped one does not.
        await wait_until(lambda: len(receiver.received) == 1 and not app.state.payments._tasks)
        assert json.loads(receiver.received[0][0])["externalId"] == "fine"
        lost = await payment(client, "lost")
        assert (lost["status"], lost["callbacks"], lost["faults"]) == ("PENDING", [], [rule_id])
        status = await client.get(f"{PAY}/{reference}", headers=pay_headers())
        assert status.json()["status"] == "PENDING"

    run_payments(scenario, receiver)


@pytest.mark.parametrize(("reason", "expected"), [(None, "APPROVAL_REJECTED"), ("NOT_ENOUGH_FUNDS", None)])
def test_payments_decline(reason: str | None, expected: str | None) -> None:
    receiver = Receiver()

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        extra = {"reason": reason} if reason else {}
        rule_id = await add_fault(client, action="decline", key=USER, **extra)
        assert (await client.post(PAY, json=pay_body(), headers=pay_headers())).status_code == 202
        await wait_until(lambda: len(receiver.received) == 1)
        callback = json.loads(receiver.received[0][0])
        assert (callback["status"], callback["reason"]) == ("FAILED", expected or reason)
        assert "financialTransactionId" not in callback
        assert (await payment(client, "order-1"))["faults"] == [rule_id]

    run_payments(scenario, receiver)


def test_payments_slow_callback() -> None:
    receiver = Receiver()

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await add_fault(client, action="slow_callback", seconds=0.3, key=USER)
        started = time.monotonic()
        await client.post(PAY, json=pay_body(external_id="slow"), headers=pay_headers())
        await client.post(PAY, json=pay_body(OTHER, external_id="quick"), headers=pay_headers())
        await wait_until(lambda: len(receiver.received) == 1)
        assert (await payment(client, "slow"))["status"] == "PENDING"
        await wait_until(lambda: len(receiver.received) == 2)
        late_body, _, late_at = receiver.received[1]
        assert json.loads(late_body)["externalId"] == "slow"
        assert json.loads(late_body)["status"] == "SUCCESSFUL"
        assert late_at - started >= 0.3 - EPSILON

    run_payments(scenario, receiver)


def test_payments_duplicate_callback_sends_identical_bytes_twice() -> None:
    receiver = Receiver()

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule_id = await add_fault(client, action="duplicate_callback", seconds=0.1, key=USER)
        await client.post(PAY, json=pay_body(), headers=pay_headers())
        await wait_until(lambda: len(receiver.received) == 2 and not app.state.payments._tasks)
        (first, first_headers, first_at), (second, second_headers, second_at) = receiver.received
        assert second == first
        assert json.loads(first)["status"] == "SUCCESSFUL"
        assert (
            first_headers["x-callback-signature"]
            == second_headers["x-callback-signature"]
            == signature(first)
        )
        assert second_at - first_at >= 0.1 - EPSILON
        record = await payment(client, "order-1")
        assert [a["status_code"] for a in record["callbacks"]] == [200, 200]
        assert record["faults"] == [rule_id]

    run_payments(scenario, receiver)


def test_payments_delay_hang_and_malformed_on_request() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        slow = await add_fault(client, action="delay", seconds=0.2, times=1)
        started = time.monotonic()
        response = await client.post(
            PAY, json=pay_body(external_id="delayed"), headers=pay_headers(callback=None)
        )
        assert time.monotonic() - started >= 0.2 - EPSILON
        assert response.status_code == 202
        assert (await payment(client, "delayed"))["faults"] == [slow]

        stuck = await add_fault(client, action="hang", seconds=0.1, times=1)
        response = await client.post(PAY, json=pay_body(external_id="hung"), headers=pay_headers())
        assert response.status_code == 504
        assert response.json()["code"] == "SERVICE_UNAVAILABLE"

        garbage = await add_fault(client, action="malformed", times=1)
        response = await client.post(PAY, json=pay_body(external_id="garbled"), headers=pay_headers())
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            response.json()

        assert [p["external_id"] for p in (await client.get("/_sim/payments")).json()["payments"]] == [
            "delayed"
        ]
        rejections = (await client.get("/_sim/rejections")).json()["rejections"]
        assert [(r["http_status"], r["fault"]) for r in rejections] == [(504, stuck), (200, garbage)]

    run_payments(scenario, Receiver())


def test_payments_callback_op_drop_delay_malformed() -> None:
    receiver = Receiver()

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        dropped = await add_fault(client, op="callback", action="drop", key=USER, times=1)
        reference = str(uuid.uuid4())
        await client.post(PAY, json=pay_body(external_id="polled"), headers=pay_headers(reference))
        await wait_until(lambda: not app.state.payments._tasks)
        polled = await payment(client, "polled")
        assert (polled["status"], polled["callbacks"], polled["faults"]) == ("SUCCESSFUL", [], [dropped])
        assert (await client.get(f"{PAY}/{reference}", headers=pay_headers())).json()[
            "status"
        ] == "SUCCESSFUL"
        assert receiver.received == []

        await add_fault(client, op="callback", action="delay", seconds=0.2, key=USER, times=1)
        started = time.monotonic()
        await client.post(PAY, json=pay_body(external_id="late"), headers=pay_headers())
        await wait_until(lambda: len(receiver.received) == 1)
        assert receiver.received[0][2] - started >= 0.2 - EPSILON

        await add_fault(client, op="callback", action="malformed", key=USER, times=1)
        await client.post(PAY, json=pay_body(external_id="garbled"), headers=pay_headers())
        await wait_until(lambda: len(receiver.received) == 2)
        raw, headers, _ = receiver.received[1]
        assert headers["x-callback-signature"] == signature(raw)
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)

    run_payments(scenario, receiver)


@pytest.mark.parametrize("reason", ["EXPIRED", "PAYER_LIMIT_REACHED", "INTERNAL_PROCESSING_ERROR"])
def test_payments_decline_reason_reaches_callback_and_status(reason: str) -> None:
    receiver = Receiver()

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await add_fault(client, action="decline", reason=reason, key=USER)
        reference = str(uuid.uuid4())
        await client.post(PAY, json=pay_body(), headers=pay_headers(reference))
        await wait_until(lambda: len(receiver.received) == 1)
        assert json.loads(receiver.received[0][0])["reason"] == reason
        status = (await client.get(f"{PAY}/{reference}", headers=pay_headers())).json()
        assert (status["status"], status["reason"]) == ("FAILED", reason)

    run_payments(scenario, receiver)


def test_payments_polls_are_counted_and_can_be_faulted() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await add_fault(client, action="drop", key=USER)  # PENDING for ever: the SUT can only poll
        reference = str(uuid.uuid4())
        await client.post(PAY, json=pay_body(external_id="waiting"), headers=pay_headers(reference))
        broken = await add_fault(client, op="poll", action="status", status=500, key=USER, times=1)
        first = await client.get(f"{PAY}/{reference}", headers=pay_headers())
        assert (first.status_code, first.json()["code"]) == (500, "INTERNAL_PROCESSING_ERROR")
        second = await client.get(f"{PAY}/{reference}", headers=pay_headers())
        assert (second.status_code, second.json()["status"]) == (200, "PENDING")
        record = await payment(client, "waiting")
        assert record["polls"] == 2
        assert broken in record["faults"]

    run_payments(scenario, Receiver())


# --- reset, on a real socket -----------------------------------------------------------------------------

Call = Callable[[httpx.Client, str], httpx.Response]

RESET_CASES: list[tuple[str, Callable[[], Starlette], Call]] = [
    ("graph", graph_app, lambda c, url: c.post(url + SEND, json=text(), headers=GRAPH_AUTH)),
    ("llm", llm_app, lambda c, url: c.post(url + CHAT, json=chat(), headers=LLM_AUTH)),
    ("maps", maps_app, lambda c, url: c.get(url + ROUTE, params={"from": KIMIRONKO, "to": REMERA})),
    (
        "payments",
        payments_app,
        lambda c, url: c.post(url + PAY, json=pay_body(), headers=pay_headers(callback=None)),
    ),
]


@pytest.mark.parametrize(("name", "make", "call"), RESET_CASES, ids=[case[0] for case in RESET_CASES])
def test_reset_closes_the_connection_mid_body(name: str, make: Callable[[], Starlette], call: Call) -> None:
    with BackgroundServer(make()) as server, httpx.Client(timeout=WAIT_SECONDS) as client:
        added = client.post(server.url + "/_sim/faults", json={"scope": SCOPE, "action": "reset", "times": 1})
        assert added.status_code == 201
        with pytest.raises(httpx.RemoteProtocolError):
            call(client, server.url)
        # The rule is spent and the server is fine: the next request is answered normally.
        assert call(client, server.url).status_code in (200, 202)
        [view] = client.get(server.url + "/_sim/faults").json()["faults"]
        assert (view["hits"], view["spent"]) == (1, True)


def test_threads_and_the_server_loop_share_a_plane() -> None:
    """Rules added from the harness thread take effect in the server thread at once."""
    app = llm_app()
    with BackgroundServer(app) as server, httpx.Client(timeout=WAIT_SECONDS) as client:
        added = app.state.faults.add(FaultRule(scope=SCOPE, action="status", status=503, times=1))
        assert client.post(server.url + CHAT, json=chat(), headers=LLM_AUTH).status_code == 503
        assert client.post(server.url + CHAT, json=chat(), headers=LLM_AUTH).status_code == 200
        assert app.state.faults.rules(rule_id=added.id)[0].hits == 1


def test_shutdown_cancellation_of_a_hang_is_not_logged_as_an_error() -> None:
    import asyncio
    import logging

    from easymo_qa.simulators.server import _ShutdownCancellationFilter

    keep = _ShutdownCancellationFilter()

    def record(message: str, exc: BaseException | None = None) -> logging.LogRecord:
        info = (type(exc), exc, None) if exc is not None else None
        return logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, message, None, info)

    assert not keep.filter(record("Exception in ASGI application\n", asyncio.CancelledError()))
    assert not keep.filter(record("Cancel 1 running task(s), timeout graceful shutdown exceeded"))
    assert keep.filter(record("Exception in ASGI application\n", ValueError("a real bug")))
