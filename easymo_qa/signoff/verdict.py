"""The verdict: GO only when no gate blocks (every counted gate passed, or was waived).

Fail closed: a gate that was not run blocks like a failed one. A GO that needed a waiver (a gate failed
or not run, or a not-covered test, each named by a valid waiver) is "GO with waivers", so nobody reads it
as a clean GO; it is still a GO (exit code 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from easymo_qa.gates import GateResult

GO, GO_WITH_WAIVERS, NO_GO = "GO", "GO with waivers", "NO-GO"
Decision = Literal["GO", "GO with waivers", "NO-GO"]
DECISIONS: tuple[str, ...] = (GO, GO_WITH_WAIVERS, NO_GO)


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    failed_gates: tuple[str, ...]
    waived_gates: tuple[str, ...] = ()

    @property
    def go(self) -> bool:
        return self.decision != NO_GO


def decide(results: list[GateResult], *, waived_tests: int = 0) -> Verdict:
    """``waived_tests``: not-covered tests a waiver excused (a GO then needed a waiver too)."""
    if not results:
        return Verdict(NO_GO, ("no gates defined",))
    if all(r.not_run or r.gate.report_only for r in results):
        return Verdict(NO_GO, ("no gate was evaluated",))
    failed = tuple(r.gate.id for r in results if r.blocking)
    waived = tuple(r.gate.id for r in results if r.waived)
    if failed:
        return Verdict(NO_GO, failed, waived)
    return Verdict(GO_WITH_WAIVERS if waived or waived_tests else GO, (), waived)
