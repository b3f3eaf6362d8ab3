"""At the session's end (in the xdist controller): the outcomes file, the sign-off report and its verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from easymo_qa.pytest_plugin.keys import STATE_KEY
from easymo_qa.pytest_plugin.session import SessionState, invocation
from easymo_qa.signoff.files import SignoffInputError, sign_off
from easymo_qa.signoff.model import RunInfo
from easymo_qa.signoff.reliability import RELIABILITY_FILE

_interrupted = [False]  # set by pytest_keyboard_interrupt, a hook that is not given the config


def pytest_configure(config: pytest.Config) -> None:
    _interrupted[0] = False


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    _write_outcomes(config)
    if not config.getoption("easymo_signoff"):
        return
    if _interrupted[0]:  # Ctrl-C / SIGINT: partial results are no verdict
        why = "no report written (the last complete one, if any, is unchanged)"
        config.stash[STATE_KEY].verdict_line = f"QA sign-off: INTERRUPTED; {why}"
        return
    state = config.stash[STATE_KEY]
    defects = state.target.defects if state.target else ()
    info = RunInfo(
        state.env.name,
        state.started_at,
        command="pytest " + " ".join(config.invocation_params.args),
        defects=defects,
        invocation=invocation(config, state.env),
    )
    skip_reliability = config.getoption("easymo_skip_reliability")
    try:
        assessment, paths = sign_off(
            state.results,
            gates_path=config.rootpath / (config.getoption("easymo_gates") or state.layout.gates),
            waivers_path=config.rootpath / (config.getoption("easymo_waivers") or state.layout.waivers),
            reports_dir=state.reports_dir,
            redact=state.redactor,
            info=info,
            load_results=_given(config, "easymo_load_results"),
            skip_load=config.getoption("easymo_skip_load"),
            rollback_results=_given(config, "easymo_rollback_results"),
            reliability_results=None if skip_reliability else _reliability_results(config, state),
            skip_reliability=skip_reliability,
            skip_reason=config.getoption("easymo_stage_skip_reason"),
            stage_runs=_given(config, "easymo_stage_runs"),
        )
    except SignoffInputError as exc:
        raise pytest.UsageError(f"easymo-qa: {exc}") from None
    verdict = assessment.verdict
    failed = f" (failed gates: {', '.join(verdict.failed_gates)})" if verdict.failed_gates else ""
    if verdict.go and verdict.waived_gates:
        failed = f" (waived gates: {', '.join(verdict.waived_gates)})"
    warnings = "".join(f"; {w.upper()}" for w in assessment.warnings)
    state.verdict_line = f"QA sign-off: {verdict.decision}{failed}; report: {paths[0]}{warnings}"
    if not verdict.go and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _given(config: pytest.Config, option: str) -> Path | None:
    """A file option's path from the root directory; None when it was not given."""
    value = config.getoption(option)
    return config.rootpath / value if value else None


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Ctrl-C (not a collection error, which pytest also reports as "Interrupted"): no sign-off report."""
    _interrupted[0] = True


def _write_outcomes(config: pytest.Config) -> None:
    """``--outcomes-file``: this session's outcomes, for the sign-off that ran it as a stage."""
    path = _given(config, "easymo_outcomes_file")
    if path is None:
        return
    state = config.stash[STATE_KEY]
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(state.results.to_dict(), indent=2, ensure_ascii=False)
    path.write_text(state.redactor(text) + "\n", encoding="utf-8")


def _reliability_results(config: pytest.Config, state: SessionState) -> Path | None:
    """``--reliability-results``, else the file a reliability test of this very session wrote."""
    given = _given(config, "easymo_reliability_results")
    if given is not None:
        return given
    ran = any("reliability" in o.markers and o.ran for o in state.results.outcomes.values())
    path = state.reports_dir / RELIABILITY_FILE
    fresh = path.is_file() and path.stat().st_mtime >= state.started_at.timestamp()
    return path if ran and fresh else None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is not None and state.verdict_line:
        terminalreporter.write_sep(
            "=",
            state.verdict_line,
            bold=True,
            green="GO;" in state.verdict_line,
            red="NO-GO" in state.verdict_line or "INTERRUPTED" in state.verdict_line,
        )
