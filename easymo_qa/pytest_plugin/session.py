"""One pytest process's session: its environment, the stack it boots, the xdist hand-off of its target, and
at its end (in the xdist controller) the outcomes file, the sign-off report and its verdict.

Under pytest-xdist the controller boots the stack once, before the first worker starts, and hands its
:class:`Target` to the workers through ``workerinput``; without xdist the stack boots on first use.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from easymo_qa.conversation.pytest_items import RUNNER_FACTORY_KEY
from easymo_qa.conversation.runner import JourneyRunner
from easymo_qa.doctor.preflight import webhook_unreachable
from easymo_qa.envs import (
    Environment,
    EnvironmentError_,
    Redactor,
    load_environment,
    resolve_environment_path,
)
from easymo_qa.layout import Layout, LayoutError, read_layout
from easymo_qa.pytest_hygiene import REDACT_KEY, hygiene_observer
from easymo_qa.pytest_plugin import ENV_KEY, STATE_KEY
from easymo_qa.pytest_plugin.outcomes import OutcomeRecorder
from easymo_qa.pytest_plugin.selection import refuse_unsafe_production
from easymo_qa.rerun import Invocation, set_invocation
from easymo_qa.safety import READONLY_MARKER
from easymo_qa.signoff.files import SignoffInputError, sign_off
from easymo_qa.signoff.model import RunInfo
from easymo_qa.signoff.reliability import RELIABILITY_FILE
from easymo_qa.signoff.results import RunResults
from easymo_qa.stack import RunningStack, start_stack
from easymo_qa.stack.reference_process import StackError
from easymo_qa.target import Target
from easymo_qa.whatsapp.numbers import TestNumberPool

WORKERINPUT_TARGET = "easymo_qa_target"
_interrupted = [False]  # set by pytest_keyboard_interrupt, a hook that is not given the config


class SessionState:
    """What the plugin keeps for one pytest process."""

    def __init__(self, env: Environment, layout: Layout, reports_dir: Path) -> None:
        self.env = env
        self.layout = layout
        self.reports_dir = reports_dir
        self.stack: RunningStack | None = None
        self.target: Target | None = None
        self.results = RunResults()
        self.started_at = datetime.now(UTC)
        self.redactor = Redactor(env.secrets())
        self.verdict_line = ""
        self.shard = 0
        self._client: httpx.Client | None = None
        self._numbers: TestNumberPool | None = None

    def ensure_target(self) -> Target:
        if self.target is None:
            try:
                self.stack = start_stack(self.env, self.reports_dir)
            except StackError as exc:
                pytest.exit(f"easymo-qa: cannot start the stack for environment {self.env.name!r}: {exc}", 3)
            self.target = self.stack.target
            self.redactor.add(*self.target.secrets())
            # One GET (the verify handshake, read-only) before any test talks to the bot: an unreachable bot
            # is one line naming its URL, not a traceback per test.
            t = self.target
            unreachable = webhook_unreachable(t.webhook_url, t.verify_token, t.http_seconds)
            if unreachable is not None:
                why = f"{unreachable}; no test can talk to the bot (easymo-qa doctor checks the rest)"
                pytest.exit(self.redactor(f"easymo-qa: {why}"), 3)
        return self.target

    def client(self) -> httpx.Client:
        """One keep-alive HTTP client per process; redirects are never followed (a webhook must answer)."""
        if self._client is None:
            target = self.ensure_target()
            # Keep-alive = max: httpcore 1.0.9's sync pool may close a surplus keep-alive connection it has
            # just handed to another thread (encode/httpcore#1110): the rollout probe's 32 threads got
            # "[Errno 9] Bad file descriptor" once in CI. With no surplus, that close never happens.
            limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
            self._client = httpx.Client(
                timeout=target.http_seconds, limits=limits, follow_redirects=False, auth=target.harness_auth()
            )
        return self._client

    def numbers(self) -> TestNumberPool:
        if self._numbers is None:
            target = self.ensure_target()
            self._numbers = TestNumberPool(target.number_prefix, target.number_length, shard=self.shard)
        return self._numbers

    def runner(self, item: pytest.Item) -> JourneyRunner:
        return JourneyRunner(
            self.ensure_target(), self.client(), self.numbers(), on_reply=hygiene_observer(item)
        )

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.stack is not None:
            self.stack.stop()
            self.stack = None


def _env_name(config: pytest.Config) -> str:
    return config.getoption("easymo_env") or os.environ.get("EASYMO_QA_ENV") or "local"


def _load_env(config: pytest.Config, layout: Layout) -> Environment:
    env_file = config.getoption("easymo_env_file")
    name = _env_name(config)
    try:
        environments = [config.rootpath / layout.environments]
        path = Path(env_file) if env_file else resolve_environment_path(name, environments)
        refuse_unsafe_production(config, path, f"--env-file {env_file}" if env_file else f"--env {name}")
        return load_environment(path)
    except EnvironmentError_ as exc:
        raise pytest.UsageError(f"easymo-qa: {exc}") from None


def pytest_configure(config: pytest.Config) -> None:
    _interrupted[0] = False
    try:
        layout = read_layout(config.rootpath)
    except LayoutError as exc:
        raise pytest.UsageError(f"easymo-qa: {exc}") from None
    env = _load_env(config, layout)
    config.stash[ENV_KEY] = env
    reports_dir = config.rootpath / (config.getoption("easymo_reports") or layout.reports)
    state = SessionState(env, layout, reports_dir)
    config.stash[STATE_KEY] = state
    config.stash[REDACT_KEY] = state.redactor
    config.stash[RUNNER_FACTORY_KEY] = state.runner
    workerinput = getattr(config, "workerinput", None)
    if workerinput:
        state.shard = int(str(workerinput.get("workerid", "gw0")).removeprefix("gw") or 0)
    if workerinput and workerinput.get(WORKERINPUT_TARGET):
        state.target = Target.from_json(workerinput[WORKERINPUT_TARGET])
        state.redactor.add(*state.target.secrets())
    config.pluginmanager.register(OutcomeRecorder(state.results), "easymo-qa-outcomes")
    config.add_cleanup(state.stop)
    set_invocation(invocation(config, env))
    config.add_cleanup(lambda: set_invocation(None))


def invocation(config: pytest.Config, env: Environment) -> Invocation:
    """What an exact re-run of one of this session's tests needs (see :mod:`easymo_qa.rerun`)."""
    env_file = config.getoption("easymo_env_file")
    options = []
    hygiene = config.getoption("easymo_hygiene", "fail")
    if hygiene != "fail":
        options.append(f"--hygiene={hygiene}")
    if config.getoption("easymo_allow_production"):
        options.append("--allow-production")
    return Invocation(
        rootdir=config.rootpath,
        env_name=_env_name(config),
        env_file=(config.invocation_params.dir / env_file) if env_file else None,
        defects=tuple(d.strip() for d in env.reference_defects.split(",") if d.strip()),
        options=tuple(options),
    )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: boot the stack once, before the first worker starts, and share it."""
    state = node.config.stash[STATE_KEY]
    node.workerinput[WORKERINPUT_TARGET] = state.ensure_target().to_json()


def pytest_report_header(config: pytest.Config) -> list[str]:
    env = config.stash[ENV_KEY]
    caps = ", ".join(env.capabilities) or "none"
    defects = f"; reference defects: {env.reference_defects}" if env.reference_defects else ""
    lines = [f"easymo-qa: environment {env.name!r} (stack: {env.stack}; capabilities: {caps}{defects})"]
    if env.production:
        allowed = config.getoption("easymo_allow_production")
        scope = (
            "every selected test runs (--allow-production)"
            if allowed
            else f"only tests marked {READONLY_MARKER} run; the others are deselected"
        )
        lines.append(f"easymo-qa: PRODUCTION environment: {scope}")
    return lines


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    _write_outcomes(config)
    if not config.getoption("easymo_signoff"):
        return
    state = config.stash[STATE_KEY]
    if _interrupted[0]:  # Ctrl-C / SIGINT: partial results are no verdict
        why = "no report written (the last complete one, if any, is unchanged)"
        state.verdict_line = f"QA sign-off: INTERRUPTED; {why}"
        return
    info = RunInfo(
        state.env.name,
        state.started_at,
        command="pytest " + " ".join(config.invocation_params.args),
        defects=state.target.defects if state.target else (),
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
