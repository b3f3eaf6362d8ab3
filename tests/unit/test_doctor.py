"""`easymo-qa doctor` and the cheap preflight: a healthy local stack passes every row; a half-configured
environment fails the right row with its fix; an unreachable bot is one short table (and, before a pytest
session or a sign-off, one line) naming its URL, never a traceback. Everything listens on 127.0.0.1."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from easymo_qa import cli
from easymo_qa.doctor.model import Row
from easymo_qa.doctor.preflight import webhook_unreachable
from easymo_qa.doctor.run import check_target
from easymo_qa.envs import EnvironmentError_, load_environment
from easymo_qa.simulators.deployed import SimulatorsConfig, create_simulators_app
from easymo_qa.simulators.graph_api import GraphSimConfig
from easymo_qa.simulators.llm import LlmSimConfig
from easymo_qa.simulators.maps import MapsSimConfig
from easymo_qa.simulators.payments.model import PaymentsSimConfig
from easymo_qa.simulators.server import BackgroundServer
from easymo_qa.stack.reference_process import free_port
from easymo_qa.target import Target

REPO = Path(__file__).resolve().parents[2]
MARK = {"pass": "✓", "fail": "✗", "skip": "–"}
PHONE_NUMBER_ID = "109876543210987"
HARNESS = "harness-token-for-tests"


def rows(output: str) -> dict[str, str]:
    """The table's rows by check name: ``{"verify handshake": "✓ verify handshake HTTP 200, ..."}``."""
    found = {}
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) > 1 and cells[0] in MARK.values():
            found[cells[1]] = " ".join(line.split())
    return found


def row(output: str, check: str) -> str:
    line = next((" ".join(x.split()) for x in output.splitlines() if f" {check} " in f" {x} "), None)
    assert line is not None, f"no row {check!r} in:\n{output}"
    return line


def doctor(capsys: pytest.CaptureFixture[str], env_file: Path, reports: Path) -> tuple[int, str]:
    code = cli.main(["doctor", "--env-file", str(env_file), "--reports-dir", str(reports)])
    out = capsys.readouterr()
    return code, out.out + out.err


def remote_env(
    tmp_path: Path, webhook_url: str, *, secret: str = "s3cret-app", token: str = "v3rify"
) -> Path:
    path = tmp_path / "bot.yaml"
    path.write_text(
        f"name: bot\nstack: none\nwebhook:\n  url: {webhook_url}\n  app_secret: {secret}\n"
        f"  verify_token: {token}\nbusiness:\n  phone_number_id: '109876543210987'\n"
        "graph_simulator:\n  host: 127.0.0.1\n  port: 0\ntimeouts:\n  reply_seconds: 1\n  http_seconds: 3\n"
    )
    return path


# --- all missing variables at once ---------------------------------------------------------------------


def test_every_missing_variable_is_named_at_once(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        "name: x\nwebhook:\n  url: ${A_UNSET}\n  app_secret: ${B_UNSET}\n  verify_token: ${A_UNSET}\n"
    )
    with pytest.raises(EnvironmentError_) as info:
        load_environment(path, {})
    message = str(info.value)
    assert message.startswith("2 environment variables are not set (A_UNSET, B_UNSET):")
    for line, key, var in ((3, "webhook.url", "A_UNSET"), (4, "webhook.app_secret", "B_UNSET")):
        assert f"{path}:{line}: key '{key}' needs the environment variable {var}, which is not set" in message
    assert f"{path}:5: key 'webhook.verify_token'" in message
    assert info.value.missing == ("A_UNSET", "B_UNSET")


def test_one_missing_variable_keeps_its_one_line_message(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("name: x\nwebhook:\n  app_secret: ${NOPE}\n")
    with pytest.raises(EnvironmentError_) as info:
        load_environment(path, {})
    assert (
        str(info.value)
        == f"{path}:3: key 'webhook.app_secret' needs the environment variable NOPE, which is not set"
    )


# --- the doctor ----------------------------------------------------------------------------------------


def test_a_healthy_local_stack_passes_every_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, output = doctor(capsys, REPO / "environments" / "local.yaml", tmp_path)
    assert code == 0, output
    assert "booting the local stack" in output
    checks = rows(output)
    assert all(line.startswith("✓") for line in checks.values()), output
    for check in ("environment", "harness stack", "verify handshake", "webhook signatures", "admin API"):
        assert check in checks, output
    assert "signed: HTTP 200; unsigned: HTTP 401" in row(output, "webhook signatures")
    assert "reply (" in row(output, "reply reaches the simulator")
    assert "the SUT called it" in row(output, "LLM simulator")
    assert "reachable" in row(output, "payments simulator")
    assert "graph, llm, payments, maps answer" in row(output, "fault API")
    assert "flags" in row(output, "flag API")
    assert "all checks pass" in output


def test_unset_variables_are_one_failing_row_naming_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DOCTOR_UNSET_URL", "DOCTOR_UNSET_SECRET"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "half.yaml"
    path.write_text(
        "name: half\nwebhook:\n  url: ${DOCTOR_UNSET_URL}\n  app_secret: ${DOCTOR_UNSET_SECRET}\n"
        "  verify_token: ${DOCTOR_UNSET_URL}\n"
    )
    code, output = doctor(capsys, path, tmp_path)
    assert code == 1, output
    assert row(output, "environment").startswith("✗")
    assert "DOCTOR_UNSET_URL, DOCTOR_UNSET_SECRET" in output
    assert f"{path}:3" in output
    assert f"{path}:4" in output
    assert "export DOCTOR_UNSET_URL=… DOCTOR_UNSET_SECRET=…" in output
    assert "Traceback" not in output


@dataclass(frozen=True)
class EchoBot:
    webhook_url: str
    app_secret: str
    verify_token: str


@contextmanager
def echo_bot(graph_url: str) -> Iterator[EchoBot]:
    """tests/any_bot/echo_bot.py (stdlib, answers 403 to a bad signature), replying to ``graph_url``."""
    port = free_port()
    bot = EchoBot(f"http://127.0.0.1:{port}/webhook", secrets.token_hex(16), secrets.token_hex(8))
    env = {
        **os.environ,
        "BOT_PORT": str(port),
        "BOT_APP_SECRET": bot.app_secret,
        "BOT_VERIFY_TOKEN": bot.verify_token,
        "BOT_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "GRAPH_URL": graph_url,
    }
    process = subprocess.Popen(
        [sys.executable, str(REPO / "tests/any_bot/echo_bot.py")], env=env, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and webhook_unreachable(bot.webhook_url, "", 0.5):
            time.sleep(0.05)
        yield bot
    finally:
        process.terminate()
        process.wait(5)


@pytest.fixture
def bot_replying_nowhere(tmp_path: Path) -> Iterator[Path]:
    """The echo bot, its Graph base URL at a closed port: it accepts messages, no reply arrives."""
    with echo_bot(f"http://127.0.0.1:{free_port()}") as bot:
        yield remote_env(tmp_path, bot.webhook_url, secret=bot.app_secret, token=bot.verify_token)


def test_a_bot_whose_graph_url_misses_the_simulator_fails_the_reply_row(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bot_replying_nowhere: Path
) -> None:
    code, output = doctor(capsys, bot_replying_nowhere, tmp_path)
    assert code == 1, output
    assert row(output, "verify handshake").startswith("✓ verify handshake HTTP 200, challenge echoed")
    assert row(output, "webhook signatures").startswith(
        "✓ webhook signatures signed: HTTP 200; unsigned: HTTP 403"
    )
    assert row(output, "Graph API simulator").startswith("✓")
    reply = row(output, "reply reaches the simulator")
    assert reply.startswith("✗")
    assert "no reply" in reply
    assert "within 1 s" in reply
    graph = reply.split("does not point at ")[1].split(" ")[0]
    assert graph.startswith("http://127.0.0.1:"), reply
    assert "not configured here (not checked): LLM simulator, payments simulator, maps simulator" in output


@pytest.fixture
def deployed_simulators() -> Iterator[str]:
    """`easymo-qa simulators serve`'s app on loopback (harness token HARNESS); its base URL."""
    graph = GraphSimConfig(
        access_token="x", phone_number_id=PHONE_NUMBER_ID, display_phone_number="15550000000"
    )
    config = SimulatorsConfig(
        harness_token=HARNESS,
        graph=graph,
        llm=LlmSimConfig(),
        payments=PaymentsSimConfig(callback_secret=secrets.token_hex(8)),
        maps=MapsSimConfig(),
    )
    with BackgroundServer(create_simulators_app(config)) as server:
        yield server.url


def deployed_target(bot: EchoBot, base: str, harness_token: str) -> Target:
    """What start_stack makes of `simulators: {url, harness_token, serves: [graph, llm, payments, maps]}`."""
    return Target(
        env_name="deployed",
        webhook_url=bot.webhook_url,
        app_secret=bot.app_secret,
        verify_token=bot.verify_token,
        phone_number_id=PHONE_NUMBER_ID,
        display_phone_number="15550000000",
        graph_api_url=f"{base}/graph",
        llm_url=f"{base}/llm",
        payments_url=f"{base}/payments",
        maps_url=f"{base}/maps",
        simulators_url=base,
        harness_token=harness_token,
        capabilities=("faults",),
        reply_seconds=1.5,
        http_seconds=3,
    )


def test_deployed_simulators_pass_with_the_harness_token(deployed_simulators: str) -> None:
    """The echo bot's Graph base URL at the deployed server's /graph: every row passes; the LLM is reachable
    but the echo bot never calls one, which is a note, not a failure."""
    with echo_bot(f"{deployed_simulators}/graph") as bot:
        report = check_target(deployed_target(bot, deployed_simulators, HARNESS))
    assert report.ok, report.rows
    assert report.row("simulators server").detail == f"answers at {deployed_simulators}"
    assert report.row("reply reaches the simulator").detail.startswith("a reply (text) to ")
    assert report.row("LLM simulator").detail.startswith("reachable; no call from the SUT seen yet")
    assert report.row("fault API").detail == "graph, llm, payments, maps answer (0 rule(s) in force)"
    assert report.not_configured == ["admin API", "flag API"]


def test_a_wrong_harness_token_fails_the_simulator_rows(deployed_simulators: str) -> None:
    with echo_bot(f"{deployed_simulators}/graph") as bot:
        report = check_target(deployed_target(bot, deployed_simulators, "not-the-token"))
    assert not report.ok
    assert report.row("simulators server").status == "pass"  # its root health is public
    graph = report.row("Graph API simulator")
    assert graph.status == "fail"
    assert "refused the harness token (HTTP 401)" in graph.detail
    assert graph.hint == "simulators.harness_token must be the server's SIM_HARNESS_TOKEN"
    assert report.row("webhook signatures").status == "pass"
    assert report.row("reply reaches the simulator") == Row(
        "skip", "reply reaches the simulator", "needs: Graph API simulator"
    )
    assert report.row("LLM simulator").status == "fail"
    assert "not-the-token" not in repr(report.rows)


def test_an_unreachable_bot_is_one_short_table_naming_its_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/wa-webhook"
    command = [sys.executable, "-m", "easymo_qa.cli", "doctor", "--env-file", str(remote_env(tmp_path, url))]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    output = out.stdout + out.stderr
    assert out.returncode == 1, output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) <= 15, output
    handshake = row(output, "verify handshake")
    assert f"✗ verify handshake cannot reach {url}: connection refused" in handshake
    assert f"is the bot running at {url}? check webhook.url" in handshake
    assert row(output, "webhook signatures") == "– webhook signatures needs: verify handshake"
    assert row(output, "reply reaches the simulator").endswith("needs: verify handshake")
    assert "s3cret-app" not in output
    assert "v3rify" not in output


def test_an_unknown_environment_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["doctor", "--env", "no-such-env", "--reports-dir", str(tmp_path)]) == 2
    assert "no file no-such-env.yaml" in capsys.readouterr().err


# --- the cheap preflight -------------------------------------------------------------------------------


def test_preflight_is_silent_when_anything_answers() -> None:
    url = f"http://127.0.0.1:{free_port()}/x"
    assert webhook_unreachable(url, "t", 2) == f"cannot reach {url}: connection refused"
    with httpx.Client() as client, pytest.raises(httpx.ConnectError):
        client.get(url)  # the same port, to show the preflight's answer is the transport's
    assert webhook_unreachable("", "t", 2) is None


@pytest.mark.parametrize("workers", [["-p", "no:xdist"], ["-n", "2"]], ids=["one process", "xdist"])
def test_pytest_session_stops_with_one_line_when_the_bot_is_unreachable(
    tmp_path: Path, workers: list[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/wa-webhook"
    env_file = remote_env(tmp_path, url)
    (tmp_path / "test_bot.py").write_text("".join(f"def test_{i}(target):\n    pass\n\n" for i in range(20)))
    command = [sys.executable, "-m", "pytest", "test_bot.py", "-q", "-p", "no:cacheprovider", *workers]
    command += ["--env-file", str(env_file), "--rootdir", str(tmp_path), "--reports-dir", str(tmp_path / "r")]
    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    output = out.stdout + out.stderr
    assert out.returncode == 3, output
    assert f"cannot reach {url}: connection refused" in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) <= 10, output


def test_signoff_stops_before_any_stage_when_the_bot_is_unreachable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}/wa-webhook"
    env_file = remote_env(tmp_path, url)
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(cli.signoff, "run_signoff", lambda *a, **k: pytest.fail("a stage ran"))
    assert cli.main(["signoff", "--env-file", str(env_file)]) == 3
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"easymo-qa: cannot reach {url}: connection refused; no stage was run "
        f"(easymo-qa doctor --env-file {env_file} checks the rest)"
    ]
