"""Gates: a threshold on one measured metric, the metrics a gate may name, and their evaluation. A gate
with zero samples fails. The sign-off, the load test and the cutover drill all measure against these.

A gate belongs to the *stage* of the sign-off that produces its metric (``METRICS``). Fail
closed: a stage that did not run (``--skip-load``, or skipped after a failed smoke stage) leaves its gates
"not run", and a gate that was not run blocks GO like a failed one unless a waiver names it. A
``report_only`` gate is measured and shown but never blocks GO. A failed or not-run gate with a valid
waiver is "waived": the verdict is then "GO with waivers", and the report says who waived it, why and
until when.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from easymo_qa.yaml_source import YamlSourceError, load_yaml_file

Op = Literal["<", "<=", ">", ">=", "=="]
Stage = Literal["smoke", "reliability", "rollback", "cutover", "load", "tests"]
Status = Literal["pass", "fail", "waived", "not run", "report only"]

# The sign-off's stages, in the order `easymo-qa signoff` runs them; `tests` is the final pytest session.
STAGES: tuple[str, ...] = ("smoke", "reliability", "rollback", "cutover", "load", "tests")
# The cutover suite's checks, each a gate of its own: check → test file of tests/cutover.
CUTOVER_CHECKS: dict[str, str] = {
    "rollout": "test_rollout.py",
    "agent_flags": "test_agent_flags.py",
    "dashboard": "test_dashboard.py",
}

# Every metric a gate may name → the stage that produces it. signoff.yaml is checked against it before any
# stage runs (a typo would otherwise fail later as "no samples"); each producer measures exactly its
# stage's metrics here (tests/unit/test_signoff_fail_closed.py holds them to it).
METRICS: dict[str, str] = {
    # the final pytest session (smoke, journeys, synthetic scenarios)
    "tests.pass_rate": "tests",
    "tests.critical_failures": "tests",
    "tests.not_covered": "tests",
    "synthetic.passed": "tests",
    "synthetic.total": "tests",
    "e2e.passed": "tests",
    "e2e.total": "tests",
    "hygiene.violations": "tests",
    "messages.unapproved": "tests",  # the message inventory against fixtures/messages.approved.yaml
    "functional.reply_p95_ms": "tests",
    "functional.reply_max_ms": "tests",
    # stage 1: smoke alone, first
    "smoke.failed_checks": "smoke",
    # stage 2: the webhook reliability storm (reliability.json and the stage's own assertions)
    "reliability.lost": "reliability",
    "reliability.duplicate_replies": "reliability",
    "reliability.duplicate_effects": "reliability",
    "reliability.failed_handling": "reliability",
    "reliability.failed_checks": "reliability",
    # stage 3: the rollback drill (rollback.json and the stage's own assertions)
    "rollback.seconds": "rollback",
    "rollback.lost": "rollback",
    "rollback.duplicated": "rollback",
    "rollback.unexpected": "rollback",
    "rollback.failed_checks": "rollback",
    # stage 4: the cutover suite (rollout shares, per-agent flags, dashboard)
    **{f"cutover.{check}.failed": "cutover" for check in CUTOVER_CHECKS},
    "cutover.failed_checks": "cutover",
    # stage 5: the load test (reports/load/summary.json)
    "load.error_rate": "load",
    "load.reply_p95_ms": "load",
    "load.ack_p95_ms": "load",
}


def metrics_of(stage: str) -> set[str]:
    return {name for name, producer in METRICS.items() if producer == stage}


class Waiver(Protocol):
    """What a gate needs of a waiver (``signoff/waivers.py`` has the real one and reads waivers.yaml)."""

    target: str
    gate: str | None
    test: str | None
    reason: str
    owner: str
    expires: date
    where: str

    def covers(self, gate_id: str) -> bool: ...


_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


def spaced_unit(unit: str) -> str:
    """``%`` sticks to the number; other units get a space: ``12%``, ``480 ms``."""
    unit = unit.strip()
    return unit if unit in ("", "%") else f" {unit}"


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    metric: str
    op: Op
    threshold: float
    unit: str = ""
    critical: bool = True
    stage: Stage = "tests"
    report_only: bool = False


class GatesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gates: list[Gate]


@dataclass(frozen=True)
class Measurement:
    """A measured value with its evidence: how many samples, and where it came from."""

    value: float | None
    samples: int
    source: str


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    measurement: Measurement
    passed: bool  # the threshold is met, with evidence
    margin: float | None  # how far from the threshold, positive = on the good side
    reason: str
    waiver: Waiver | None = None  # the valid waiver that turned this failure into "waived"
    not_run: bool = False  # the gate's stage did not run (skipped on purpose, or after a failed smoke)

    @property
    def waived(self) -> bool:
        return self.waiver is not None

    @property
    def blocking(self) -> bool:
        """Does this gate stop a GO? Fail closed: a gate not run blocks unless it is waived."""
        return not (self.passed or self.waived or self.gate.report_only)

    @property
    def status(self) -> Status:
        if self.waived:
            return "waived"
        if self.not_run:
            return "not run"
        if self.passed:
            return "pass"
        return "report only" if self.gate.report_only else "fail"


class GatesFileError(ValueError):
    """signoff.yaml cannot be used; the message names the file and line."""


def load_gates(path: str | Path) -> list[Gate]:
    try:
        data, lines = load_yaml_file(path)
    except YamlSourceError as exc:
        raise GatesFileError(str(exc)) from None
    try:
        gates = GatesFile.model_validate(data).gates
    except ValidationError as exc:
        problems = [
            f"{lines.where(tuple(e['loc']))}: {'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors()
        ]
        raise GatesFileError("invalid sign-off gates:\n  " + "\n  ".join(problems)) from None
    seen: set[str] = set()
    problems = []
    for i, gate in enumerate(gates):
        if gate.id in seen:
            raise GatesFileError(f"{lines.where(('gates', i))}: gate id {gate.id!r} is used twice")
        seen.add(gate.id)
        producer = METRICS.get(gate.metric)
        if producer is None:
            problems.append(
                f"{lines.where(('gates', i, 'metric'))}: gates.{i}.metric: no stage produces a metric "
                f"{gate.metric!r} (gate {gate.id}; metrics: docs/signoff-schema.md)"
            )
        elif "stage" not in gate.model_fields_set:
            gates[i] = gate.model_copy(update={"stage": producer})
        elif gate.stage != producer:
            problems.append(
                f"{lines.where(('gates', i, 'stage'))}: gates.{i}.stage: {gate.metric!r} is measured by the "
                f"{producer} stage, not {gate.stage} (gate {gate.id}; drop `stage` or write {producer})"
            )
    if problems:
        raise GatesFileError("invalid sign-off gates:\n  " + "\n  ".join(problems))
    return gates


def _measure(gate: Gate, m: Measurement) -> tuple[bool, float | None, str]:
    if m.samples == 0 or m.value is None:
        return False, None, "no samples"
    passed = _OPS[gate.op](m.value, gate.threshold)
    margin = gate.threshold - m.value if gate.op in ("<", "<=") else m.value - gate.threshold
    if gate.op == "==":
        margin = 0.0 - abs(m.value - gate.threshold) + 0.0  # + 0.0 turns -0.0 into 0.0
    unit = spaced_unit(gate.unit)
    reason = f"{m.value:g}{unit} {gate.op} {gate.threshold:g}{unit}"
    return passed, margin, reason if passed else f"not {reason}"


def evaluate(
    gates: list[Gate],
    measurements: Mapping[str, Measurement],
    *,
    waivers: Sequence[Waiver] = (),
    skipped_stages: Mapping[str, str] | None = None,
) -> list[GateResult]:
    """Each gate against its metric.

    ``waivers`` must already be the valid (unexpired) ones; ``skipped_stages`` maps a stage that did not
    run to why (e.g. ``{"load": "skipped by --skip-load"}``). A gate not run blocks unless waived.
    """
    skipped = skipped_stages or {}
    results = []
    for gate in gates:
        if gate.stage in skipped:
            m = measurements.get(gate.metric, Measurement(None, 0, f"{gate.stage} stage not run"))
            reason = f"not run ({skipped[gate.stage]})"
            waiver = None if gate.report_only else next((w for w in waivers if w.covers(gate.id)), None)
            if waiver is not None:
                reason += f"; waived by {waiver.owner} until {waiver.expires.isoformat()}: {waiver.reason}"
            elif not gate.report_only:
                reason += ": a gate not run blocks GO unless a waiver names it"
            results.append(GateResult(gate, m, False, None, reason, waiver=waiver, not_run=True))
            continue
        m = measurements.get(gate.metric, Measurement(None, 0, "not measured in this run"))
        passed, margin, reason = _measure(gate, m)
        if gate.report_only and not passed:
            reason += " (report only: never blocks GO)"
        elif margin is None:
            reason += ": a gate without evidence fails"
        waiver = None
        if not passed and not gate.report_only:
            waiver = next((w for w in waivers if w.covers(gate.id)), None)
        if waiver is not None:
            reason = f"{reason}; waived by {waiver.owner} until {waiver.expires.isoformat()}: {waiver.reason}"
        results.append(GateResult(gate, m, passed, margin, reason, waiver=waiver))
    return results
