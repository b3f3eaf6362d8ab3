"""Collects test outcomes during a run and turns them into sign-off measurements."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

from easymo_qa.gates import Measurement

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
    # Functional reply latency: every expected reply of smoke, journeys and scenarios (ms), and the
    # expected replies that never came within the wait (censored at censor_ms, never averaged).
    reply_latencies_ms: list[float] = field(default_factory=list)
    replies_timed_out: int = 0
    reply_censor_ms: float = 0.0
    # Measured by side plugins at the session's end (the message inventory, easymo_qa/pytest_messages.py),
    # and their sections of the report, by name.
    extra_measurements: dict[str, Measurement] = field(default_factory=dict)
    extra_reports: dict[str, Any] = field(default_factory=dict)

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

    def record_latency(self, latency: dict[str, Any]) -> None:
        """One test's reply latencies: ``{samples_ms, timed_out, censor_ms}`` (from its transcript)."""
        self.reply_latencies_ms += [float(v) for v in latency.get("samples_ms", [])]
        self.replies_timed_out += int(latency.get("timed_out", 0))
        self.reply_censor_ms = max(self.reply_censor_ms, float(latency.get("censor_ms", 0.0)))

    def latency_measurements(self) -> dict[str, Measurement]:
        """p95 and max reply latency of the functional suites; timed-out replies make them censored."""
        done, lost = sorted(self.reply_latencies_ms), self.replies_timed_out
        total = len(done) + lost
        bound = f"≥ {self.reply_censor_ms:.0f} ms"
        lost_note = f", {lost} timed out" if lost else ""
        if not total:
            return {
                "functional.reply_p95_ms": Measurement(None, 0, "no reply measured"),
                "functional.reply_max_ms": Measurement(None, 0, "no reply measured"),
            }
        rank = max(1, math.ceil(0.95 * total))  # nearest rank; timed-out replies rank above every other
        if rank <= len(done):
            p95 = Measurement(done[rank - 1], total, f"{total} replies{lost_note}")
        else:
            p95 = Measurement(self.reply_censor_ms, total, f"censored: {bound}{lost_note} of {total}")
        if lost:
            worst = Measurement(self.reply_censor_ms, total, f"censored: {bound}{lost_note} of {total}")
        else:
            worst = Measurement(done[-1], total, f"{total} replies")
        return {"functional.reply_p95_ms": p95, "functional.reply_max_ms": worst}

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
            **self.latency_measurements(),
            **self._marked("synthetic", "synthetic", "synthetic scenarios"),
            **self._marked("e2e", "e2e", "journeys"),
            "hygiene.violations": Measurement(
                float(len(self.hygiene_violations)),
                self.hygiene_checked,
                f"message hygiene: {self.hygiene_checked} messages the bot sent checked, "
                f"{len(self.hygiene_violations)} violations"
                + (f" ({len(self.hygiene_known)} known issues not counted)" if self.hygiene_known else ""),
            ),
            **self.extra_measurements,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResults:
        """The inverse of :meth:`to_dict` (a stage's outcomes file, written by its own pytest session)."""
        results = cls()
        for t in data.get("tests", []):
            outcome = TestOutcome(**{**t, "markers": tuple(t.get("markers", ()))})
            results.outcomes[outcome.nodeid] = outcome
        hygiene = data.get("hygiene", {})
        results.hygiene_checked = int(hygiene.get("checked", 0))
        results.hygiene_violations = list(hygiene.get("violations", []))
        results.hygiene_known = list(hygiene.get("known", []))
        latency = data.get("reply_latency", {})
        results.record_latency(latency)
        return results

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts()),
            "tests": [asdict(o) for o in self.outcomes.values()],
            "hygiene": {
                "checked": self.hygiene_checked,
                "violations": self.hygiene_violations,
                "known": self.hygiene_known,
            },
            "reply_latency": {
                "samples_ms": [round(v, 1) for v in self.reply_latencies_ms],
                "timed_out": self.replies_timed_out,
                "censor_ms": self.reply_censor_ms,
            },
        }
