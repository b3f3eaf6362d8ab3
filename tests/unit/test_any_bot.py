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
def echo_bot_env() -> Iterator[dict[str, str]]:
    bot_port, graph_port = free_port(), free_port()
    env = {
        **os.environ,
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
