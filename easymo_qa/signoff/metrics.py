"""Every metric a sign-off gate may name, and the stage that produces it.

``signoff.yaml`` is checked against this list before any stage runs: a gate naming a metric no stage
produces is a typo that would otherwise fail later as "no samples". Each producer (``RunResults``,
``LoadSummary``, ``RollbackResult``, ``ReliabilityResult``, ``StageRun``) measures exactly the metrics
listed here for its stage; ``tests/unit/test_signoff_fail_closed.py`` holds them to it.
"""

from __future__ import annotations

# The sign-off's stages, in the order `easymo-qa signoff` runs them; `tests` is the final pytest session.
STAGES: tuple[str, ...] = ("smoke", "reliability", "rollback", "cutover", "load", "tests")
# The cutover suite's checks, each a gate of its own: check → test file of tests/cutover.
CUTOVER_CHECKS: dict[str, str] = {
    "rollout": "test_rollout.py",
    "agent_flags": "test_agent_flags.py",
    "dashboard": "test_dashboard.py",
}

METRICS: dict[str, str] = {
    # the final pytest session (smoke, journeys, synthetic scenarios)
    "tests.pass_rate": "tests",
    "tests.critical_failures": "tests",
    "tests.not_covered": "tests",
    "synthetic.passed": "tests",
    "synthetic.total": "tests",
    "e2e.passed": "tests",
    "e2e.total": "tests",
    "hygiene.violations": "tests",
    "functional.reply_p95_ms": "tests",
    "functional.reply_max_ms": "tests",
    # stage 1: smoke alone, first
    "smoke.failed_checks": "smoke",
    # stage 2: the webhook reliability storm (reliability.json and the stage's own assertions)
    "reliability.lost": "reliability",
    "reliability.duplicate_replies": "reliability",
    "reliability.duplicate_effects": "reliability",
    "reliability.failed_handling": "reliability",
    "reliability.failed_checks": "reliability",
    # stage 3: the rollback drill (rollback.json and the stage's own assertions)
    "rollback.seconds": "rollback",
    "rollback.lost": "rollback",
    "rollback.duplicated": "rollback",
    "rollback.unexpected": "rollback",
    "rollback.failed_checks": "rollback",
    # stage 4: the cutover suite (rollout shares, per-agent flags, dashboard)
    **{f"cutover.{check}.failed": "cutover" for check in CUTOVER_CHECKS},
    "cutover.failed_checks": "cutover",
    # stage 5: the load test (reports/load/summary.json)
    "load.error_rate": "load",
    "load.reply_p95_ms": "load",
    "load.ack_p95_ms": "load",
}


def metrics_of(stage: str) -> set[str]:
    return {name for name, producer in METRICS.items() if producer == stage}
