"""The protocol layer of the smoke suite passes against an echo bot built on a public WhatsApp Cloud API
framework: pywa (tests/any_bot/pywa_bot/bot.py), pinned in tests/any_bot/pywa_bot/requirements.txt.

The bot runs in a virtualenv of its own (tests/any_bot/pywa_bot/env.py builds it once under
.cache/any-bot/ and later runs reuse it), so pywa never enters the harness's dependencies. A failed
build fails this test with the command that failed: it is part of ``make test``, never skipped.
The protocol layer runs in a subprocess with example-any-bot.yaml, as a user would.

Every protocol test must pass, and the bot is not bent to the harness: pywa checks only the verify token
on the GET handshake, as Meta's Webhooks "Getting started" asks (hub.mode is always 'subscribe'), so
refusing hub.mode=unsubscribe is an easyMO case (test_contract_edges.py), not a protocol one.
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
BOT_DIR = REPO / "tests/any_bot/pywa_bot"
ENV_COMMAND = [sys.executable, str(BOT_DIR / "env.py")]


def _bot_python() -> Path:
    """The bot's virtualenv's python, built by env.py if missing; fails (never skips) if it can't be."""
    shown = " ".join(ENV_COMMAND[1:])
    done = subprocess.run(ENV_COMMAND, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        pytest.fail(
            f"building the pywa echo bot's virtualenv failed: `python {shown}` exited {done.returncode}\n"
            f"{done.stderr.strip()[-4000:]}",
            pytrace=False,
        )
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def pywa_bot_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    python = _bot_python()
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
    log_path = tmp_path / "pywa-bot.log"
    with open(log_path, "w") as log:
        bot = subprocess.Popen(
            [str(python), str(BOT_DIR / "bot.py")], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            if bot.poll() is not None:
                pytest.fail(f"the pywa echo bot exited {bot.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                httpx.get(env["BOT_WEBHOOK_URL"], timeout=0.5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"the pywa echo bot did not listen within 20 s:\n{log_path.read_text()[-4000:]}"
                    )
                time.sleep(0.05)
        env["PYWA_BOT_LOG"] = str(log_path)
        yield env
    finally:
        bot.terminate()
        bot.wait(10)


def test_protocol_layer_passes_against_a_pywa_echo_bot(pywa_bot_env: dict[str, str], tmp_path: Path) -> None:
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
    command += ["--env-file", "environments/example-any-bot.yaml", "--reports-dir", str(tmp_path / "reports")]
    result = subprocess.run(command, cwd=REPO, env=pywa_bot_env, capture_output=True, text=True, timeout=300)
    bot_log = Path(pywa_bot_env["PYWA_BOT_LOG"]).read_text()[-3000:]
    shown = f"{result.stdout[-8000:]}{result.stderr[-2000:]}\n--- bot log ---\n{bot_log}"
    assert result.returncode == 0, shown
    assert " passed" in result.stdout, shown
    assert "failed" not in result.stdout, shown
