"""The verdict: GO only when every gate passes."""

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
    failed = tuple(r.gate.id for r in results if not r.passed)
    if not results:
        return Verdict("NO-GO", ("no gates defined",))
    return Verdict("NO-GO" if failed else "GO", failed)
