"""What each stage of ``easymo-qa signoff`` did: ``reports/stages.json``, written before the final session.

One :class:`StageRun` per stage (smoke, reliability storm, rollback drill, cutover suite, load): ran (with
its command, exit code, the tail of its output, its pytest session's test outcomes and whether it wrote
its result file), skipped (and why), or given (an earlier run's result file). Fail closed: a stage that
ran and failed its own assertions, exited non-zero or wrote no result is a *problem*; problems are
counted in the stage's ``<stage>.failed_checks`` metric and listed in the report's failures with the
output tail. The schema is in ``docs/signoff-schema.md``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from easymo_qa.gates import CUTOVER_CHECKS, Measurement
from easymo_qa.result_file import ResultFile
from easymo_qa.signoff.results import RunResults

STAGE_RUNS_SCHEMA = "easymo-qa/stages/v1"
STAGE_RUNS_FILE = "stages.json"
TITLES = {
    "smoke": "smoke stage",
    "reliability": "webhook reliability storm",
    "rollback": "rollback drill",
    "cutover": "cutover suite",
    "load": "load test",
}
# pytest's exit codes other than 0 / 1 (https://docs.pytest.org/en/stable/reference/exit-codes.html)
_PYTEST_EXIT = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}


class StageRunsError(ValueError):
    """``stages.json`` cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class StageProblem:
    """One reason a stage blocks GO: a failed test of its session, a bad exit code, a missing result."""

    stage: str
    test: str  # the failed test's node id, or "stage <name>"
    message: str
    transcript: str  # the test's transcript, else the tail of the stage's output
    rerun: str


@dataclass(frozen=True)
class StageRun:
    stage: str  # smoke | reliability | rollback | cutover | load
    status: Literal["ran", "skipped", "given"]
    reason: str = ""  # why it was skipped, or which result file was given
    command: str = ""
    exit_code: int | None = None
    seconds: float = 0.0
    result_file: str | None = None  # the file the stage must write (None: it writes none of its own)
    result_written: bool = False
    output_tail: str = ""
    outcomes: dict[str, Any] | None = None  # its pytest session's outcomes (RunResults.to_dict())
    pytest: bool = True  # a pytest session (else Locust)

    @property
    def title(self) -> str:
        return TITLES.get(self.stage, self.stage)

    def results(self) -> RunResults:
        return RunResults.from_dict(self.outcomes) if self.outcomes else RunResults()

    def problems(self) -> list[StageProblem]:
        if self.status != "ran":
            return []
        found = [
            StageProblem(self.stage, o.nodeid, o.message, o.transcript or self.output_tail, self.command)
            for o in self.results().failures()
        ]
        if self.result_file and not self.result_written:
            what = f"the {self.title} wrote no {Path(self.result_file).name}"
            skipped = [o for o in self.results().outcomes.values() if not o.ran]
            why = f"{skipped[0].message}" if skipped and not found else f"exit code {self.exit_code}"
            found.append(self._problem(f"{what} ({why})"))
        elif self.exit_code not in (0, None) and not found and self._exit_code_counts():
            meaning = _PYTEST_EXIT.get(self.exit_code, "") if self.pytest else ""
            found.append(self._problem(f"exit code {self.exit_code}" + (f" ({meaning})" if meaning else "")))
        if self.pytest and self.outcomes is None and self.exit_code == 0:
            found.append(self._problem("its pytest session recorded no test outcomes"))
        return found

    def _exit_code_counts(self) -> bool:
        # Locust's exit code is the load gates' verdict, which the sign-off measures from the summary.
        return self.pytest or not self.result_written

    def _problem(self, message: str) -> StageProblem:
        return StageProblem(self.stage, f"stage {self.stage}", message, self.output_tail, self.command)

    def measurements(self) -> dict[str, Measurement]:
        """``<stage>.failed_checks`` (and, for the cutover suite, one metric per check)."""
        if not self.pytest:
            return {}
        metric = f"{self.stage}.failed_checks"
        if self.status == "given":
            why = f"not measured: {self.reason}; the {self.title}'s own assertions did not run here"
            return {metric: Measurement(None, 0, why)}
        if self.status != "ran":
            return {}
        results = self.results()
        ran = [o for o in results.outcomes.values() if o.ran]
        skipped = len(results.outcomes) - len(ran)
        problems = self.problems()
        passed = sum(1 for o in ran if o.outcome == "passed")
        source = f"{self.title}: {passed} of {len(ran)} tests passed"
        if skipped:
            source += f", {skipped} not covered"
        if extra := [p.message for p in problems if p.test.startswith("stage ")]:
            source += "; " + "; ".join(extra)
        out = {metric: Measurement(float(len(problems)), max(len(ran), 1 if problems else 0), source)}
        if self.stage == "cutover":
            out.update(_cutover_checks(results))
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cutover_checks(results: RunResults) -> dict[str, Measurement]:
    out = {}
    for check, file in CUTOVER_CHECKS.items():
        mine = [o for o in results.outcomes.values() if o.nodeid.split("::")[0].endswith(file)]
        ran = [o for o in mine if o.ran]
        failed = [o for o in ran if o.outcome != "passed"]
        source = f"{file}: {len(ran) - len(failed)} of {len(ran)} tests passed"
        if skipped := [o for o in mine if not o.ran]:
            source += f", {len(skipped)} not covered ({skipped[0].message})"
        if not mine:
            source = f"{file}: no test of it ran in the cutover stage"
        out[f"cutover.{check}.failed"] = Measurement(float(len(failed)), len(ran), source)
    return out


@dataclass(frozen=True)
class StageRuns(ResultFile):
    SCHEMA, FILE, WHAT, ERROR = STAGE_RUNS_SCHEMA, STAGE_RUNS_FILE, "stage record", StageRunsError

    stages: list[StageRun] = field(default_factory=list)
    source: str = ""
    schema: str = STAGE_RUNS_SCHEMA

    @property
    def skipped(self) -> dict[str, str]:
        return {s.stage: s.reason for s in self.stages if s.status == "skipped"}

    def problems(self) -> list[StageProblem]:
        return [p for s in self.stages for p in s.problems()]

    def measurements(self) -> dict[str, Measurement]:
        return {k: v for s in self.stages for k, v in s.measurements().items()}

    @staticmethod
    def load_outcomes(path: Path) -> dict[str, Any] | None:
        """A stage session's ``--outcomes-file``; None when it wrote none (it crashed before the end)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None
