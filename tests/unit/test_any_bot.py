"""The protocol layer of the smoke suite passes against a second, independent bot (tests/any_bot/echo_bot.py).

That bot answers 403 (not 401) to bad signatures and 'OK' bodies: the protocol tests must not depend on
our reference service's details. Runs pytest in a subprocess with example-any-bot.yaml, as a user would.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from easymo_qa.stack.reference_process import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def echo_bot_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    bot_port, graph_port = free_port(), free_port()
    env = {
        **os.environ,
        "ECHO_BOT_FLAWS": getattr(request, "param", ""),
        "BOT_PORT": str(bot_port),
        "BOT_WEBHOOK_URL": f"http://127.0.0.1:{bot_port}/webhook",
        "BOT_APP_SECRET": secrets.token_hex(16),
        "BOT_VERIFY_TOKEN": secrets.token_hex(8),
        "BOT_PHONE_NUMBER_ID": "109876543210987",
        "GRAPH_SIMULATOR_PORT": str(graph_port),
        "GRAPH_URL": f"http://127.0.0.1:{graph_port}",
    }
    bot = subprocess.Popen([sys.executable, str(REPO / "tests/any_bot/echo_bot.py")], env=env)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(env["BOT_WEBHOOK_URL"], timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield env
    finally:
        bot.terminate()
        bot.wait(5)


def test_protocol_layer_passes_against_an_independent_bot(
    echo_bot_env: dict[str, str], tmp_path: Path
) -> None:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/smoke",
        "-m",
        "smoke and protocol",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    command += ["--env-file", "environments/example-any-bot.yaml", "--reports-dir", str(tmp_path)]
    result = subprocess.run(command, cwd=REPO, env=echo_bot_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert "failed" not in result.stdout


def test_easymo_layer_is_skipped_for_a_bot_without_the_capability(
    echo_bot_env: dict[str, str], tmp_path: Path
) -> None:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/smoke/test_easymo.py",
        "-q",
        "-p",
        "no:cacheprovider",
        "-rs",
    ]
    command += ["--env-file", "environments/example-any-bot.yaml", "--reports-dir", str(tmp_path)]
    result = subprocess.run(command, cwd=REPO, env=echo_bot_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "lacks the 'easymo' capability" in result.stdout


# The 2026 checks (users named by BSUID) against the echo bot made worse on purpose (ECHO_BOT_FLAWS in
# tests/any_bot/echo_bot.py): each check must fail against the flaw it is there to catch, at the right place.
NEW_2026 = "username or bsuid or status"
ANSWERED = "test_a_user_with_a_username_is_answered_at_his_address"
STATUSES = "test_statuses_naming_the_user_by_bsuid_are_acknowledged_without_reply"
NEW_ID = "test_a_new_bsuid_does_not_lose_the_conversation"
FAILED = "test_failed_statuses_in_either_shape_are_acknowledged_without_reply"


@pytest.mark.parametrize(
    ("echo_bot_env", "must_fail", "why"),
    [
        pytest.param(
            "phone_only",  # answers `from` alone, as in 2025
            {f"{ANSWERED}[username_only]", f"{STATUSES}[username_only]", f"{NEW_ID}[username_only]"},
            "no reply matching what was expected",
            id="phone-only",
        ),
        pytest.param(
            "answers_system",  # echoes user_changed_user_id at the BSUID it retires
            {f"{NEW_ID}[username_only]"},
            "after user_changed_user_id the bot wrote to the retired BSUID",
            id="answers-system-messages",
        ),
        pytest.param(
            "answers_statuses",
            {
                "test_status_callbacks_are_acknowledged_without_reply",
                f"{STATUSES}[phone_and_username]",
                f"{STATUSES}[username_only]",
                f"{FAILED}[documented]",
                f"{FAILED}[observed]",
            },
            "the bot replied where no reply was expected",
            id="answers-statuses",
        ),
    ],
    indirect=["echo_bot_env"],
)
def test_the_2026_checks_fail_against_a_bot_with_the_flaw_they_catch(
    echo_bot_env: dict[str, str], tmp_path: Path, must_fail: set[str], why: str
) -> None:
    command = [sys.executable, "-m", "pytest", "tests/smoke/test_protocol.py", "-k", NEW_2026, "-q", "-rf"]
    command += ["-p", "no:cacheprovider", "--env-file", "environments/example-any-bot.yaml"]
    command += ["--reports-dir", str(tmp_path)]
    result = subprocess.run(command, cwd=REPO, env=echo_bot_env, capture_output=True, text=True, timeout=300)
    failed = {
        line.split()[1].split("::")[-1]
        for line in result.stdout.splitlines()
        if line.startswith("FAILED ") and len(line.split()) > 1
    }
    assert failed == must_fail, result.stdout[-6000:]
    assert why in result.stdout, result.stdout[-6000:]
