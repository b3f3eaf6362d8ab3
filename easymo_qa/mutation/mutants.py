"""The mutants in cosmic-ray's work database: which to run (the plan), one run, and its recorded result."""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from easymo_qa.mutation.command import confirm_command, run_command
from easymo_qa.mutation.filters import excluded_spans, exclusion
from easymo_qa.mutation.results import Mutant, Result, sample


def _mutant(job_id: str, spec: Any) -> Mutant:
    line, col = spec.start_pos
    path, operator = str(spec.module_path), spec.operator_name
    return Mutant(job_id, path, line, col, operator, spec.occurrence, spec.definition_name)


@dataclass
class Plan:
    population: int
    excluded: Counter[str]
    eligible: list[Mutant]
    chosen: list[Mutant]
    specs: dict[str, Any]  # job id → cosmic-ray MutationSpec


def plan(db: Any, scratch: Path, size: int, seed: int) -> Plan:
    """Skip what cannot matter (with the reason), draw the sample, mark the rest "not sampled"."""
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    done = {job_id for job_id, _ in db.results}  # cosmic-ray's own filters ran before
    specs = {item.job_id: item.mutations[0] for item in db.work_items if item.job_id not in done}
    files = {str(spec.module_path) for spec in specs.values()}
    spans = {f: excluded_spans((scratch / f).read_text(encoding="utf-8")) for f in files}
    excluded: Counter[str] = Counter({"operator filter": len(done)} if done else {})
    eligible = []
    for job_id, spec in specs.items():
        why = exclusion(spans[str(spec.module_path)], tuple(spec.start_pos), tuple(spec.end_pos))
        if why:
            excluded[why] += 1
            db.set_result(job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=why))
        else:
            eligible.append(_mutant(job_id, spec))
    chosen = sample(eligible, size, seed)
    picked = {m.job_id for m in chosen}
    db.set_multiple_results(
        [m.job_id for m in eligible if m.job_id not in picked],
        WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output="not sampled"),
    )
    return Plan(len(specs) + len(done), excluded, eligible, chosen, specs)


def run_mutant(mutant: Mutant, spec: Any, scratch: Path, command: list[str], timeout: float) -> Result:
    """Apply one mutant on disk (cosmic-ray restores the file afterwards) and run the test command."""
    from cosmic_ray.mutating import use_mutation
    from cosmic_ray.plugins import get_operator

    path = scratch / spec.module_path
    code = path.read_text(encoding="utf-8").splitlines()[mutant.line - 1].strip()
    operator = get_operator(spec.operator_name)(**(spec.operator_args or {}))
    try:
        with use_mutation(path, operator, spec.occurrence) as (original, mutated):
            if mutated is None:
                return Result(mutant, "incompetent", code=code, detail="no mutation possible")
            ran = run_command(command, scratch, timeout, scratch / "outcomes.jsonl")
            confirmed, extra = ran.passed or ran.timed_out or not ran.failed, 0.0
            if not confirmed:  # the killing tests alone, in one process, against the same mutant
                narrowed = confirm_command(command, ran.failed)
                alone = run_command(narrowed, scratch, timeout, scratch / "outcomes.jsonl")
                confirmed, extra = not alone.passed, alone.seconds
    except (KeyboardInterrupt, OSError):
        raise
    except Exception as exc:  # noqa: BLE001 - an operator that could not apply its mutation
        return Result(mutant, "incompetent", code=code, detail=f"{type(exc).__name__}: {exc}")
    a, b = f"a/{spec.module_path}", f"b/{spec.module_path}"
    diff = "\n".join(difflib.unified_diff(original.split("\n"), mutated.split("\n"), a, b, lineterm="", n=1))
    outcome = "survived" if ran.passed else "killed" if confirmed else "unconfirmed"
    seconds = ran.seconds + extra
    return Result(mutant, outcome, seconds, diff, code, ran.timed_out, ran.detail, ran.failed)


def record(db: Any, result: Result) -> None:
    """The result in cosmic-ray's work database, so ``cr-report`` reads a kept session."""
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    # cosmic-ray's view of an unconfirmed kill is "killed" (the command failed); the output says otherwise
    outcome = {
        "killed": TestOutcome.KILLED,
        "unconfirmed": TestOutcome.KILLED,
        "survived": TestOutcome.SURVIVED,
    }
    worker = WorkerOutcome.EXCEPTION if result.outcome == "incompetent" else WorkerOutcome.NORMAL
    db.set_result(
        result.mutant.job_id,
        WorkResult(
            worker_outcome=worker,
            test_outcome=outcome.get(result.outcome, TestOutcome.INCOMPETENT),
            output=("unconfirmed: " if result.outcome == "unconfirmed" else "") + result.detail,
            diff=result.diff,
        ),
    )
