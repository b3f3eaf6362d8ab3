"""Gates: a threshold on one measured metric. A gate with zero samples fails."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from easymo_qa.yaml_source import YamlSourceError, load_yaml_file

Op = Literal["<", "<=", ">", ">=", "=="]
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    metric: str
    op: Op
    threshold: float
    unit: str = ""
    critical: bool = True


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
    passed: bool
    margin: float | None  # how far from the threshold, positive = on the good side
    reason: str


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
    for i, gate in enumerate(gates):
        if gate.id in seen:
            raise GatesFileError(f"{lines.where(('gates', i))}: gate id {gate.id!r} is used twice")
        seen.add(gate.id)
    return gates


def evaluate(gates: list[Gate], measurements: Mapping[str, Measurement]) -> list[GateResult]:
    results = []
    for gate in gates:
        m = measurements.get(gate.metric, Measurement(None, 0, "not measured in this run"))
        if m.samples == 0 or m.value is None:
            results.append(GateResult(gate, m, False, None, "no samples: a gate without evidence fails"))
            continue
        passed = _OPS[gate.op](m.value, gate.threshold)
        margin = gate.threshold - m.value if gate.op in ("<", "<=") else m.value - gate.threshold
        if gate.op == "==":
            margin = 0.0 - abs(m.value - gate.threshold) + 0.0  # + 0.0 turns -0.0 into 0.0
        reason = f"{m.value:g}{gate.unit} {gate.op} {gate.threshold:g}{gate.unit}"
        results.append(GateResult(gate, m, passed, margin, reason if passed else f"not {reason}"))
    return results
