"""From a run's evidence to a verdict: measurements, waivers, skipped stages, gates. Pure: no file is
read or written here (``signoff/files.py`` reads the inputs and writes the reports).

Fail closed: a gate not run blocks GO unless a waiver names it, and a stage that failed its own
assertions or wrote no result (``stages.json``) fails its ``<stage>_checks`` gate and is listed among
the failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from easymo_qa.gates import Gate, evaluate
from easymo_qa.rollback import RollbackResult
from easymo_qa.signoff.load import LoadSummary
from easymo_qa.signoff.model import Assessment, utc_today
from easymo_qa.signoff.reliability import ReliabilityResult
from easymo_qa.signoff.results import RunResults
from easymo_qa.signoff.stage_runs import StageRuns
from easymo_qa.signoff.verdict import decide
from easymo_qa.signoff.waivers import Waiver, Waivers, describe_use


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
