"""From a run's evidence to a verdict: measurements, waivers, skipped stages, gates; then the reports.

Fail closed: a gate not run blocks GO unless a waiver names it, and a stage that failed its own
assertions or wrote no result (``stages.json``) fails its ``<stage>_checks`` gate and is listed among
the failures.

The pytest plugin calls :func:`sign_off` at the end of a ``--signoff`` session; tests call :func:`assess`
directly with a chosen ``today``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from easymo_qa.signoff.gates import Gate, GateResult, GatesFileError, evaluate, load_gates
from easymo_qa.signoff.load import LoadSummary, LoadSummaryError
from easymo_qa.signoff.reliability import ReliabilityResult, ReliabilityResultError
from easymo_qa.signoff.report import RunInfo, build_report, write_reports
from easymo_qa.signoff.results import RunResults
from easymo_qa.signoff.rollback import RollbackResult, RollbackResultError
from easymo_qa.signoff.stage_runs import StageProblem, StageRuns, StageRunsError
from easymo_qa.signoff.verdict import Verdict, decide
from easymo_qa.signoff.waivers import Waiver, Waivers, WaiversFileError, WaiverUse, describe_use, load_waivers

SKIPPED_BY_FLAG = {"load": "skipped by --skip-load", "reliability": "skipped by --skip-reliability"}
SKIP_WARNINGS = {
    "smoke": "Smoke stage not run: nothing showed the bot was up before the other stages",
    "load": "Load stage skipped: this verdict does not cover performance",
    "rollback": "Rollback stage skipped: this verdict does not cover the feature-flag rollback",
    "reliability": "Reliability stage skipped: this verdict does not cover webhook reliability",
    "cutover": "Cutover stage skipped: this verdict does not cover rollout shares, per-agent flags or the "
    "dashboard",
}
# Errors in the sign-off's inputs; each message names the file (and line, where there is one).
SignoffInputError = (
    GatesFileError,
    WaiversFileError,
    LoadSummaryError,
    RollbackResultError,
    ReliabilityResultError,
    StageRunsError,
)


def utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Assessment:
    gates: list[GateResult]
    verdict: Verdict
    waivers: list[WaiverUse] = field(default_factory=list)
    waivers_source: str = ""
    waived_tests: dict[str, Waiver] = field(default_factory=dict)  # node id → the waiver that covers it
    skipped_stages: dict[str, str] = field(default_factory=dict)
    load: LoadSummary | None = None
    today: date = field(default_factory=utc_today)
    reliability: ReliabilityResult | None = None
    stage_runs: StageRuns | None = None

    @property
    def warnings(self) -> list[str]:
        return [SKIP_WARNINGS.get(s, f"{s.capitalize()} stage skipped") for s in self.skipped_stages]

    @property
    def stage_problems(self) -> list[StageProblem]:
        """Stages that failed their own assertions, exited non-zero or wrote no result."""
        return self.stage_runs.problems() if self.stage_runs is not None else []


def assess(
    results: RunResults,
    gates: list[Gate],
    *,
    waivers: Waivers | None = None,
    load: LoadSummary | None = None,
    rollback: RollbackResult | None = None,
    reliability: ReliabilityResult | None = None,
    skipped_stages: Mapping[str, str] | None = None,
    today: date | None = None,
    stage_runs: StageRuns | None = None,
) -> Assessment:
    today = today or utc_today()
    waivers = waivers or Waivers()
    waivers.check_gate_ids(g.id for g in gates)
    active = waivers.active(today)
    waived_tests: dict[str, Waiver] = {}
    for outcome in results.not_covered():
        waiver = next((w for w in active if w.matches_test(outcome.nodeid)), None)
        if waiver is not None:
            waived_tests[outcome.nodeid] = waiver
    measurements = results.measurements(waived_tests)
    if load is not None:
        measurements.update(load.measurements())
    if rollback is not None:
        measurements.update(rollback.measurements())
    if reliability is not None:
        measurements.update(reliability.measurements())
    skipped = dict(skipped_stages or {})
    if stage_runs is not None:
        measurements.update(stage_runs.measurements())
        skipped.update(stage_runs.skipped)
    gate_results = evaluate(gates, measurements, waivers=active, skipped_stages=skipped)
    uses = describe_use(
        waivers.waivers,
        today,
        waived_gates=[r.gate.id for r in gate_results if r.waived],
        waived_tests=waived_tests,
        failed_gates=[r.gate.id for r in gate_results if r.blocking],
        not_covered_tests=[o.nodeid for o in results.not_covered() if o.nodeid not in waived_tests],
    )
    return Assessment(
        gate_results,
        decide(gate_results, waived_tests=len(waived_tests)),
        uses,
        waivers.source,
        waived_tests,
        skipped,
        load,
        today,
        reliability=reliability,
        stage_runs=stage_runs,
    )


def check_inputs(gates_path: Path, waivers_path: Path) -> tuple[list[Gate], Waivers]:
    """Read and cross-check ``signoff.yaml`` and ``waivers.yaml``; `easymo-qa signoff` calls it before any
    stage runs. Errors (``SignoffInputError``) name the file and line."""
    gates = load_gates(gates_path)
    waivers = load_waivers(waivers_path)
    waivers.check_gate_ids(g.id for g in gates)
    return gates, waivers


def sign_off(
    results: RunResults,
    *,
    gates_path: Path,
    waivers_path: Path,
    reports_dir: Path,
    redact: Callable[[str], str],
    info: RunInfo,
    load_results: Path | None = None,
    skip_load: bool = False,
    rollback_results: Path | None = None,
    reliability_results: Path | None = None,
    skip_reliability: bool = False,
    skip_reason: str | None = None,
    today: date | None = None,
    stage_runs: Path | None = None,
) -> tuple[Assessment, list[Path]]:
    """Read the inputs, decide, write ``signoff.{json,md,html}``; input errors raise ``SignoffInputError``."""
    if load_results is not None and skip_load:
        raise LoadSummaryError("--load-results and --skip-load contradict each other: give one")
    gates, waivers = check_inputs(gates_path, waivers_path)
    load = LoadSummary.from_json(load_results) if load_results is not None else None
    if reliability_results is not None and skip_reliability:
        raise ReliabilityResultError(
            "--reliability-results and --skip-reliability contradict each other: give one"
        )
    rollback = RollbackResult.from_json(rollback_results) if rollback_results is not None else None
    reliability = (
        ReliabilityResult.from_json(reliability_results) if reliability_results is not None else None
    )
    runs = StageRuns.from_json(stage_runs) if stage_runs is not None else None
    skipped = {"load": skip_reason or SKIPPED_BY_FLAG["load"]} if skip_load else {}
    if skip_reliability:
        skipped["reliability"] = skip_reason or SKIPPED_BY_FLAG["reliability"]
    assessment = assess(
        results,
        gates,
        waivers=waivers,
        load=load,
        rollback=rollback,
        reliability=reliability,
        skipped_stages=skipped,
        today=today,
        stage_runs=runs,
    )
    report = build_report(assessment, results, info)
    return assessment, write_reports(report, reports_dir, redact)
