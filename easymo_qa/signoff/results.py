"""Collects test outcomes during a run and turns them into sign-off measurements."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

from easymo_qa.signoff.gates import Measurement

# Suites of the report, by marker; the first that matches wins (a synthetic scenario is also a journey).
SUITES: tuple[tuple[str, str, str], ...] = (
    ("synthetic", "synthetic", "Synthetic failure scenarios"),
    ("journeys", "e2e", "End-to-end journeys"),
    ("smoke", "smoke", "Smoke"),
)
OTHER_SUITE = ("other", "", "Other tests")
OUTCOMES = ("passed", "failed", "error", "skipped")
SHOWN_ORDER = ("smoke", "journeys", "synthetic", "other")  # how the report lists the suites


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

    @property
    def ran(self) -> bool:
        return self.outcome != "skipped"

    @property
    def status(self) -> str:
        """As the report says it: pass, fail or not covered."""
        return {"passed": "pass", "skipped": "not covered"}.get(self.outcome, "fail")

    @property
    def suite(self) -> str:
        return next((name for name, marker, _ in SUITES if marker in self.markers), OTHER_SUITE[0])


@dataclass
class RunResults:
    """Outcomes by test id; a failing setup or teardown makes the test an error.

    Also the message hygiene of the run: how many messages the bot sent were checked, and every
    violation found (each with the id of the test that received it).
    """

    outcomes: dict[str, TestOutcome] = field(default_factory=dict)
    hygiene_checked: int = 0
    hygiene_violations: list[dict[str, Any]] = field(default_factory=list)
    hygiene_known: list[dict[str, Any]] = field(default_factory=list)  # known issues: listed, not counted

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

    def record_hygiene(self, nodeid: str, hygiene: dict[str, Any]) -> None:
        """One test's message hygiene: ``{checked, violations, known}`` (``HygieneLog.to_dict()``)."""
        self.hygiene_checked += int(hygiene.get("checked", 0))
        self.hygiene_violations += [{**v, "test": nodeid} for v in hygiene.get("violations", [])]
        self.hygiene_known += [{**v, "test": nodeid} for v in hygiene.get("known", [])]

    def counts(self) -> Counter[str]:
        return Counter(o.outcome for o in self.outcomes.values())

    def failures(self) -> list[TestOutcome]:
        return [o for o in self.outcomes.values() if o.outcome in ("failed", "error")]

    def not_covered(self) -> list[TestOutcome]:
        return [o for o in self.outcomes.values() if o.outcome == "skipped"]

    def by_suite(self) -> dict[str, list[TestOutcome]]:
        suites: dict[str, list[TestOutcome]] = {name: [] for name in SHOWN_ORDER}
        for o in self.outcomes.values():
            suites[o.suite].append(o)
        return suites

    def _marked(self, marker: str, prefix: str, what: str) -> dict[str, Measurement]:
        tests = [o for o in self.outcomes.values() if marker in o.markers]
        ran = [o for o in tests if o.ran]
        passed = sum(1 for o in ran if o.outcome == "passed")
        source = f"pytest -m {marker}: {passed} of {len(ran)} {what} passed"
        if len(tests) > len(ran):
            source += f", {len(tests) - len(ran)} not covered"
        return {
            f"{prefix}.passed": Measurement(float(passed), len(ran), source),
            f"{prefix}.total": Measurement(float(len(tests)), len(ran), f"{what} collected"),
        }

    def measurements(self, waived_tests: Collection[str] = ()) -> dict[str, Measurement]:
        """Metrics of the tests stage; ``waived_tests`` (node ids) don't count as not covered."""
        counts = self.counts()
        ran = counts["passed"] + counts["failed"] + counts["error"]
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no tests"
        rate = 100.0 * counts["passed"] / ran if ran else None
        critical = sum(1 for o in self.failures() if o.critical)
        skipped = [o for o in self.not_covered() if o.nodeid not in waived_tests]
        waived = counts["skipped"] - len(skipped)
        return {
            "tests.pass_rate": Measurement(rate, ran, f"pytest: {summary}"),
            "tests.critical_failures": Measurement(float(critical), ran, "tests marked critical that failed"),
            "tests.not_covered": Measurement(
                float(len(skipped)),
                len(self.outcomes),
                "skipped tests" + (f" ({waived} more waived)" if waived else ""),
            ),
            **self._marked("synthetic", "synthetic", "synthetic scenarios"),
            **self._marked("e2e", "e2e", "journeys"),
            "hygiene.violations": Measurement(
                float(len(self.hygiene_violations)),
                self.hygiene_checked,
                f"message hygiene: {self.hygiene_checked} messages the bot sent checked, "
                f"{len(self.hygiene_violations)} violations"
                + (f" ({len(self.hygiene_known)} known issues not counted)" if self.hygiene_known else ""),
            ),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts()),
            "tests": [asdict(o) for o in self.outcomes.values()],
            "hygiene": {
                "checked": self.hygiene_checked,
                "violations": self.hygiene_violations,
                "known": self.hygiene_known,
            },
        }
