"""The sign-off's stage progress (plain lines for logs, a live table on a terminal) and the load stage's
Allure results."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from easymo_qa.gates import STAGES
from easymo_qa.load.samples import REPLY, WEBHOOK
from easymo_qa.signoff.stage_runs import StageRun
from easymo_qa.stages import allure
from easymo_qa.stages.progress import STATE_STYLES, StageProgress

pytestmark = pytest.mark.unit

LOAD_GATES = """gates:
  - {id: load_error_rate, title: Load errors, metric: load.error_rate, op: "<", threshold: 2, unit: "%"}
  - {id: load_reply_p95, title: Reply p95, metric: load.reply_p95_ms, op: "<", threshold: 500, unit: ms}
  - {id: tests_pass, title: All tests pass, metric: tests.pass_rate, op: ">=", threshold: 100}
"""


def test_plain_progress_keeps_the_log_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with StageProgress(live=False) as progress:
        progress.begin("smoke", "smoke (is the bot up?)")
        progress.end("smoke", "passed", passed=True)
        progress.not_run("load", "skipped", "skipped by --skip-load")
    out = capsys.readouterr().out
    assert "\n==> sign-off 1/6: smoke (is the bot up?)\n" in out
    assert "==> sign-off 1/6: passed in 0 s\n" in out
    assert "sign-off stages" not in out  # no table in a log


def test_the_live_table_shows_each_stage_state_and_outcome() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    progress = StageProgress(live=True, console=console)
    progress.begin("smoke", "smoke")
    progress.end("smoke", "FAILED (exit code 1)", passed=False)
    progress.not_run("reliability", "given", "/runs/reliability.json")
    progress.begin("rollback", "rollback drill")
    console.print(progress.table())
    lines = screen.getvalue().splitlines()
    row = {stage: next(line for line in lines if f"/6 {stage} " in line) for stage in STAGES}
    assert "FAILED" in row["smoke"]
    assert "exit code 1" in row["smoke"]
    assert "/runs/reliability.json" in row["reliability"]
    assert [state for state in STATE_STYLES if state in row["rollback"]] == ["running"]
    assert [state for state in STATE_STYLES if state in row["load"]] == ["waiting"]


def _results(directory: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*-result.json"))]


def test_the_load_stage_writes_one_allure_result_per_load_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "signoff.yaml").write_text(LOAD_GATES)
    summary = tmp_path / "summary.json"
    types = {REPLY: {"count": 200, "failures": 0}, WEBHOOK: {"count": 200, "failures": 1}}
    summary.write_text(json.dumps({"types": types, "error_rate_pct": 0.25, "reply_p95_ms": 640.0}))
    run = StageRun("load", "ran", exit_code=1, seconds=31.0, pytest=False)
    allure.record_load(tmp_path / "allure", run, summary, redact=lambda text: text)
    results = {r["name"]: r for r in _results(tmp_path / "allure")}
    assert set(results) == {"load_error_rate", "load_reply_p95"}  # load gates only
    assert results["load_error_rate"]["status"] == "passed"
    assert results["load_reply_p95"]["status"] == "failed"
    assert "not 640 ms < 500 ms" in results["load_reply_p95"]["statusDetails"]["message"]
    [attachment] = results["load_reply_p95"]["attachments"]
    assert (tmp_path / "allure" / attachment["source"]).read_text() == summary.read_text()


def test_a_load_stage_without_a_summary_is_broken_with_its_output(tmp_path: Path) -> None:
    run = StageRun("load", "ran", exit_code=2, output_tail="boom: token s3cret\n", pytest=False)
    allure.record_load(tmp_path, run, None, redact=lambda text: text.replace("s3cret", "***"))
    [result] = _results(tmp_path)
    assert (result["name"], result["status"]) == ("load summary", "broken")
    [attachment] = result["attachments"]
    assert (tmp_path / attachment["source"]).read_text() == "boom: token ***\n"
