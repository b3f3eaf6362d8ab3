"""The plugin's command-line options; file defaults come from the project's layout (``easymo_qa.layout``)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("easymo-qa", "easyMO QA harness")
    group.addoption(
        "--env",
        dest="easymo_env",
        help="environment name: environments/NAME.yaml (default: local)",
    )
    group.addoption("--env-file", dest="easymo_env_file", help="path of an environment file")
    group.addoption("--signoff", dest="easymo_signoff", action="store_true", help="write the sign-off report")
    group.addoption("--reports-dir", dest="easymo_reports", help="where reports go (default: reports)")
    group.addoption("--signoff-gates", dest="easymo_gates", help="gates file (default: signoff.yaml)")
    group.addoption(
        "--signoff-waivers",
        dest="easymo_waivers",
        help="waivers file (default: waivers.yaml; a missing file means no waivers)",
    )
    group.addoption(
        "--load-results",
        dest="easymo_load_results",
        metavar="DIR",
        help="sign off with an existing load run: DIR/summary.json (see docs/signoff-schema.md)",
    )
    group.addoption(
        "--rollback-results",
        dest="easymo_rollback_results",
        metavar="FILE",
        help="sign off with a rollback drill's result (reports/rollback.json, see docs/signoff-schema.md)",
    )
    group.addoption(
        "--skip-load",
        dest="easymo_skip_load",
        action="store_true",
        help="leave the load gates out of the verdict; the report says it does not cover performance",
    )
    group.addoption(
        "--reliability-results",
        dest="easymo_reliability_results",
        metavar="FILE",
        help="sign off with a webhook reliability run's result (reports/reliability.json); by default the "
        "sign-off reads the one a reliability test of this session wrote",
    )
    group.addoption(
        "--skip-reliability",
        dest="easymo_skip_reliability",
        action="store_true",
        help="leave the reliability gates out of the verdict; the report says so",
    )
    group.addoption(
        "--stage-runs",
        dest="easymo_stage_runs",
        metavar="FILE",
        help="what each stage of `easymo-qa signoff` did (reports/stages.json; set by easymo-qa signoff)",
    )
    group.addoption(
        "--outcomes-file",
        dest="easymo_outcomes_file",
        metavar="FILE",
        help="write this session's test outcomes there as JSON (a sign-off stage's evidence)",
    )
    group.addoption(
        "--stage-skip-reason",
        dest="easymo_stage_skip_reason",
        metavar="TEXT",
        help="why the skipped stages did not run (set by `easymo-qa signoff`; default: skipped by flag)",
    )
    group.addoption(
        "--allow-production",
        dest="easymo_allow_production",
        action="store_true",
        help="run more than the read-only tests against an environment marked production (deliberately)",
    )
