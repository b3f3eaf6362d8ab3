"""The sign-off fails closed: missing evidence, skipped stages and failed stages never say GO.

Each case feeds the assessment the files a real `easymo-qa signoff` would hand it (``stages.json``,
``rollback.json``, ``reliability.json``, ``summary.json``) with the shipped ``signoff.yaml``; one test
runs the command end to end on a tiny suite, and one proves the inputs are checked before any stage.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from signoff_evidence import ran, rollback, stage_runs

from easymo_qa.gates import METRICS, GatesFileError, load_gates, metrics_of
from easymo_qa.signoff.assess import assess
from easymo_qa.signoff.files import check_inputs
from easymo_qa.signoff.load import LOAD_SCHEMA, LoadSummary
from easymo_qa.signoff.model import Assessment, RunInfo
from easymo_qa.signoff.reliability import RELIABILITY_SCHEMA, ReliabilityResult
from easymo_qa.signoff.report import build_report
from easymo_qa.signoff.results import RunResults
from easymo_qa.signoff.stage_runs import StageRun, StageRuns
from easymo_qa.signoff.waivers import Waiver, Waivers, WaiversFileError

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 25)
GATES = load_gates(REPO / "signoff.yaml")


def healthy_tests() -> RunResults:
    """The final session: smoke, 21 synthetic scenarios and a journey passed, replies measured."""
    results = RunResults()
    for i in range(21):
        results.record(
            f"tests/synthetic/{i:02d}.scenario.yaml::s{i}", "setup", "passed", markers=("synthetic",)
        )
        results.record(
            f"tests/synthetic/{i:02d}.scenario.yaml::s{i}", "call", "passed", markers=("synthetic",)
        )
    results.record("tests/smoke/test_protocol.py::test_verify", "setup", "passed", markers=("smoke",))
    results.record("tests/smoke/test_protocol.py::test_verify", "call", "passed", markers=("smoke",))
    results.hygiene_checked = 40
    results.record_latency({"samples_ms": [40.0] * 20, "timed_out": 0, "censor_ms": 5000.0})
    return results


def load_summary() -> LoadSummary:
    stats = {"count": 900, "failures": 0, "p50_ms": 20, "p95_ms": 60, "p99_ms": 90, "max_ms": 120}
    return LoadSummary.from_dict(
        {
            "schema": LOAD_SCHEMA, "requests": {"REPLY": stats}, "error_rate_pct": 0.0, "reply_p95_ms": 60.0,
            "ack_p95_ms": 5.0, "samples": 900, "reply_samples": 900, "ack_samples": 900,
        }
    )  # fmt: skip


def reliability(**changes: Any) -> ReliabilityResult:
    data = {
        "schema": RELIABILITY_SCHEMA, "users": 60, "sent": 1045, "accepted": 1045, "replied": 1045,
        "no_reply_with_reason": 0, "lost": 0, "duplicates_sent": 124, "duplicates_suppressed": 124,
        "duplicate_replies": 0, "orders_checked": 15, "duplicate_effects": 0,
    }  # fmt: skip
    return ReliabilityResult.from_dict({**data, **changes})


def signoff(
    *,
    runs: StageRuns | None = None,
    waivers: tuple[Waiver, ...] = (),
    load: LoadSummary | None = None,
    skipped: dict[str, str] | None = None,
    **evidence: Any,
) -> Assessment:
    return assess(
        healthy_tests(),
        GATES,
        waivers=Waivers(waivers, "waivers.yaml"),
        load=load_summary() if load is None and "load" not in (skipped or {}) else load,
        rollback=evidence.get("rollback", rollback()),
        reliability=evidence.get("reliability", reliability()),
        skipped_stages=skipped,
        stage_runs=runs if runs is not None else stage_runs(),
        today=TODAY,
    )


def failures(a: Assessment) -> list[dict[str, Any]]:
    started = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    return build_report(a, healthy_tests(), RunInfo("local", started, started))["failures"]


def test_every_stage_passing_is_go() -> None:
    a = signoff()
    assert (a.verdict.decision, a.verdict.failed_gates) == ("GO", ())
    assert failures(a) == []


# --- 1. fail closed -------------------------------------------------------------------------------------


def test_skip_load_is_no_go_naming_the_load_gates() -> None:
    a = signoff(skipped={"load": "skipped by --skip-load"})
    assert a.verdict.decision == "NO-GO"
    assert a.verdict.failed_gates == ("load_error_rate", "load_reply_p95")
    assert {r.gate.id: r.status for r in a.gates if r.gate.stage == "load"}["load_error_rate"] == "not run"


def test_skip_load_with_a_waiver_naming_load_gates_is_go_with_waivers() -> None:
    waiver = Waiver(
        "no load rig on staging", "ops", date(2026, 12, 31), gate="load_*", where="waivers.yaml:1"
    )
    a = signoff(skipped={"load": "skipped by --skip-load"}, waivers=(waiver,))
    assert (a.verdict.decision, a.verdict.failed_gates) == ("GO with waivers", ())
    assert a.verdict.waived_gates == ("load_error_rate", "load_reply_p95")
    [use] = a.waivers
    assert (use.state, use.applies_to) == ("applied", ("load_error_rate", "load_reply_p95"))
    expired = Waiver("old", "ops", date(2026, 11, 24), gate="load_*", where="waivers.yaml:1")
    assert signoff(skipped={"load": "skipped"}, waivers=(expired,)).verdict.decision == "NO-GO"


def test_a_waiver_for_one_gate_leaves_the_other_not_run_gate_blocking() -> None:
    waiver = Waiver("tier", "ops", date(2026, 12, 31), gate="load_reply_p95", where="waivers.yaml:1")
    a = signoff(skipped={"load": "skipped by --skip-load"}, waivers=(waiver,))
    assert a.verdict.failed_gates == ("load_error_rate",)


def test_a_failed_smoke_stage_is_no_go_even_with_every_later_stage_waived() -> None:
    smoke_failed = ran(
        "smoke", exit_code=1, failed={"tests/smoke/test_protocol.py::test_verify_handshake": "503"}
    )
    reason = "the smoke stage failed, so a storm, drill, cutover or load run could not mean anything"
    runs = stage_runs(
        smoke=smoke_failed,
        **{s: StageRun(s, "skipped", reason) for s in ("reliability", "rollback", "cutover")},
        load=StageRun("load", "skipped", reason, pytest=False),
    )
    waive_all = tuple(
        Waiver("smoke flaked", "qa", date(2026, 12, 31), gate=f"{stage}_*", where=f"w:{i}")
        for i, stage in enumerate(("load", "reliability", "rollback", "cutover"))
    )
    a = signoff(runs=runs, waivers=waive_all, rollback=None, reliability=None, load=None)
    assert a.verdict.decision == "NO-GO"
    assert a.verdict.failed_gates == ("smoke_stage",)
    [failure] = failures(a)
    assert (failure["stage"], failure["message"]) == ("smoke", "503")
    assert "smoke output tail" in failure["transcript"]


# --- a stage's own assertions, and its result file -----------------------------------------------------


def test_a_failed_rollback_drill_is_no_go_naming_its_gates_with_the_transcript() -> None:
    drill = "tests/cutover/test_rollback.py::test_rollback_drill_under_load"
    message = "AssertionError: 1394 messages: 994 without a reply, 0 extra replies"
    runs = stage_runs(rollback=ran("rollback", exit_code=1, failed={drill: message}))
    a = signoff(runs=runs, rollback=rollback(messages=1394, lost=994))
    assert a.verdict.decision == "NO-GO"
    assert a.verdict.failed_gates == ("rollback_lost", "rollback_checks")
    lost = next(r for r in a.gates if r.gate.id == "rollback_lost")
    assert (lost.measurement.value, lost.measurement.samples) == (994, 1394)
    [failure] = failures(a)
    assert (failure["test"], failure["stage"], failure["message"]) == (drill, "rollback", message)
    assert failure["transcript"] == "... rollback output tail ...\n"  # no transcript: the output tail
    assert failure["rerun"] == ".venv/bin/python -m pytest rollback"


def test_duplicated_messages_during_the_flip_block() -> None:
    a = signoff(rollback=rollback(duplicated=3))
    assert a.verdict.failed_gates == ("rollback_duplicated",)


def test_a_storm_with_failed_handling_is_no_go_naming_its_gates() -> None:
    storm = "tests/reliability/test_webhook_reliability.py::test_webhook_reliability"
    runs = stage_runs(reliability=ran("reliability", exit_code=1, failed={storm: "handling failed"}))
    a = signoff(runs=runs, reliability=reliability(replied=1030, failed_handling=15))
    assert a.verdict.failed_gates == ("reliability_failed_handling", "reliability_checks")
    assert [f["stage"] for f in failures(a)] == ["reliability"]


def test_a_failed_cutover_stage_is_no_go_naming_the_check() -> None:
    rollout = "tests/cutover/test_rollout.py::test_share_of_ai_users_matches_the_rollout_percentage[10]"
    runs = stage_runs(cutover=ran("cutover", exit_code=1, failed={rollout: "share 17 % at 10 %"}))
    a = signoff(runs=runs)
    assert a.verdict.failed_gates == ("cutover_rollout", "cutover_checks")
    gate = next(r for r in a.gates if r.gate.id == "cutover_rollout")
    assert gate.measurement.source == "test_rollout.py: 0 of 1 tests passed"


def test_a_cutover_check_not_covered_fails_its_gate_for_lack_of_evidence() -> None:
    dashboard = "tests/cutover/test_dashboard.py::test_dashboard_shows_live_numbers"
    runs = stage_runs(
        cutover=ran("cutover", skipped={dashboard: "not covered: no Chromium at /usr/bin/chromium"})
    )
    a = signoff(runs=runs)
    assert a.verdict.failed_gates == ("cutover_dashboard",)
    gate = next(r for r in a.gates if r.gate.id == "cutover_dashboard")
    assert gate.reason == "no samples: a gate without evidence fails"
    assert "1 not covered (not covered: no Chromium" in gate.measurement.source


def test_a_stage_that_wrote_no_result_blocks_and_is_listed() -> None:
    runs = stage_runs(reliability=ran("reliability", exit_code=2, written=False))
    a = signoff(runs=runs, reliability=None)
    assert set(a.verdict.failed_gates) == {
        "reliability_lost", "reliability_duplicate_replies", "reliability_duplicate_effects",
        "reliability_failed_handling", "reliability_checks",
    }  # fmt: skip
    [failure] = failures(a)
    assert failure["test"] == "stage reliability"
    assert failure["message"] == "the webhook reliability storm wrote no reliability.json (exit code 2)"


def test_a_drill_not_covered_says_why_it_wrote_no_result() -> None:
    drill = "tests/cutover/test_rollback.py::test_rollback_drill_under_load"
    why = "not covered: environment 'staging' lacks the 'flags' capability"
    runs = stage_runs(rollback=ran("rollback", written=False, skipped={drill: why}))
    a = signoff(runs=runs, rollback=None)
    assert {"rollback_lost", "rollback_duplicated", "rollback_checks"} <= set(a.verdict.failed_gates)
    [failure] = failures(a)
    assert failure["message"] == f"the rollback drill wrote no rollback.json ({why})"


def test_a_crashed_stage_counts_even_without_a_failed_test() -> None:
    crashed = StageRun("cutover", "ran", command="pytest", exit_code=3, output_tail="INTERNALERROR> boom\n")
    a = signoff(runs=stage_runs(cutover=crashed))
    assert "cutover_checks" in a.verdict.failed_gates
    [failure] = failures(a)
    assert failure["message"] == "exit code 3 (internal error)"
    assert "INTERNALERROR> boom" in failure["transcript"]


def test_a_given_result_file_does_not_vouch_for_the_stage_checks() -> None:
    given = StageRun("rollback", "given", "result given: /runs/1/rollback.json")
    a = signoff(runs=stage_runs(rollback=given))
    assert a.verdict.failed_gates == ("rollback_checks",)
    gate = next(r for r in a.gates if r.gate.id == "rollback_checks")
    assert gate.measurement.source.startswith("not measured: result given: /runs/1/rollback.json")


def test_without_stage_records_the_stage_gates_fail() -> None:
    a = assess(healthy_tests(), GATES, load=load_summary(), rollback=rollback(), reliability=reliability())
    assert {"smoke_stage", "cutover_checks", "rollback_checks", "reliability_checks"} <= set(
        a.verdict.failed_gates
    )


# --- the inputs, checked before any stage ---------------------------------------------------------------


def test_every_registered_metric_has_its_producer() -> None:
    """Each producer measures exactly the metrics the registry says its stage produces."""
    assert metrics_of("load") == set(load_summary().measurements())
    assert metrics_of("rollback") == set(rollback().measurements()) | {"rollback.failed_checks"}
    assert metrics_of("reliability") == set(reliability().measurements()) | {"reliability.failed_checks"}
    assert metrics_of("cutover") == set(ran("cutover").measurements())
    assert metrics_of("smoke") == set(ran("smoke").measurements())
    assert set(RunResults().measurements()) <= metrics_of("tests")
    assert {g.metric for g in GATES} <= set(METRICS)


def test_a_metric_no_stage_produces_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "signoff.yaml"
    path.write_text(
        "gates:\n  - {id: ok, title: T, metric: tests.pass_rate, op: '>=', threshold: 100}\n"
        "  - id: typo\n    title: Load errors\n    metric: load.eror_rate\n    op: '<'\n    threshold: 2\n"
    )
    with pytest.raises(
        GatesFileError, match=rf"{path}:5: gates.1.metric: no stage produces a metric 'load.eror_rate'"
    ):
        load_gates(path)
    path.write_text(
        "gates:\n  - {id: a, title: A, metric: load.error_rate, op: '<', threshold: 2, stage: tests}\n"
    )
    with pytest.raises(GatesFileError, match=r"measured by the load stage, not tests"):
        load_gates(path)


def test_a_waiver_pattern_that_names_no_gate_is_an_error(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("- gate: lod_*\n  reason: typo\n  owner: qa\n  expires: 2026-12-31\n")
    with pytest.raises(WaiversFileError, match=rf"{waivers}:1: waiver for unknown gate 'lod_\*'"):
        check_inputs(REPO / "signoff.yaml", waivers)


def test_bad_inputs_stop_the_sign_off_before_any_stage_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from easymo_qa import cli

    (tmp_path / "tests" / "smoke").mkdir(parents=True)
    (tmp_path / "signoff.yaml").write_text(
        "gates:\n  - {id: a, title: A, metric: tests.passrate, op: '>=', threshold: 100}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.signoff, "run_signoff", lambda *a, **k: pytest.fail("a stage ran"))
    env = str(REPO / "environments" / "local.yaml")
    assert cli.main(["signoff", "--env-file", env, "--suites", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "signoff.yaml:2: gates.0.metric: no stage produces a metric 'tests.passrate'" in err
    assert "nothing was run" in err


# --- end to end: `easymo-qa signoff --skip-load` on a tiny suite (no stack boots) -----------------------

TINY_GATES = """gates:
  - {id: smoke_stage, title: Smoke stage, metric: smoke.failed_checks, op: "==", threshold: 0}
  - {id: tests_pass, title: All tests pass, metric: tests.pass_rate, op: ">=", threshold: 100}
  - {id: load_error_rate, title: Load errors, metric: load.error_rate, op: "<", threshold: 2}
  - {id: load_reply_p95, title: Reply p95, metric: load.reply_p95_ms, op: "<", threshold: 500}
"""


@pytest.mark.parametrize(("waived", "verdict", "code"), [(False, "NO-GO", 1), (True, "GO with waivers", 0)])
def test_cli_skip_load_end_to_end(tmp_path: Path, waived: bool, verdict: str, code: int) -> None:
    (tmp_path / "tests" / "smoke").mkdir(parents=True)
    (tmp_path / "tests" / "smoke" / "test_ok.py").write_text(
        "import pytest\n\n@pytest.mark.smoke\ndef test_ok():\n    assert True\n"
    )
    (tmp_path / "signoff.yaml").write_text(TINY_GATES)
    if waived:
        (tmp_path / "waivers.yaml").write_text(
            "- gate: load_*\n  reason: no load rig here\n  owner: qa\n  expires: 2999-12-31\n"
        )
    shutil.copytree(REPO / "environments", tmp_path / "environments")
    out = subprocess.run(
        [sys.executable, "-m", "easymo_qa.cli", "signoff", "--env", "local", "--suites", "smoke", "-n", "0",
         "--skip-load", "--reports-dir", str(tmp_path / "reports")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == code, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads((tmp_path / "reports" / "signoff.json").read_text())
    assert report["verdict"] == verdict
    assert report["stages"]["load"] == {"status": "skipped", "reason": "skipped by --skip-load"}
    assert report["stages"]["smoke"]["status"] == "run"
    if waived:
        assert "\nGO with waivers\n" in out.stdout
        assert (
            "WAIVED: load_error_rate, load_reply_p95 by qa until 2999-12-31: no load rig here" in out.stdout
        )
    else:
        assert "\nNO-GO (failed: load_error_rate, load_reply_p95)\n" in out.stdout
