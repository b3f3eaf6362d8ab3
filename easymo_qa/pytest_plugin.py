"""The pytest plugin: ``--env`` / ``--env-file``, the session's stack, simulated users, the sign-off report.

Under pytest-xdist the controller process boots the stack once and hands its :class:`Target` to the
workers through ``workerinput``; without xdist the stack boots on first use, so unit-only runs stay fast.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from easymo_qa import pytest_hygiene
from easymo_qa.conversation.model import ROLES
from easymo_qa.conversation.pytest_items import (
    RUNNER_FACTORY_KEY,
    TRANSCRIPT_KEY,
    JourneyFile,
    is_journey_file,
)
from easymo_qa.conversation.runner import JourneyRunner
from easymo_qa.envs import (
    Environment,
    EnvironmentError_,
    Redactor,
    declares_production,
    environment_name,
    load_environment,
    resolve_environment_path,
)
from easymo_qa.pytest_hygiene import REDACT_KEY, hygiene_observer
from easymo_qa.rerun import Invocation, set_invocation
from easymo_qa.safety import READONLY_MARKER, refusal, unsafe_selection
from easymo_qa.signoff.files import SignoffInputError, sign_off
from easymo_qa.signoff.model import RunInfo
from easymo_qa.signoff.reliability import RELIABILITY_FILE
from easymo_qa.signoff.results import RunResults
from easymo_qa.stack import RunningStack, start_stack
from easymo_qa.stack.reference_process import StackError
from easymo_qa.target import Target
from easymo_qa.whatsapp.numbers import TestNumberPool
from easymo_qa.whatsapp.transcript import Transcript
from easymo_qa.whatsapp.user import WhatsAppUser

ENV_KEY = pytest.StashKey[Environment]()
CALL_FAILED_KEY = pytest.StashKey[bool]()
STATE_KEY = pytest.StashKey["_SessionState"]()
_interrupted = [False]  # set by pytest_keyboard_interrupt, a hook that is not given the config
WORKERINPUT_TARGET = "easymo_qa_target"


class _SessionState:
    """What the plugin keeps for one pytest process."""

    def __init__(self, env: Environment, reports_dir: Path) -> None:
        self.env = env
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


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # Message hygiene's option, hooks and fixture live in a plugin module of their own, loaded with this one.
    if not pluginmanager.is_registered(pytest_hygiene):
        pluginmanager.register(pytest_hygiene, "easymo-qa-hygiene")
    group = parser.getgroup("easymo-qa", "easyMO QA harness")
    group.addoption(
        "--env",
        dest="easymo_env",
        default=None,
        help="environment name: environments/NAME.yaml (default: local)",
    )
    group.addoption("--env-file", dest="easymo_env_file", default=None, help="path of an environment file")
    group.addoption("--signoff", dest="easymo_signoff", action="store_true", help="write the sign-off report")
    group.addoption(
        "--reports-dir", dest="easymo_reports", default="reports", help="where reports go (default: reports)"
    )
    group.addoption(
        "--signoff-gates",
        dest="easymo_gates",
        default="signoff.yaml",
        help="gates file (default: signoff.yaml)",
    )
    group.addoption(
        "--signoff-waivers",
        dest="easymo_waivers",
        default="waivers.yaml",
        help="waivers file (default: waivers.yaml; a missing file means no waivers)",
    )
    group.addoption(
        "--load-results",
        dest="easymo_load_results",
        default=None,
        metavar="DIR",
        help="sign off with an existing load run: DIR/summary.json (see docs/signoff-schema.md)",
    )
    group.addoption(
        "--rollback-results",
        dest="easymo_rollback_results",
        default=None,
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
        default=None,
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
        default=None,
        metavar="FILE",
        help="what each stage of `easymo-qa signoff` did (reports/stages.json; set by easymo-qa signoff)",
    )
    group.addoption(
        "--outcomes-file",
        dest="easymo_outcomes_file",
        default=None,
        metavar="FILE",
        help="write this session's test outcomes there as JSON (a sign-off stage's evidence)",
    )
    group.addoption(
        "--stage-skip-reason",
        dest="easymo_stage_skip_reason",
        default=None,
        metavar="TEXT",
        help="why the skipped stages did not run (set by `easymo-qa signoff`; default: skipped by flag)",
    )
    group.addoption(
        "--allow-production",
        dest="easymo_allow_production",
        action="store_true",
        help="run more than the read-only tests against an environment marked production (deliberately)",
    )


def _load_env(config: pytest.Config) -> Environment:
    env_file = config.getoption("easymo_env_file")
    name = config.getoption("easymo_env") or os.environ.get("EASYMO_QA_ENV") or "local"
    try:
        path = (
            Path(env_file) if env_file else resolve_environment_path(name, [config.rootpath / "environments"])
        )
        _refuse_unsafe_production(config, path, f"--env-file {env_file}" if env_file else f"--env {name}")
        return load_environment(path)
    except EnvironmentError_ as exc:
        raise pytest.UsageError(f"easymo-qa: {exc}") from None


def _refuse_unsafe_production(config: pytest.Config, path: Path, selector: str) -> None:
    """Before anything is sent: a production environment refuses synthetic / reliability / cutover runs."""
    if config.getoption("easymo_allow_production") or not declares_production(path):
        return
    try:
        reason = unsafe_selection(config.option.markexpr or "", config.option.file_or_dir or [])
    except ValueError:
        reason = None  # pytest itself reports a malformed -m expression
    if reason is not None:
        raise pytest.UsageError(f"easymo-qa: {refusal(environment_name(path), reason, selector)}")


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "smoke: fast checks of a deployed bot",
        "protocol: WhatsApp Cloud API rules any bot must follow",
        "easymo: the easyMO-specific contract",
        "critical: a failure here is a critical failure for sign-off",
        "needs(capability): skip unless the environment declares the capability",
        "rule(*ids): the contract rules (R-AREA-n, docs/*-contract.md) this test holds the SUT to",
        "e2e: end-to-end journeys (*.journey.yaml)",
        "synthetic: synthetic failure scenarios (*.scenario.yaml)",
        "rollout: feature-flag rollout shares and per-agent flags (changes the SUT's flags for everyone)",
        "rollback: the feature-flag rollback drill under load (changes the SUT's flags for everyone)",
        "dashboard: the admin dashboard in a real browser (Playwright, headless Chromium)",
        "reliability: webhook reliability: 1000+ messages with retries, batches and reordering",
        f"{READONLY_MARKER}: sends nothing that changes the SUT; the only tests run against production",
        *(f"journey_{role}: journeys with a {role} actor" for role in ROLES),
    ):
        config.addinivalue_line("markers", line)
    env = _load_env(config)
    config.stash[ENV_KEY] = env
    state = _SessionState(env, config.rootpath / config.getoption("easymo_reports"))
    config.stash[STATE_KEY] = state
    config.stash[REDACT_KEY] = state.redactor
    config.stash[RUNNER_FACTORY_KEY] = state.runner
    workerinput = getattr(config, "workerinput", None)
    if workerinput:
        state.shard = int(str(workerinput.get("workerid", "gw0")).removeprefix("gw") or 0)
    if workerinput and workerinput.get(WORKERINPUT_TARGET):
        state.target = Target.from_json(workerinput[WORKERINPUT_TARGET])
        state.redactor.add(*state.target.secrets())
    config.pluginmanager.register(_OutcomeRecorder(state.results), "easymo-qa-outcomes")
    config.add_cleanup(state.stop)
    _interrupted[0] = False
    set_invocation(_invocation(config, env))
    config.add_cleanup(lambda: set_invocation(None))


def _invocation(config: pytest.Config, env: Environment) -> Invocation:
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
        env_name=config.getoption("easymo_env") or os.environ.get("EASYMO_QA_ENV") or "local",
        env_file=(config.invocation_params.dir / env_file) if env_file else None,
        defects=tuple(d.strip() for d in env.reference_defects.split(",") if d.strip()),
        options=tuple(options),
    )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: boot the stack once, before the first worker starts, and share it."""
    state = node.config.stash[STATE_KEY]
    node.workerinput[WORKERINPUT_TARGET] = state.ensure_target().to_json()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_journey_file(file_path):
        return JourneyFile.from_parent(parent, path=file_path)
    return None


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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a production environment (without --allow-production) only ``readonly`` tests stay selected."""
    env = config.stash[ENV_KEY]
    if not env.production or config.getoption("easymo_allow_production"):
        return
    kept = [item for item in items if item.get_closest_marker(READONLY_MARKER) is not None]
    dropped = [item for item in items if item.get_closest_marker(READONLY_MARKER) is None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_runtest_setup(item: pytest.Item) -> None:
    env = item.config.stash[ENV_KEY]
    for mark in item.iter_markers("needs"):
        for capability in mark.args:
            if not env.has(capability):
                pytest.skip(f"not covered: environment {env.name!r} lacks the {capability!r} capability")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    transcript = item.stash.get(TRANSCRIPT_KEY, None)
    if transcript is not None and transcript.entries and report.when == "call":
        report.sections.append(("transcript", item.config.stash[STATE_KEY].redactor(transcript.render())))
    if report.when == "call" and report.failed:
        item.stash[CALL_FAILED_KEY] = True  # the strict end-of-test checks add nothing to a failure
    if transcript is not None and report.when == "call":
        # A plain attribute travels with the report from xdist workers to the controller.
        env = item.config.stash.get(ENV_KEY, None)
        report.easymo_latency = {
            "samples_ms": list(transcript.reply_latencies_ms),
            "timed_out": transcript.replies_timed_out,
            "censor_ms": 1000 * (env.timeouts.reply_seconds if env is not None else 5.0),
        }
    return report


def _clip(text: str, limit: int = 4000) -> str:
    """The head of a long failure: a journey's names the file, line, expectation and what arrived first."""
    if text.startswith("[gw"):  # pytest-xdist's "[gw0] linux -- Python ..." header line
        text = text.partition("\n")[2]
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters in reports/junit.xml)"


class _OutcomeRecorder:
    """Feeds every test report into the run's results (in the xdist controller: workers' reports too)."""

    def __init__(self, results: RunResults) -> None:
        self.results = results

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown" and report.outcome == "passed":
            return
        message = ""
        if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2]).removeprefix("Skipped: ")
        elif report.outcome == "failed":
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else _clip(report.longreprtext)
        transcript = "\n".join(text for name, text in report.sections if name == "transcript")
        markers = tuple(k for k, v in report.keywords.items() if v == 1 and k.isidentifier())
        hygiene = getattr(report, "easymo_hygiene", None)
        if isinstance(hygiene, dict):
            self.results.record_hygiene(report.nodeid, hygiene)
        latency = getattr(report, "easymo_latency", None)
        if isinstance(latency, dict):
            self.results.record_latency(latency)
        self.results.record(
            report.nodeid,
            report.when,
            report.outcome,
            markers=markers,
            duration=report.duration,
            message=message,
            transcript=transcript,
        )


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
        invocation=_invocation(config, state.env),
    )
    load_results = config.getoption("easymo_load_results")
    rollback_results = config.getoption("easymo_rollback_results")
    skip_reliability = config.getoption("easymo_skip_reliability")
    stage_runs = config.getoption("easymo_stage_runs")
    reliability_results = None if skip_reliability else _reliability_results(config, state)
    try:
        assessment, paths = sign_off(
            state.results,
            gates_path=config.rootpath / config.getoption("easymo_gates"),
            waivers_path=config.rootpath / config.getoption("easymo_waivers"),
            reports_dir=state.reports_dir,
            redact=state.redactor,
            info=info,
            load_results=config.rootpath / load_results if load_results else None,
            skip_load=config.getoption("easymo_skip_load"),
            rollback_results=config.rootpath / rollback_results if rollback_results else None,
            reliability_results=reliability_results,
            skip_reliability=skip_reliability,
            skip_reason=config.getoption("easymo_stage_skip_reason"),
            stage_runs=config.rootpath / stage_runs if stage_runs else None,
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


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Ctrl-C (not a collection error, which pytest also reports as "Interrupted"): no sign-off report."""
    _interrupted[0] = True


def _write_outcomes(config: pytest.Config) -> None:
    """``--outcomes-file``: this session's outcomes, for the sign-off that ran it as a stage."""
    target = config.getoption("easymo_outcomes_file")
    if not target:
        return
    state = config.stash[STATE_KEY]
    path = config.rootpath / target
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(state.results.to_dict(), indent=2, ensure_ascii=False)
    path.write_text(state.redactor(text) + "\n", encoding="utf-8")


def _reliability_results(config: pytest.Config, state: _SessionState) -> Path | None:
    """``--reliability-results``, else the file a reliability test of this very session wrote."""
    given = config.getoption("easymo_reliability_results")
    if given:
        return config.rootpath / given
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


# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def qa_env(pytestconfig: pytest.Config) -> Environment:
    """The loaded environment file."""
    return pytestconfig.stash[ENV_KEY]


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    """Endpoints and credentials of the system under test (boots the local stack on first use)."""
    return pytestconfig.stash[STATE_KEY].ensure_target()


@pytest.fixture(scope="session")
def http_client(pytestconfig: pytest.Config) -> httpx.Client:
    """The session's keep-alive HTTP client (never follows redirects: a webhook must answer)."""
    return pytestconfig.stash[STATE_KEY].client()


@pytest.fixture(scope="session")
def number_pool(pytestconfig: pytest.Config) -> TestNumberPool:
    """Fresh numbers from the environment's reserved test range, unique across xdist workers."""
    return pytestconfig.stash[STATE_KEY].numbers()


@pytest.fixture
def transcript(request: pytest.FixtureRequest) -> Iterator[Transcript]:
    """The conversation of this test, attached to its report (and to Allure when it is on)."""
    log = Transcript()
    request.node.stash[TRANSCRIPT_KEY] = log
    yield log
    if log.entries:
        _attach_to_allure(request.config.stash[STATE_KEY].redactor(log.render()))


def _attach_to_allure(text: str) -> None:
    try:
        import allure
    except ImportError:  # allure-pytest is optional for users of the plugin
        return
    allure.attach(text, name="transcript", attachment_type=allure.attachment_type.TEXT)


@pytest.fixture
def new_user(
    request: pytest.FixtureRequest,
    target: Target,
    http_client: httpx.Client,
    number_pool: TestNumberPool,
    transcript: Transcript,
) -> Iterator[Callable[..., WhatsAppUser]]:
    """Factory: ``new_user(role="buyer", name="Aimée")`` → a simulated user with a fresh test number.

    Strict at the end: when the test passed, every reply each user got must have been claimed by one
    of its checks (an extra message, or one meant for another user, fails the test in teardown).
    """
    on_reply = hygiene_observer(request.node)
    made: list[WhatsAppUser] = []

    def make(role: str = "user", name: str = "Test User") -> WhatsAppUser:
        user = WhatsAppUser(
            target,
            http_client,
            number_pool.next(),
            role=role,
            name=name,
            transcript=transcript,
            on_reply=on_reply,
        )
        made.append(user)
        return user

    yield make
    if made and not request.node.stash.get(CALL_FAILED_KEY, False):
        deadline = time.monotonic() + target.no_reply_seconds
        for user in made:
            user.expect_nothing_unclaimed(max(0.0, deadline - time.monotonic()))


@pytest.fixture
def user(new_user: Callable[..., WhatsAppUser]) -> WhatsAppUser:
    """One simulated WhatsApp user."""
    return new_user()
