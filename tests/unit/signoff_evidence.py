"""Sign-off evidence for unit tests: every stage of `easymo-qa signoff` as it looks when it passed.

``stage_runs(reliability=..., cutover=...)`` replaces one stage's record (e.g. a failed drill), so a
test feeds the assessment exactly the files a real run would hand it, without running anything.
"""

from __future__ import annotations

from typing import Any

from easymo_qa.rollback import ROLLBACK_SCHEMA, RollbackResult
from easymo_qa.signoff.results import RunResults
from easymo_qa.signoff.stage_runs import StageRun, StageRuns

SUITES = {
    "smoke": ["tests/smoke/test_protocol.py::test_verify_handshake"],
    "reliability": ["tests/reliability/test_webhook_reliability.py::test_webhook_reliability"],
    "rollback": ["tests/cutover/test_rollback.py::test_rollback_drill_under_load"],
    "cutover": [
        "tests/cutover/test_rollout.py::test_share_of_ai_users_matches_the_rollout_percentage[10]",
        "tests/cutover/test_agent_flags.py::test_buyer_agent_off_sends_free_text_to_the_legacy_flow",
        "tests/cutover/test_dashboard.py::test_dashboard_shows_live_numbers",
    ],
}
RESULT_FILES = {"reliability": "reports/reliability.json", "rollback": "reports/rollback.json"}


def outcomes(stage: str, failed: dict[str, str] | None = None, skipped: dict[str, str] | None = None) -> dict:
    """A stage session's outcomes file: every test passed, except those ``failed`` (node id → message)."""
    results = RunResults()
    failed, skipped = failed or {}, skipped or {}
    for nodeid in SUITES[stage]:
        if nodeid in skipped:
            results.record(nodeid, "setup", "skipped", message=skipped[nodeid])
            continue
        results.record(nodeid, "setup", "passed")
        outcome = "failed" if nodeid in failed else "passed"
        results.record(nodeid, "call", outcome, message=failed.get(nodeid, ""), transcript="")
    return results.to_dict()


def ran(stage: str, *, exit_code: int = 0, written: bool = True, **kw: Any) -> StageRun:
    """A stage that ran; ``failed`` / ``skipped`` (node id → message) pass on to :func:`outcomes`."""
    return StageRun(
        stage,
        "ran",
        command=f".venv/bin/python -m pytest {stage}",
        exit_code=exit_code,
        result_file=RESULT_FILES.get(stage),
        result_written=written,
        output_tail=f"... {stage} output tail ...\n",
        outcomes=outcomes(stage, kw.get("failed"), kw.get("skipped")),
    )


def stage_runs(**replaced: StageRun) -> StageRuns:
    """Smoke, storm, drill and cutover passed (load's evidence is its summary); ``replaced`` wins."""
    runs = {stage: ran(stage) for stage in SUITES}
    runs.update(replaced)
    return StageRuns(list(runs.values()))


def rollback(**changes: Any) -> RollbackResult:
    data = {
        "schema": ROLLBACK_SCHEMA, "rollback_seconds": 0.4, "restore_seconds": 0.5, "messages": 400,
        "lost": 0, "users": 20, "duplicated": 0, "unexpected": 0, "source": "reports/rollback.json",
    }  # fmt: skip
    return RollbackResult.from_dict({**data, **changes})
