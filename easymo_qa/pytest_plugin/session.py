"""One pytest process's session: its environment, the stack it boots, and the xdist hand-off of its target.

Under pytest-xdist the controller boots the stack once, before the first worker starts, and hands its
:class:`Target` to the workers through ``workerinput``; without xdist the stack boots on first use.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from easymo_qa.conversation.pytest_items import RUNNER_FACTORY_KEY
from easymo_qa.conversation.runner import JourneyRunner
from easymo_qa.envs import (
    Environment,
    EnvironmentError_,
    Redactor,
    load_environment,
    resolve_environment_path,
)
from easymo_qa.layout import Layout, LayoutError, read_layout
from easymo_qa.pytest_hygiene import REDACT_KEY, hygiene_observer
from easymo_qa.pytest_plugin.keys import ENV_KEY, STATE_KEY
from easymo_qa.pytest_plugin.outcomes import OutcomeRecorder
from easymo_qa.pytest_plugin.production import refuse_unsafe_production
from easymo_qa.rerun import Invocation, set_invocation
from easymo_qa.safety import READONLY_MARKER
from easymo_qa.signoff.results import RunResults
from easymo_qa.stack import RunningStack, start_stack
from easymo_qa.stack.reference_process import StackError
from easymo_qa.target import Target
from easymo_qa.whatsapp.numbers import TestNumberPool

WORKERINPUT_TARGET = "easymo_qa_target"


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
        return self.target

    def client(self) -> httpx.Client:
        """One keep-alive HTTP client per process; redirects are never followed (a webhook must answer)."""
        if self._client is None:
            target = self.ensure_target()
            # Keep-alive = max: httpcore 1.0.9's sync pool may close a surplus keep-alive connection it has
            # just handed to another thread (encode/httpcore#1110): the rollout probe's 32 threads got
            # "[Errno 9] Bad file descriptor" once in CI. With no surplus, that close never happens.
            limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
            self._client = httpx.Client(timeout=target.http_seconds, limits=limits, follow_redirects=False)
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
