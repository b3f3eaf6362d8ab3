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
from pathlib import Path

import httpx
import pytest

from easymo_qa import cli
from easymo_qa.doctor.preflight import webhook_unreachable
from easymo_qa.envs import EnvironmentError_, load_environment
from easymo_qa.stack.reference_process import free_port

REPO = Path(__file__).resolve().parents[2]
MARK = {"pass": "✓", "fail": "✗", "skip": "–"}


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


@pytest.fixture
def bot_replying_nowhere(tmp_path: Path) -> Iterator[Path]:
    """The stdlib echo bot, its Graph base URL at a closed port: it accepts messages, no reply arrives."""
    bot_port, secret, token = free_port(), secrets.token_hex(16), secrets.token_hex(8)
    webhook = f"http://127.0.0.1:{bot_port}/webhook"
    env = {
        **os.environ,
        "BOT_PORT": str(bot_port),
        "BOT_APP_SECRET": secret,
        "BOT_VERIFY_TOKEN": token,
        "BOT_PHONE_NUMBER_ID": "109876543210987",
        "GRAPH_URL": f"http://127.0.0.1:{free_port()}",
    }
    bot = subprocess.Popen(
        [sys.executable, str(REPO / "tests/any_bot/echo_bot.py")], env=env, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and webhook_unreachable(webhook, token, 0.5):
            time.sleep(0.05)
        yield remote_env(tmp_path, webhook, secret=secret, token=token)
    finally:
        bot.terminate()
        bot.wait(5)


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


def test_pytest_session_stops_with_one_line_when_the_bot_is_unreachable(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/wa-webhook"
    env_file = remote_env(tmp_path, url)
    (tmp_path / "test_bot.py").write_text("".join(f"def test_{i}(target):\n    pass\n\n" for i in range(20)))
    command = [sys.executable, "-m", "pytest", "test_bot.py", "-q", "-p", "no:cacheprovider"]
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
