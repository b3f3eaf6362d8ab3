"""Collects test outcomes during a run and turns them into sign-off measurements."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from easymo_qa.signoff.gates import Measurement


@dataclass
class TestOutcome:
    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: str  # passed | failed | error | skipped
    markers: tuple[str, ...] = ()
    duration: float = 0.0
    message: str = ""
    transcript: str = ""

    @property
    def critical(self) -> bool:
        return "critical" in self.markers


@dataclass
class RunResults:
    """Outcomes by test id; a failing setup or teardown makes the test an error."""

    outcomes: dict[str, TestOutcome] = field(default_factory=dict)

    def record(
        self,
        nodeid: str,
        when: str,
        outcome: str,
        *,
        markers: tuple[str, ...] = (),
        duration: float = 0.0,
        message: str = "",
        transcript: str = "",
    ) -> None:
        current = self.outcomes.get(nodeid)
        if when == "setup" or current is None:
            status = {"passed": "passed", "failed": "error", "skipped": "skipped"}[outcome]
            self.outcomes[nodeid] = TestOutcome(nodeid, status, markers, duration, message, transcript)
            return
        current.duration += duration
        current.markers = tuple(dict.fromkeys(current.markers + markers))
        if when == "call":
            current.outcome = outcome
        elif when == "teardown" and outcome == "failed" and current.outcome != "failed":
            current.outcome = "error"
        if outcome in ("failed", "skipped") and message:
            current.message = message
        if transcript:
            current.transcript = transcript

    def counts(self) -> Counter[str]:
        return Counter(o.outcome for o in self.outcomes.values())

    def failures(self) -> list[TestOutcome]:
        return [o for o in self.outcomes.values() if o.outcome in ("failed", "error")]

    def not_covered(self) -> list[TestOutcome]:
        return [o for o in self.outcomes.values() if o.outcome == "skipped"]

    def measurements(self) -> dict[str, Measurement]:
        counts = self.counts()
        ran = counts["passed"] + counts["failed"] + counts["error"]
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no tests"
        rate = 100.0 * counts["passed"] / ran if ran else None
        critical = sum(1 for o in self.failures() if o.critical)
        return {
            "tests.pass_rate": Measurement(rate, ran, f"pytest: {summary}"),
            "tests.critical_failures": Measurement(float(critical), ran, "tests marked critical that failed"),
            "tests.not_covered": Measurement(float(counts["skipped"]), len(self.outcomes), "skipped tests"),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts()), "tests": [asdict(o) for o in self.outcomes.values()]}
