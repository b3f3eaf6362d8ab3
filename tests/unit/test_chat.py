"""``easymo-qa chat`` against a local stack of its own: a buyer orders, hands off to the station and the
driver with ``/as``, the session is recorded, and the recording replays green (and fails at its line when
one expected text is changed). Bad input gets one clear line; the CLI reads piped lines; a real terminal
(tmux) shows the home menu's numbered rows."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from easymo_qa.chat.commands import parse
from easymo_qa.chat.record import Recording, write_journey
from easymo_qa.chat.session import ChatSession
from easymo_qa.conversation.loader import load_journey
from easymo_qa.conversation.runner import JourneyRunner, JourneyStepFailed
from easymo_qa.envs import load_environment, resolve_environment_path
from easymo_qa.stack import start_stack
from easymo_qa.target import Target
from easymo_qa.whatsapp.numbers import TestNumberPool

pytestmark = pytest.mark.unit

EASYMO_QA = Path(sys.executable).parent / "easymo-qa"
Line = str | Callable[[ChatSession], str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A local stack for this file alone: its seeded station and driver talk to nobody else's test."""
    env = load_environment(resolve_environment_path("local"))
    with start_stack(env, tmp_path_factory.mktemp("reports")) as running:
        yield running.target


@pytest.fixture(scope="module")
def client(stack: Target) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=stack.http_seconds) as http:
        yield http


def chat(target: Target, client: httpx.Client, lines: list[Line]) -> tuple[ChatSession, str]:
    """A headless session as a buyer fed these lines (a callable line reads the session so far)."""
    out = io.StringIO()
    console = Console(file=out, width=200, soft_wrap=True, highlight=False)
    session = ChatSession(target, client, console, TestNumberPool(target.number_prefix, target.number_length))
    session.join("buyer")
    feed = iter(lines)

    def read(prompt: str) -> str | None:
        line = next(feed, None)
        text = line(session) if callable(line) else line
        if text is not None:
            console.print(prompt + text)
        return text

    session.run(read)
    return session, out.getvalue()


def delivery_code(session: ChatSession) -> str:
    said = [r.message.text for t in session.turns for r in t.replies if r.actor == "buyer"]
    return re.search(r"Delivery code: (\d{4})", "\n".join(said)).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def recorded(
    stack: Target, client: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """buyer → station → driver → delivered, typed as an engineer would; recorded as a journey."""
    lines: list[Line] = [
        "2 jerrycans of water near Kimironko",
        "1",  # the first offer row
        "/location -1.9441,30.1032",
        "1",  # 📲 MoMo
        "/as station",
        "1",  # ✅ Accept
        lambda s: s.menus["station"].button_ids[0],  # 👩‍🍳 Preparing, typed as its id
        "1",  # 📦 Ready
        "/as driver",
        "1",  # ✅ Accept the job
        "1",  # 📦 Delivered
        delivery_code,
        "/quit",
    ]
    session, output = chat(stack, client, lines)
    path = tmp_path_factory.mktemp("recorded") / "buyer_to_delivered.journey.yaml"
    write_journey(
        path,
        Recording("buyer-to-delivered", "Chat: buyer → station → driver", "recorded by test_chat.py"),
        session.actors,
        session.turns,
    )
    return output, path


def test_a_buyer_orders_and_hands_off_to_the_station_and_the_driver(recorded: tuple[str, Path]) -> None:
    output, _ = recorded
    assert re.search(r"\[1\] Kimironko 3,000 RWF \(offer:kim-water-20l\)", output)  # rows numbered, ids shown
    assert re.search(r"\[1\] 📲 MoMo \(pay_momo:ORD-[A-Z0-9]{6}\)", output)  # buttons numbered
    assert re.search(r"\[2\] ❌ Reject \(st_reject:ORD-", output)
    assert re.search(r"┌ bot → buyer  buttons  \d+ ms", output)  # the reply latency
    assert "── now station 250788200001 (seeded staff) ──" in output
    assert "── now driver 250788300001 (seeded staff) ──" in output
    assert re.search(r"bot → driver  location", output)
    assert "Delivery confirmed" in output
    assert re.search(r"bot → buyer  text  \d+ ms\n│ ✅ Order ORD-[A-Z0-9]{6} delivered", output)
    assert "hygiene" not in output  # the reference's messages are clean


def test_the_recording_loads_and_replays_green(
    stack: Target, client: httpx.Client, recorded: tuple[str, Path]
) -> None:
    _, path = recorded
    text = path.read_text()
    assert not re.search(r"ORD-[A-Z0-9]{6}\b", text.replace("ORD-[A-Z0-9]{6}", "")), text  # no literal id
    assert 'capture: {order_id: {text: "(ORD-[A-Z0-9]{6})"}' in text
    assert 'send: "${code}"' in text  # the delivery code typed by the driver is the buyer's capture
    journey = load_journey(path)
    assert set(journey.actors) == {"buyer", "station", "driver"}
    assert journey.actors["station"].phone == "250788200001"
    result = JourneyRunner(stack, client, TestNumberPool(stack.number_prefix, stack.number_length)).run(
        journey
    )
    assert len(result.steps) == len(journey.steps) == 10  # search … the driver types the code
    assert re.fullmatch(r"\d{4}", result.variables["code"])


def test_the_recording_with_one_text_changed_fails_at_its_line(
    stack: Target, client: httpx.Client, recorded: tuple[str, Path], tmp_path: Path
) -> None:
    _, path = recorded
    lines = path.read_text().splitlines()
    changed = next(i for i, line in enumerate(lines) if "is being prepared" in line)
    lines[changed] = lines[changed].replace("is being prepared", "is being eaten", 1)
    step_line = max(i for i in range(changed) if lines[i].startswith("  - actor:")) + 1
    broken = tmp_path / "broken.journey.yaml"
    broken.write_text("\n".join(lines) + "\n")
    numbers = TestNumberPool(stack.number_prefix, stack.number_length)
    with pytest.raises(JourneyStepFailed) as failed:
        JourneyRunner(stack, client, numbers).run(load_journey(broken))
    assert f"{broken}:{step_line}" in str(failed.value)
    assert "is being eaten" in str(failed.value)


def test_bad_input_gets_one_clear_line_and_the_chat_goes_on(stack: Target, client: httpx.Client) -> None:
    _, output = chat(stack, client, ["/as pilot", "3", "/location abc", "/teleport", "hi", "12", "/quit"])
    errors = [line for line in output.splitlines() if line.startswith("✗")]
    assert errors == [
        "✗ /as takes buyer, station, vendor or driver (got 'pilot')",
        "✗ no buttons or list on screen to choose 3 from; send it as text with /text 3",
        "✗ /location takes latitude,longitude (e.g. /location -1.9441,30.1032), got 'abc'",
        "✗ unknown command /teleport; /help lists them",
        "✗ the last menu has 7 rows: choose 1-7",
    ]
    assert re.search(r"\[1\] 🛒 Order something \(buyer_search\)", output)  # "hi" still got the menu


def test_commands_parse_numbers_ids_and_text() -> None:
    assert parse("2").number == 2  # type: ignore[union-attr]
    assert parse("back_home", ("back_home",)).tap_id == "back_home"  # type: ignore[union-attr]
    assert parse("1464").text == "1464"  # type: ignore[union-attr]  # a code is text, not a choice
    assert parse("/location -1.9,30.1 Home").name == "Home"  # type: ignore[union-attr]


def test_the_cli_reads_piped_lines_and_prints_the_transcript(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(EASYMO_QA), "chat", "--as", "buyer", "--env", "local", "--reports-dir", str(tmp_path)],
        input="hi\n/quit\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("easymo-qa chat: booting the local stack")
    assert "buyer › hi" in done.stdout
    assert re.search(r"\[7\] 🆘 Help \(support_help\)", done.stdout)
    assert re.search(r"buyer \d+ → bot: text \"hi\"", done.stdout)  # the transcript at the end


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed: no real terminal to drive")
def test_a_real_terminal_shows_the_menu_with_numbered_rows(tmp_path: Path) -> None:
    name = f"easymo-chat-{uuid.uuid4().hex[:8]}"
    command = f"{EASYMO_QA} chat --as buyer --env local --reports-dir {tmp_path}"
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", command], check=True)
    try:
        screen = _wait_for_screen(name, "buyer ›", 30)
        subprocess.run(["tmux", "send-keys", "-t", name, "hi", "Enter"], check=True)
        screen = _wait_for_screen(name, "(support_help)", 15)
        assert re.search(r"\[1\] 🛒 Order something \(buyer_search\)", screen), screen
        assert re.search(r"bot → buyer  list  \d+ ms", screen), screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], check=False, capture_output=True)


def _wait_for_screen(session: str, wanted: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    screen = ""
    while time.monotonic() < deadline:
        screen = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=False
        ).stdout
        if wanted in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{wanted!r} never showed in the terminal:\n{screen}")
