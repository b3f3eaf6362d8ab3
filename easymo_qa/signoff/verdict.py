"""The verdict: GO only when no gate blocks (every counted gate passed or was waived)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from easymo_qa.signoff.gates import GateResult


@dataclass(frozen=True)
class Verdict:
    decision: Literal["GO", "NO-GO"]
    failed_gates: tuple[str, ...]

    @property
    def go(self) -> bool:
        return self.decision == "GO"


def decide(results: list[GateResult]) -> Verdict:
    if not results:
        return Verdict("NO-GO", ("no gates defined",))
    if all(r.not_run or r.gate.report_only for r in results):
        return Verdict("NO-GO", ("no gate was evaluated",))
    failed = tuple(r.gate.id for r in results if r.blocking)
    return Verdict("NO-GO" if failed else "GO", failed)
