"""The protocol layer of the smoke suite passes against an echo bot built on a public WhatsApp Cloud API
framework: pywa (tests/any_bot/pywa_bot/bot.py), pinned in tests/any_bot/pywa_bot/requirements.txt.

The bot runs in a virtualenv of its own (tests/any_bot/pywa_bot/env.py builds it once under
.cache/any-bot/ and later runs reuse it), so pywa never enters the harness's dependencies. A failed
build fails this test with the command that failed: it is part of ``make test``, never skipped.
The protocol layer runs in a subprocess with example-any-bot.yaml, as a user would.

Every protocol test must pass but those in HARNESS_NOT_META: cases where the harness sends what Meta never
sends and pywa, following Meta's documentation, answers otherwise than the test wants. They are reported
here, not worked around in the bot; one that starts passing (the harness moved it) is fine.
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

HARNESS_NOT_META = {
    # R-VERIFY-2 (docs/webhook-contract.md: "another mode -> 4xx") is easyMO's rule, not Meta's. The test
    # sends hub.mode=unsubscribe with the right verify token; Meta's verification request always has
    # hub.mode=subscribe ("This value will always be set to subscribe"), and an endpoint "must verify that
    # the hub.verify_token value matches ... [and] respond with the hub.challenge value"
    # (developers.facebook.com/docs/graph-api/webhooks/getting-started, "Verification Requests"; the
    # WhatsApp "Create a webhook endpoint" page, updated 2025-11-07, likewise compares the verify token
    # only). pywa 4.5.0 checks the token only (Server.webhook_challenge_handler) and answers 200.
    "tests/smoke/test_protocol.py::test_verify_handshake_refuses[wrong-mode]",
}


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
        "-rfE",
        "-p",
        "no:cacheprovider",
    ]
    command += ["--env-file", "environments/example-any-bot.yaml", "--reports-dir", str(tmp_path / "reports")]
    result = subprocess.run(command, cwd=REPO, env=pywa_bot_env, capture_output=True, text=True, timeout=300)
    bot_log = Path(pywa_bot_env["PYWA_BOT_LOG"]).read_text()[-3000:]
    shown = f"{result.stdout[-8000:]}{result.stderr[-2000:]}\n--- bot log ---\n{bot_log}"
    failed = {
        line.split()[1]
        for line in result.stdout.splitlines()
        if line.startswith(("FAILED ", "ERROR ")) and len(line.split()) > 1
    }
    assert result.returncode in (0, 1), shown  # 1: tests failed; anything else: the session broke
    assert " passed" in result.stdout, shown
    assert failed <= HARNESS_NOT_META, f"failed against pywa: {sorted(failed - HARNESS_NOT_META)}\n{shown}"
    assert result.returncode == 0 or failed, shown
