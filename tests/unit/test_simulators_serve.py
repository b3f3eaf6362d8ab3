"""``easymo-qa simulators serve`` (easymo_qa.simulators.deployed, the CLI, BackgroundServer's TLS): the
command as a child process on 127.0.0.1 (URLs, tokens, faults, TLS, exit codes), the mounts in-process."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_graph_simulator import PHONE_ID, SEND, USER, text
from test_payments_simulator import PAY, PAYER, pay_body, pay_headers

from easymo_qa.fault_client import FaultClient
from easymo_qa.simulators.deployed import MOUNTS, SimulatorsConfig, create_simulators_app
from easymo_qa.simulators.payments.callbacks import check_callback_url
from easymo_qa.simulators.server import BackgroundServer
from easymo_qa.target import HarnessAuth

pytestmark = pytest.mark.unit

HARNESS = "harness-token-for-tests"
BOT = "EAAG-bot-token-for-tests"
ENV = {
    "SIM_HARNESS_TOKEN": HARNESS,
    "SIM_GRAPH_TOKEN": BOT,
    "SIM_PHONE_NUMBER_ID": PHONE_ID,
    "SIM_LLM_API_KEY": "llm-key-for-tests",
    "SIM_PAYMENTS_CALLBACK_SECRET": "callback-secret-for-tests",
}
BOT_AUTH = {"Authorization": f"Bearer {BOT}"}
START_SECONDS = 15.0


@contextmanager
def serving(
    *args: str, environ: dict[str, str] = ENV
) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """``easymo-qa simulators serve --port 0`` as a child; yields it and the URLs of its JSON line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")} | environ
    command = [sys.executable, "-m", "easymo_qa.cli", "simulators", "serve", "--port", "0", *args]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_SECONDS)
        if not (lines and lines[0]):
            pytest.fail(f"no URL line; exit {proc.poll()}, stderr: {proc.stderr.read()}")
        yield proc, json.loads(lines[0])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, str]]:
    with serving() as (_proc, urls):
        yield urls


def test_prints_every_url_of_the_fixed_layout(server: dict[str, str]) -> None:
    base = server["url"]
    assert base.startswith("http://127.0.0.1:")
    assert server == {
        "url": base,
        **{name: base + m for name, m in MOUNTS.items()},
        "clock": base + "/_sim/clock",
    }
    health = httpx.get(f"{base}/_sim/health", timeout=5)  # public: a container's health check
    assert health.json() == {"status": "ok", "simulators": ["graph", "llm", "payments", "maps"]}


def test_a_graph_send_appears_in_the_graph_harness_api(server: dict[str, str]) -> None:
    graph = server["graph"]
    body = text(USER, "Muraho from the bot")
    sent = httpx.post(graph + SEND, json=body, headers=BOT_AUTH, timeout=5)
    assert sent.status_code == 200, sent.text
    with httpx.Client(auth=HarnessAuth(HARNESS), timeout=5) as harness:
        found = harness.get(f"{graph}/_sim/messages", params={"to": USER}).json()["messages"]
        assert [m["body"]["text"]["body"] for m in found] == ["Muraho from the bot"]
        assert (
            abs(harness.get(server["clock"]).json()["now"] - harness.get(f"{graph}/_sim/clock").json()["now"])
            < 5
        )


@pytest.mark.parametrize("path", ["/graph/_sim/messages", "/llm/_sim/faults", "/payments/_sim/payments",
                                  "/maps/_sim/calls", "/_sim/clock", "/graph/_sim/health"])  # fmt: skip
@pytest.mark.parametrize(
    "header", [None, "Bearer wrong-token", f"Basic {HARNESS}", BOT_AUTH["Authorization"]]
)
def test_the_harness_api_needs_the_harness_token(
    server: dict[str, str], path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.get(server["url"] + path, headers=headers, timeout=5)
    assert response.status_code == 401
    assert "harness API needs its token" in response.json()["error"]


def test_the_graph_api_keeps_the_bot_token_check(server: dict[str, str]) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer not-the-bot-token"},
        {"Authorization": f"Bearer {HARNESS}"},
    ):
        response = httpx.post(server["graph"] + SEND, json=text(), headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 190
        assert response.json()["error"]["type"] == "OAuthException"


def test_fault_rules_through_the_fault_client(server: dict[str, str]) -> None:
    urls = {name: server[name] for name in MOUNTS}
    with (
        httpx.Client(auth=HarnessAuth(HARNESS), timeout=5) as http,
        FaultClient(http, urls, "serve") as faults,
    ):
        rule = faults.llm("status", status=429, key=USER, times=1)
        assert [r["id"] for r in faults.rules("llm")] == [rule]
        assert faults.rules("graph") == []  # each mount has its own fault plane
        chat = {"model": "m", "user": USER, "messages": [{"role": "user", "content": "hi"}]}
        reply = httpx.post(server["llm"] + "/v1/chat/completions", json=chat, timeout=5,
                           headers={"Authorization": "Bearer llm-key-for-tests"})  # fmt: skip
        assert reply.status_code == 429
        assert faults.hits("llm", rule) == 1
    with httpx.Client(auth=HarnessAuth(HARNESS), timeout=5) as http:
        assert http.get(server["llm"] + "/_sim/faults").json()["faults"] == []


def test_mounted_apps_find_their_own_state_in_process() -> None:
    app = create_simulators_app(SimulatorsConfig.from_environ(ENV))

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {HARNESS}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sim.test", headers=headers
        ) as client:
            for name in MOUNTS:
                rule = {"scope": "t", "action": "status", "status": 503}
                assert (await client.post(f"/{name}/_sim/faults", json=rule)).status_code == 201, name
                assert len(app.state.apps[name].state.faults.rules()) == 1, name
            assert (await client.get("/payments/_sim/payments")).json()["payments"] == []

    asyncio.run(scenario())


def test_deployed_payments_may_call_back_a_bot_elsewhere() -> None:
    bot = "https://bot.staging.example/momo/callback"
    assert check_callback_url(bot) is not None  # the local stack's simulators stay on the machine
    assert check_callback_url(bot, off_machine=True) is None
    app = create_simulators_app(SimulatorsConfig.from_environ(ENV))

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as client:
            drop = {"scope": "t", "op": "callback", "action": "drop", "key": PAYER}  # no traffic leaves
            harness = {"Authorization": f"Bearer {HARNESS}"}
            assert (await client.post("/payments/_sim/faults", json=drop, headers=harness)).status_code == 201
            paid = await client.post("/payments" + PAY, json=pay_body(), headers=pay_headers(callback=bot))
            assert paid.status_code == 202, paid.text

    asyncio.run(scenario())


def _self_signed(tmp: Path) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return str(cert), str(key)


def test_serves_https_with_the_given_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with serving("--tls-cert", cert, "--tls-key", key) as (_proc, urls):
        assert urls["url"].startswith("https://127.0.0.1:")
        with httpx.Client(
            verify=ssl.create_default_context(cafile=cert), auth=HarnessAuth(HARNESS), timeout=5
        ) as client:
            assert client.get(urls["clock"]).status_code == 200
            assert client.post(urls["graph"] + SEND, json=text(), headers=BOT_AUTH).status_code == 200
        with pytest.raises(httpx.ConnectError):  # not trusted without the certificate
            httpx.get(urls["url"] + "/_sim/health", timeout=5)


def test_missing_variables_are_named_together_and_no_value_is_printed() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
    env |= {"SIM_GRAPH_TOKEN": BOT, "SIM_LLM_API_KEY": "llm-key-for-tests", "SIM_PHONE_NUMBER_ID": " "}
    command = [sys.executable, "-m", "easymo_qa.cli", "simulators", "serve", "--port", "0"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=20)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "SIM_HARNESS_TOKEN" in done.stderr
    assert "SIM_PHONE_NUMBER_ID" in done.stderr
    assert "SIM_GRAPH_TOKEN" not in done.stderr
    assert BOT not in done.stderr
    assert "llm-key-for-tests" not in done.stderr


def test_sigterm_stops_it_cleanly() -> None:
    with serving() as (proc, urls):
        assert httpx.get(urls["url"] + "/_sim/health", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(8) == 0
        secrets_: Any = [v for k, v in ENV.items() if k != "SIM_PHONE_NUMBER_ID"]
        output = proc.stdout.read() + proc.stderr.read()
        assert not any(secret in output for secret in secrets_)


def test_background_server_stays_loopback_unless_told() -> None:
    app = create_simulators_app(SimulatorsConfig.from_environ(ENV))
    with pytest.raises(ValueError, match="only loopback"):
        BackgroundServer(app, host="0.0.0.0")
    assert BackgroundServer(app, host="0.0.0.0", allow_any_host=True).host == "0.0.0.0"  # not started
    assert BackgroundServer(app, host="::", allow_any_host=True).host == "::"
    with pytest.raises(ValueError, match="both"):
        BackgroundServer(app, tls_cert="cert.pem")
