"""The sign-off's command-line options, and the pytest plugin's --skip-load / --load-results wiring."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from easymo_qa.cli import build_parser
from easymo_qa.cli.signoff import SUITE_FOLDERS
from easymo_qa.signoff.load import LOAD_SCHEMA
from easymo_qa.stages.runner import Stages

REPO = Path(__file__).resolve().parents[2]


def test_suites_option() -> None:
    parser = build_parser()
    assert parser.parse_args(["signoff"]).suites == list(SUITE_FOLDERS)
    assert parser.parse_args(["signoff", "--suites", "smoke, synthetic"]).suites == ["smoke", "synthetic"]
    with pytest.raises(SystemExit):
        parser.parse_args(["signoff", "--suites", "smoke,soak"])


def test_load_options_exclude_each_other() -> None:
    parser = build_parser()
    args = parser.parse_args(["signoff", "--load-results", "reports/load"])
    assert (args.load_results, args.skip_load) == ("reports/load", False)
    assert parser.parse_args(["signoff", "--skip-load"]).skip_load
    with pytest.raises(SystemExit):
        parser.parse_args(["signoff", "--skip-load", "--load-results", "x"])


def test_report_command_defaults() -> None:
    args = build_parser().parse_args(["report"])
    assert (args.source, args.reports_dir) == (None, None)
    args = build_parser().parse_args(["report", "--from", "a/signoff.json", "--reports-dir", "b"])
    assert (args.source, args.reports_dir) == ("a/signoff.json", "b")


def namespace(**kw: object) -> argparse.Namespace:
    return argparse.Namespace(**{"load_results": None, "skip_load": False, "profile": "ci", **kw})


def test_without_a_load_stage_the_sign_off_skips_it_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    reports = tmp_path / "reports"
    stages = Stages(namespace(), [], reports, run=lambda command: pytest.fail(f"ran {command}"))
    stages.load()
    assert "loadtests/agents.py does not exist" in capsys.readouterr().err
    assert (stages.options, stages.runs[-1].status) == ([], "skipped")  # not run: its gates block
    stages.args = namespace(load_results="runs/1")
    stages.load()
    assert stages.options == ["--load-results", str(tmp_path / "runs" / "1")]
    assert stages.runs[-1].status == "given"
    stages.args = namespace(skip_load=True)
    stages.load()
    assert stages.runs[-1].reason == "skipped by --skip-load"


# --- the plugin, in a child pytest (the local environment; no test here boots the stack) -----------------

GATES = """gates:
  - {id: tests_pass, title: All tests pass, metric: tests.pass_rate, op: ">=", threshold: 100, unit: "%"}
  - {id: load_error_rate, title: Load errors, metric: load.error_rate, op: "<", threshold: 2, stage: load}
  - {id: load_reply_p95, title: Reply p95, metric: load.reply_p95_ms, op: "<", threshold: 500, stage: load}
"""
SUMMARY = {
    "schema": LOAD_SCHEMA,
    "requests": {"reply": {"count": 10, "failures": 0, "p50_ms": 5, "p95_ms": 9, "p99_ms": 9, "max_ms": 9}},
    "error_rate_pct": 0.0,
    "reply_p95_ms": 9.0,
    "ack_p95_ms": 2.0,
    "samples": 10,
    "reply_samples": 10,
    "ack_samples": 10,
}


LOAD_WAIVER = "- gate: load_*\n  reason: no load rig on staging\n  owner: ops\n  expires: 2999-12-31\n"


@pytest.mark.parametrize(
    ("option", "verdict", "code"),
    [
        ("--skip-load", "NO-GO", 1),  # fail closed: the load gates were not run
        ("waived", "GO with waivers", 0),  # --skip-load, and a waiver names load_*
        ("--load-results", "GO", 0),
        (None, "NO-GO", 1),
    ],
)
def test_plugin_load_options(tmp_path: Path, option: str | None, verdict: str, code: int) -> None:
    (tmp_path / "test_it.py").write_text("def test_ok():\n    assert True\n")
    (tmp_path / "signoff.yaml").write_text(GATES)
    if option == "waived":
        (tmp_path / "waivers.yaml").write_text(LOAD_WAIVER)
    (tmp_path / "load").mkdir()
    (tmp_path / "load" / "summary.json").write_text(json.dumps(SUMMARY))
    extra = {
        "--skip-load": ["--skip-load"],
        "waived": ["--skip-load"],
        "--load-results": ["--load-results", "load"],
        None: [],
    }[option]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "test_it.py", "--signoff", "-p", "no:cacheprovider",
         "--env-file", str(REPO / "environments" / "local.yaml"), "--rootdir", str(tmp_path), *extra],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == code, out.stdout + out.stderr
    report = json.loads((tmp_path / "reports" / "signoff.json").read_text())
    assert report["verdict"] == verdict
    assert (tmp_path / "reports" / "signoff.html").is_file()
    assert f"QA sign-off: {verdict}" in out.stdout
    if option in ("--skip-load", "waived"):
        assert report["skipped_stages"] == ["load"]
        assert "LOAD STAGE SKIPPED: THIS VERDICT DOES NOT COVER PERFORMANCE" in out.stdout
    if option == "--skip-load":
        assert report["failed_gates"] == ["load_error_rate", "load_reply_p95"]
    elif option == "waived":
        assert "waived gates: load_error_rate, load_reply_p95" in out.stdout
        assert report["waivers"]["applied"][0]["applies_to"] == ["load_error_rate", "load_reply_p95"]
    elif option == "--load-results":
        assert report["load"]["reply_p95_ms"] == 9.0
    else:
        assert report["failed_gates"] == ["load_error_rate", "load_reply_p95"]


def test_verdict_command_checks_the_expected_verdict_and_gates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from easymo_qa.cli import main

    report = tmp_path / "signoff.json"
    report.write_text(json.dumps({"verdict": "NO-GO", "failed_gates": ["load_reply_p95"]}))
    assert main(["verdict", str(report)]) == 0
    assert "NO-GO (failed: load_reply_p95)" in capsys.readouterr().out
    assert main(["verdict", str(report), "--expect", "NO-GO", "--failed", "load_reply_p95"]) == 0
    assert main(["verdict", str(report), "--expect", "GO"]) == 1
    assert main(["verdict", str(report), "--expect", "NO-GO", "--failed", "tests_pass"]) == 1
    assert main(["verdict", str(tmp_path / "missing.json")]) == 2
    report.write_text(json.dumps({"verdict": "GO with waivers", "failed_gates": []}))
    assert main(["verdict", str(report), "--expect", "GO with waivers"]) == 0
    assert main(["verdict", str(report), "--expect", "GO"]) == 1  # a waived GO is not a clean GO


def test_a_failed_smoke_stage_skips_the_stages_that_could_not_mean_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from easymo_qa.signoff.stage_runs import StageRuns
    from easymo_qa.stages import runner as stages

    ran: list[list[str]] = []

    def run(command: list[str]) -> tuple[int, str]:
        ran.append(command)
        return 1, "E   the bot is down\n"

    monkeypatch.chdir(REPO)
    reports = tmp_path / "reports"
    args = namespace(workers="2", reliability_results=None, skip_reliability=False)
    given = stages.Stages(args, ["--env", "local"], reports, run=run).run_all()
    assert len(ran) == 1
    assert "tests/smoke" in ran[0]
    assert given == ["--stage-runs", str((reports / "stages.json").resolve())]
    record = StageRuns.from_json(reports / "stages.json")
    assert [(r.stage, r.status) for r in record.stages] == [
        ("smoke", "ran"),
        ("reliability", "skipped"),
        ("rollback", "skipped"),
        ("cutover", "skipped"),
        ("load", "skipped"),
    ]
    assert "smoke stage failed" in record.skipped["load"]
    [problem] = record.problems()
    assert (problem.stage, problem.message) == ("smoke", "exit code 1")
    assert "the bot is down" in problem.transcript
    kept = stages.Stages(namespace(workers="2", load_results="runs/1"), [], reports, run=run).run_all()
    assert kept[:2] == ["--load-results", str(REPO / "runs" / "1")]  # a given result still counts


def test_a_stage_output_is_shown_live_and_its_tail_kept(capsys: pytest.CaptureFixture[str]) -> None:
    from easymo_qa.stages.runner import TAIL_LINES, run_streamed

    script = "import sys\nfor i in range(100):\n    print(f'line {i}')\nsys.exit(3)\n"
    code, tail = run_streamed([sys.executable, "-c", script])
    assert code == 3
    assert tail.splitlines() == [f"line {i}" for i in range(100 - TAIL_LINES, 100)]
    assert "line 0\n" in capsys.readouterr().out  # echoed as it came


def test_a_stage_the_environment_cannot_give_is_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staging without the SUT's admin and flag APIs: the storm, the drill and the cutover suite are not run
    (their tests would only be skipped), each says what the environment lacks, and their gates block GO."""
    from easymo_qa.stages import runner as stages

    monkeypatch.chdir(REPO)
    args = namespace(reliability_results=None, skip_reliability=False, rollback_results=None)
    args.skip_rollback = args.skip_cutover = False
    staged = stages.Stages(
        args, ["--env", "staging"], tmp_path, run=lambda c: pytest.fail(f"ran {c}"), capabilities=("easymo",)
    )
    staged.reliability()
    staged.rollback()
    staged.cutover()
    assert [(r.stage, r.status) for r in staged.runs] == [
        ("reliability", "skipped"),
        ("rollback", "skipped"),
        ("cutover", "skipped"),
    ]
    assert staged.runs[0].reason == "the environment lacks 'observability' (needed by the reliability stage)"
    assert staged.runs[1].reason == "the environment lacks 'flags' (needed by the rollback stage)"


def test_the_sign_off_hands_the_environments_capabilities_to_its_stages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment file is read once by the command; its capabilities decide which stages can run."""
    from easymo_qa import cli

    env = tmp_path / "env.yaml"
    env.write_text("name: x\nstack: local\ncapabilities: [easymo]\n", encoding="utf-8")
    handed: list[object] = []
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(cli.signoff, "run_signoff", lambda *a: handed.append(a[4]) or 0)
    assert cli.main(["signoff", "--env-file", str(env), "--reports-dir", str(tmp_path / "r")]) == 0
    assert handed == [("easymo",)]
    env.write_text("name: x\nstack: local\ncapabilities: [teleport]\n", encoding="utf-8")  # does not load
    assert cli.main(["signoff", "--env-file", str(env), "--reports-dir", str(tmp_path / "r")]) == 0
    assert handed[-1] is None  # unknown: every stage is tried, and the smoke stage names the problem
