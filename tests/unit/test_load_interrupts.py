"""An interrupted load run says INTERRUPTED, exits non-zero and never replaces the last complete results;
a complete one is published whole, with the same request count as Locust's own table and its failed turns
with their transcripts. Real Locust runs on the local stack (127.0.0.1), a few seconds each."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from easymo_qa.interrupts import INTERRUPTED_EXIT_CODE
from easymo_qa.load import evidence

PROJECT = Path(__file__).resolve().parents[2]
LOCUST = Path(sys.prefix) / "bin" / "locust"
SENTINEL = {"schema": "the last complete run", "untouched": True}


# --- the folder swap alone ----------------------------------------------------------------------------------


def test_publish_swaps_the_folder_whole(tmp_path: Path) -> None:
    final, staging = evidence.final_dir(tmp_path), evidence.staging_dir(tmp_path)
    final.mkdir()
    (final / "summary.json").write_text("old")
    (final / "only-in-old.csv").write_text("old")
    staging.mkdir()
    (staging / "summary.json").write_text("new")
    evidence.publish(staging, final)
    assert sorted(p.name for p in final.iterdir()) == ["summary.json"]
    assert (final / "summary.json").read_text() == "new"
    assert not staging.exists()
    assert not final.with_name("load.old").exists()


def test_prepare_keeps_what_this_run_wrote_and_drops_leftovers(tmp_path: Path) -> None:
    staging = evidence.staging_dir(tmp_path)
    staging.mkdir()
    (staging / "cutover_stats.csv").write_text("an earlier, interrupted run")
    (staging / "INTERRUPTED").write_text("earlier")
    (staging / "ci_stats.csv").write_text("opened by this Locust before our code ran")
    (staging / "ci.html").write_text("an earlier run's report, rewritten at the end of this one")
    evidence.prepare(staging, keep=[str(staging / "ci"), None])
    assert sorted(p.name for p in staging.iterdir()) == ["ci_stats.csv"]


def test_locusts_files_outside_the_staging_folder_are_noticed(tmp_path: Path) -> None:
    staging = evidence.staging_dir(tmp_path)
    assert evidence.inside(str(staging / "ci"), staging)
    assert not evidence.inside(str(evidence.final_dir(tmp_path) / "ci"), staging)
    assert evidence.inside(None, staging)


# --- real Locust runs ---------------------------------------------------------------------------------------


class _Run:
    """A Locust process whose output is collected as it comes."""

    def __init__(self, tmp_path: Path, run_time: str, mix: Path | None = None) -> None:
        self.reports = tmp_path / "reports"
        final = evidence.final_dir(self.reports)
        final.mkdir(parents=True)
        (final / "summary.json").write_text(json.dumps(SENTINEL))
        staging = evidence.staging_dir(self.reports)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "EASYMO_QA_"))}
        env["REFERENCE_DEFECTS"] = ""
        mix_args = ["--mix", str(mix)] if mix else []
        self.lines: list[str] = []
        command = [str(LOCUST), "-f", "loadtests/agents.py", "--config", "loadtests/profiles/ci.conf"]
        command += ["-u", "2", "-r", "10", "-t", run_time, "--reports-root", str(self.reports)]
        command += ["--csv", str(staging / "ci"), "--html", str(staging / "ci.html"), *mix_args]
        self.proc = subprocess.Popen(
            command,
            cwd=PROJECT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            # A shell's background job ignores SIGINT, and the ignore is inherited: undo it for Locust.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._guard = threading.Timer(90, self.proc.kill)
        self._guard.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, seconds: float = 40) -> None:
        deadline = time.monotonic() + seconds
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, f"no {text!r} within {seconds} s:\n{self.output()}"
            time.sleep(0.1)

    def finish(self) -> int:
        try:
            code = self.proc.wait(60)
        finally:
            self._guard.cancel()
            if self.proc.poll() is None:
                self.proc.kill()
        self._reader.join(5)
        return code

    def output(self) -> str:
        return "".join(self.lines)

    def final_summary(self) -> dict[str, object]:
        return json.loads((evidence.final_dir(self.reports) / "summary.json").read_text())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_an_interrupted_load_run_says_so_and_keeps_the_last_results(
    sig: signal.Signals, tmp_path: Path
) -> None:
    run = _Run(tmp_path, "60s")
    run.wait_for("All users spawned")
    time.sleep(1.5)  # some traffic
    run.proc.send_signal(sig)
    code = run.finish()
    out = run.output()
    assert code == INTERRUPTED_EXIT_CODE, out
    assert "Load test INTERRUPTED" in out
    assert "Load test PASSED" not in out
    assert run.final_summary() == SENTINEL  # the last complete evidence, untouched
    staging = evidence.staging_dir(run.reports)
    assert (staging / evidence.INTERRUPTED_NOTE).is_file()
    assert not (staging / "summary.json").exists()  # nothing a sign-off could take for evidence


FAILING_JOURNEY = """
journey: never-answered
title: The second turn expects a reply no bot sends
actors:
  user: {role: user, name: "Aimée Uwase"}
steps:
  - actor: user
    send: "hi"
    expect: {kind: list, rows: [buyer_search, my_orders, support_help]}
  - actor: user
    tap: back_home
    expect: {text: "a reply no bot sends"}
"""


def test_a_complete_run_is_published_with_locusts_counts_and_its_failed_turns(tmp_path: Path) -> None:
    (tmp_path / "never.journey.yaml").write_text(FAILING_JOURNEY)
    mix = tmp_path / "mix.yaml"
    mix.write_text(
        f"journeys_dir: {tmp_path}\nthink_seconds: [0, 0]\n"
        "journeys:\n  - {journey: never.journey.yaml, weight: 1}\n"
    )
    run = _Run(tmp_path, "9s", mix=mix)  # a missing reply fails after reply_seconds (5 s)
    code = run.finish()
    out = run.output()
    assert code == 1, out  # every second turn fails: the error-rate gate fails; published all the same
    summary = run.final_summary()
    assert summary != SENTINEL
    assert not evidence.staging_dir(run.reports).exists()
    aggregated = [line for line in out.splitlines() if line.split()[:1] == ["Aggregated"]]
    locust_count = int(aggregated[0].split()[1])  # "Aggregated  <# reqs>  <# fails>(...)"
    assert summary["samples"] == locust_count, out
    assert re.search(rf"of {locust_count} requests", out), out
    assert {"ci_stats.csv", "ci.html", "stack.log", "failures.jsonl"} <= {
        p.name for p in evidence.final_dir(run.reports).iterdir()
    }
    turns = summary["failed_turns"]
    assert isinstance(turns, list)
    assert turns, out
    assert turns[0]["turn"] == "never-answered:2 user tap back_home"
    assert "a reply no bot sends" in turns[0]["detail"]
    assert "transcript" in turns[0]["detail"]
    assert "Hello Aimée Uwase" in turns[0]["detail"]  # the conversation so far, as the user saw it
    clock = summary["clock"]  # one machine: the offset is 0 within its bound
    assert isinstance(clock, dict)
    assert clock["samples"] == 8
    assert abs(clock["offset_ms"]) <= clock["uncertainty_ms"] + 0.1, clock
    assert clock["drift_ms"] is not None
    assert "clock offset to the simulators:" in out


def run_capped(tmp_path: Path, *locust_args: str) -> tuple[Path, int, str]:
    """Locust against an environment that allows one load user: its file, exit code and output."""
    capped = tmp_path / "capped.yaml"
    capped.write_text("name: capped\nstack: local\nload: {max_users: 1}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "EASYMO_QA_"))}
    done = subprocess.run(
        [str(LOCUST), *locust_args, "-t", "5s", "--env-file", str(capped)]
        + ["--reports-root", str(tmp_path / "reports")],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return capped, done.returncode, done.stdout + done.stderr


def test_more_users_than_the_environment_allows_are_refused_before_any_traffic(tmp_path: Path) -> None:
    ci = ["-f", "loadtests/agents.py", "--config", "loadtests/profiles/ci.conf", "-u", "2"]
    capped, code, out = run_capped(tmp_path, *ci)
    assert code == 2, out
    assert f"{capped} allows at most 1 load users (load.max_users); this run asks for 2" in out
    assert "starting the capped stack" not in out  # refused before the stack, let alone traffic


SHAPE = """
from locust import LoadTestShape


class TooMany(LoadTestShape):
    def tick(self):
        return (3, 3) if self.get_run_time() < 5 else None
"""


def test_a_shape_asking_for_more_users_than_allowed_is_refused_before_they_spawn(tmp_path: Path) -> None:
    shape = tmp_path / "shape.py"
    shape.write_text(SHAPE)
    capped, code, out = run_capped(tmp_path, "-f", f"loadtests/agents.py,{shape}", "--headless")
    assert code == 2, out
    assert f"REFUSED before any user started: {capped} allows at most 1 load users" in out
    assert "this run asks for 3" in out
    assert not (tmp_path / "reports" / "load" / "summary.json").exists()
