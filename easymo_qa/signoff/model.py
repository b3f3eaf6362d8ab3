"""The sign-off's data: the run being signed off (:class:`RunInfo`) and what was decided about it
(:class:`Assessment`). Pure data, no I/O: ``assess`` builds an Assessment, ``report`` renders one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from easymo_qa.gates import GateResult
from easymo_qa.rerun import Invocation, pytest_command
from easymo_qa.signoff.load import LoadSummary
from easymo_qa.signoff.reliability import ReliabilityResult
from easymo_qa.signoff.stage_runs import StageProblem, StageRuns
from easymo_qa.signoff.verdict import Verdict
from easymo_qa.signoff.waivers import Waiver, WaiverUse

SKIP_WARNINGS = {
    "smoke": "Smoke stage not run: nothing showed the bot was up before the other stages",
    "load": "Load stage skipped: this verdict does not cover performance",
    "rollback": "Rollback stage skipped: this verdict does not cover the feature-flag rollback",
    "reliability": "Reliability stage skipped: this verdict does not cover webhook reliability",
    "cutover": "Cutover stage skipped: this verdict does not cover rollout shares, per-agent flags or the "
    "dashboard",
}


def utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass
class RunInfo:
    """The pytest session that signs off: where it ran, when, and how to re-run one of its tests."""

    environment: str
    started_at: datetime
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    command: str = ""
    defects: tuple[str, ...] = ()
    # How the session was started, for exact re-run commands (environment file, defects, options).
    invocation: Invocation | None = None

    def rerun(self, nodeid: str) -> str:
        """The command that re-runs one test as this run did (from the session's rootdir)."""
        inv = self.invocation or Invocation(Path.cwd(), self.environment, defects=self.defects)
        return pytest_command(nodeid, invocation=inv)

    def defects_in_force(self) -> tuple[str, ...]:
        return self.invocation.defects if self.invocation else self.defects


@dataclass(frozen=True)
class Assessment:
    gates: list[GateResult]
    verdict: Verdict
    waivers: list[WaiverUse] = field(default_factory=list)
    waivers_source: str = ""
    waived_tests: dict[str, Waiver] = field(default_factory=dict)  # node id → the waiver that covers it
    skipped_stages: dict[str, str] = field(default_factory=dict)
    load: LoadSummary | None = None
    today: date = field(default_factory=utc_today)
    reliability: ReliabilityResult | None = None
    stage_runs: StageRuns | None = None

    @property
    def warnings(self) -> list[str]:
        return [SKIP_WARNINGS.get(s, f"{s.capitalize()} stage skipped") for s in self.skipped_stages]

    @property
    def stage_problems(self) -> list[StageProblem]:
        """Stages that failed their own assertions, exited non-zero or wrote no result."""
        return self.stage_runs.problems() if self.stage_runs is not None else []
