"""The harness's fault client (easymo_qa.fault_client) against two simulators on real loopback sockets."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import httpx
import pytest

from easymo_qa.fault_client import FaultClient, FaultError, UnknownSimulatorError
from easymo_qa.simulators.llm import LlmSimConfig, create_llm_app
from easymo_qa.simulators.maps import MapsSimConfig, create_maps_app
from easymo_qa.simulators.server import BackgroundServer

pytestmark = pytest.mark.unit

KEY = "sk-test-0123456789abcdef"
CHAT = "/v1/chat/completions"
ROUTE = "/v1/route"
QUERY = {"from": "-1.9353,30.1268", "to": "-1.9556,30.1167"}
MINE = "tests/unit/test_fault_client.py::mine"
THEIRS = "tests/unit/test_fault_client.py::theirs"


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    with (
        BackgroundServer(create_llm_app(LlmSimConfig(api_key=KEY))) as llm,
        BackgroundServer(create_maps_app(MapsSimConfig())) as maps,
    ):
        yield {"llm": llm.url, "maps": maps.url + "/"}  # a trailing slash is fine


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


def ask_llm(http: httpx.Client, urls: dict[str, str], user: str) -> int:
    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}], "user": user}
    return http.post(urls["llm"] + CHAT, json=body, headers={"Authorization": f"Bearer {KEY}"}).status_code


def ask_maps(http: httpx.Client, urls: dict[str, str]) -> int:
    return http.get(urls["maps"].rstrip("/") + ROUTE, params=QUERY).status_code


def test_add_counts_hits_and_clear_removes_only_its_scope(http: httpx.Client, urls: dict[str, str]) -> None:
    theirs = FaultClient(http, urls, scope=THEIRS)
    with FaultClient(http, urls, scope=MINE) as faults:
        mine = faults.llm("status", status=429, key="alice", times=2)
        down = faults.maps("status", status=503, times=1)
        other = theirs.llm("delay", seconds=0.01, key="bob")

        assert [ask_llm(http, urls, "alice") for _ in range(3)] == [429, 429, 200]
        assert ask_maps(http, urls) == 503
        assert ask_maps(http, urls) == 200
        assert ask_llm(http, urls, "bob") == 200
        assert faults.hits("llm", mine) == 2
        assert faults.hits("maps", down) == 1
        assert theirs.hits("llm", other) == 1
        [listed] = faults.rules("llm")
        assert (listed["id"], listed["spent"], listed["scope"]) == (mine, True, MINE)
    # Leaving the block cleared this scope on every simulator, and nothing else.
    assert FaultClient(http, urls, scope=MINE).rules("llm") == []
    with pytest.raises(FaultError, match="no fault rule"):
        theirs.hits("llm", mine)
    assert theirs.hits("llm", other) == 1
    theirs.clear()
    assert theirs.rules("llm") == []


def test_add_passes_every_field(http: httpx.Client, urls: dict[str, str]) -> None:
    with FaultClient(http, urls, scope=MINE) as faults:
        rule_id = faults.add(
            "llm", action="malformed", op="chat", key="carol", times=3, variant="unknown_tool"
        )
        [rule] = faults.rules("llm")
        assert rule["id"] == rule_id
        assert (rule["op"], rule["key"], rule["times"], rule["variant"]) == (
            "chat",
            "carol",
            3,
            "unknown_tool",
        )
        # Parameters given as None are left out rather than sent.
        faults.llm("hang", seconds=None, times=1)
        assert faults.rules("llm")[1]["seconds"] is None


def test_a_refused_rule_raises_with_the_simulators_reason(http: httpx.Client, urls: dict[str, str]) -> None:
    with FaultClient(http, urls, scope=MINE) as faults:
        with pytest.raises(FaultError) as caught:
            faults.llm("decline")
        message = str(caught.value)
        assert "action 'decline' is not available" in message
        assert "op chat: status, delay, hang, malformed, reset, truncated" in message
        with pytest.raises(FaultError, match="key must be <lat>,<lng>"):
            faults.maps("reset", key="anything")
        assert faults.rules("llm") == []


def test_unknown_simulator_is_a_clear_error(http: httpx.Client, urls: dict[str, str]) -> None:
    faults = FaultClient(http, urls, scope=MINE)
    with pytest.raises(UnknownSimulatorError, match=r"no payments simulator.*\(it has: llm, maps\)"):
        faults.payments("decline", key="250788123456")
    with pytest.raises(UnknownSimulatorError):
        faults.hits("graph", "f1")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_clear_never_raises_on_an_unreachable_simulator(
    http: httpx.Client, urls: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    gone = f"http://127.0.0.1:{closed_port()}"
    faults = FaultClient(http, {"graph": gone, **urls}, scope=MINE)
    rule_id = faults.llm("reset", times=1)
    with caplog.at_level(logging.WARNING, logger="easymo_qa.fault_client"):
        faults.clear()
    assert "could not reach the graph simulator" in caplog.text
    # The reachable simulators were still cleared.
    with pytest.raises(FaultError, match="no fault rule"):
        faults.hits("llm", rule_id)
    with pytest.raises(FaultError, match="could not reach the graph simulator"):
        faults.graph("drop")


def test_scope_is_required(http: httpx.Client) -> None:
    with pytest.raises(ValueError, match="scope"):
        FaultClient(http, {}, scope="")
