"""The easyMO load test: simulated WhatsApp users running the e2e suite's journey files.

    locust -f loadtests/agents.py --config loadtests/profiles/ci.conf        # 30 users, 30 s
    locust -f loadtests/agents.py --config loadtests/profiles/cutover.conf   # 100 users, 300 s

Each user runs one journey of ``loadtests/mix.yaml`` per iteration, picked by weight, with fresh test
numbers. Two request types reach Locust for every turn, named ``<journey>:<step> <actor> <action>``:
``WEBHOOK`` (the signed POST: ACK latency and HTTP status) and ``REPLY`` (webhook sent → expected reply
recorded by the Graph API simulator; a missing or wrong reply is a failure).

The target comes from the environment files (``--env NAME`` / ``--env-file``, default ``local``, which
boots the local stack for the run); production is refused, and an environment off loopback (staging) is
loaded only within its file's ``load.max_users``. Reply latency is on this process's clock: the Graph API
simulator's ``received_at`` is corrected by the measured clock offset (``easymo_qa/load/clock.py``,
``summary.json``'s ``clock``). Every sample goes
into HdrHistograms; at the end ``reports/load/summary.json`` and ``reports/load/<TYPE>.hdr`` are written
and the exit code comes from the load gates of ``signoff.yaml`` (not from "any error fails").

Distributed: ``--master`` (boots the stack, sends the target to the workers with the spawn message,
merges their histograms) plus any number of ``--worker`` processes, here or on other machines.
Only this file imports locust; the machinery lives in ``easymo_qa/load/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
from locust import FastHttpUser, between, constant, events, task
from locust.env import Environment as LocustEnv
from locust.exception import StopUser
from locust.runners import STATE_INIT, STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

from easymo_qa.gates import GatesFileError
from easymo_qa.hygiene.log import HygieneLog, KnownIssuesError, load_known_issues
from easymo_qa.interrupts import INTERRUPTED_EXIT_CODE
from easymo_qa.layout import read_layout
from easymo_qa.load import evidence
from easymo_qa.load.clock import merge_sections
from easymo_qa.load.driver import JourneyDriver, LoadSession
from easymo_qa.load.mix import JourneyMix, MixError, load_mix
from easymo_qa.load.policy import LoadPolicy, LoadPolicyError, policy_for
from easymo_qa.load.samples import LatencyRecorder
from easymo_qa.load.stack import (
    LoadTargetError,
    StackProcess,
    check_target,
    load_env,
    target_from_file,
)
from easymo_qa.load.summary import (
    GateCheck,
    LoadRunInfo,
    check_gates,
    format_table,
    load_gates_of,
    merge_identity_counts,
    write_results,
)
from easymo_qa.target import Target

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = read_layout(ROOT)
MAX_FAILURE_EXAMPLES = 50
log = logging.getLogger("easymo_qa.load")
# Locust logs at INFO; httpx logs every request at INFO, which buried the run's own lines under one line per
# payments / admin check (70 in a 30 s run). Its warnings and errors still show.
logging.getLogger("httpx").setLevel(logging.WARNING)
RUNNING_STATES = (STATE_INIT, STATE_SPAWNING, STATE_RUNNING)  # quitting in one of these: interrupted


class _Run:
    """This process's part of the run."""

    def __init__(self) -> None:
        self.recorder = LatencyRecorder()
        self.session: LoadSession | None = None
        self.stack: StackProcess | None = None
        self.env_name = "local"
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.failures: list[dict[str, str]] = []
        self.identities: dict[str, dict[str, dict[str, int]]] = {}  # process → users by kind (totals)
        self.clocks: dict[str, dict[str, Any]] = {}  # process → its clock offset to the simulator
        self.check: GateCheck | None = None
        self.summary: dict[str, Any] | None = None
        self.reset_stats = False
        # Decided when Locust starts quitting: a run ended by Ctrl-C or SIGTERM is interrupted, and its
        # results are never published (see _note_how_it_ended).
        self.interrupted = False
        self.refused = ""  # why a start above the environment's load.max_users was refused (exit code 2)
        self.staging: Path | None = None
        self.final: Path | None = None


RUN = _Run()


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _fail(message: str) -> None:
    """Stop before any traffic: a clear message and exit code 2."""
    log.error("easymo-qa load test: %s", message)
    if RUN.stack is not None:
        RUN.stack.stop()
    sys.exit(2)


# --- command line -------------------------------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    group = parser.add_argument_group("easymo-qa", "easyMO load test")
    group.add_argument(
        "--env",
        default="local",
        env_var="EASYMO_QA_ENV",
        help="environment name: environments/NAME.yaml (default: local, which boots the local stack)",
    )
    group.add_argument("--env-file", default="", env_var="EASYMO_QA_ENV_FILE", help="an environment file")
    group.add_argument(
        "--mix",
        default=str(ROOT / LAYOUT.load_mix),
        env_var="EASYMO_QA_LOAD_MIX",
        help="journey mix file (default: loadtests/mix.yaml)",
    )
    group.add_argument(
        "--target-file",
        default="",
        env_var="EASYMO_QA_TARGET_FILE",
        help="use a stack that is already up: the JSON line `easymo-qa stack up` printed",
    )
    group.add_argument("--reports-root", default="reports", help="reports folder (default: reports)")
    group.add_argument(
        "--signoff-gates", default=str(ROOT / LAYOUT.gates), help="gates file (default: signoff.yaml)"
    )
    # Set by the master for its workers (they receive them with the spawn message); not for people.
    parser.add_argument("--easymo-target", default="", include_in_web_ui=False, help=argparse.SUPPRESS)
    parser.add_argument("--easymo-policy", default="", include_in_web_ui=False, help=argparse.SUPPRESS)


# --- set-up: target, stack, listeners -----------------------------------------------------------------------


@events.init.add_listener
def _on_init(environment: LocustEnv, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is None:  # used as a library: nothing to set up
        return
    runner = environment.runner
    RUN.reset_stats = bool(opts.reset_stats)
    if not isinstance(runner, MasterRunner):
        environment.events.request.add_listener(_on_request)
    if isinstance(runner, WorkerRunner):
        environment.events.report_to_master.add_listener(_on_report_to_master)
        return  # a worker gets its target from the master, with the spawn message
    if isinstance(runner, MasterRunner):
        environment.events.worker_report.add_listener(_on_worker_report)
    # Added after the runner's own quitting listener, so (listeners fire in reverse) this runs first.
    environment.events.quitting.add_listener(_note_how_it_ended)
    RUN.staging = evidence.staging_dir(Path(opts.reports_root))
    RUN.final = evidence.final_dir(Path(opts.reports_root))
    evidence.prepare(RUN.staging, keep=[opts.csv_prefix, opts.html_file])
    for what, path in (("--csv", opts.csv_prefix), ("--html", opts.html_file)):
        if not evidence.inside(path, RUN.staging):
            log.warning(
                "easymo-qa: Locust's %s goes to %s, not to %s/: it is not part of the published results, "
                "and an interrupted run overwrites it",
                what,
                path,
                RUN.staging,
            )
    try:
        env, env_path = load_env(
            opts.env, opts.env_file or None, [Path.cwd() / LAYOUT.environments, ROOT / LAYOUT.environments]
        )
        RUN.env_name = env.name
        policy = policy_for(env, env_path)
        policy.check_users(_asked_users(opts))
        mix = load_mix(opts.mix)
        load_gates_of(Path(opts.signoff_gates))  # a broken gates file fails now, not after the run
        if opts.target_file:
            target = target_from_file(Path(opts.target_file), env)
        else:
            RUN.stack = StackProcess(env_path, Path(opts.reports_root), log_dir=RUN.staging)
            log.info("easymo-qa: starting the %s stack (logs: %s)", env.name, RUN.stack.log_path)
            target = RUN.stack.start()
        check_target(target, shared=policy.shared)
    except (LoadTargetError, LoadPolicyError, MixError, GatesFileError) as exc:
        _fail(str(exc))
        return
    _cap_every_start(environment, policy)
    opts.easymo_target = target.to_json()
    opts.easymo_policy = policy.to_json()
    environment.host = _origin(target.webhook_url)
    log.info(
        "easymo-qa: target %s (webhook %s, replies from %s); mix: %s",
        target.env_name,
        target.webhook_url,
        target.graph_api_url,
        mix.describe(),
    )


def _asked_users(opts: Any) -> int | None:
    """The users the command line or config asks for (-u / users); None when a shape or the web UI decides."""
    return int(opts.num_users) if opts.num_users else None


def _cap_every_start(environment: LocustEnv, policy: LoadPolicy) -> None:
    """Refuse any start (a shape's tick, the web UI's form) above the environment's cap, before its users
    spawn: every way of setting the user count goes through the runner's ``start``."""
    runner = environment.runner
    if runner is None or policy.max_users is None or isinstance(runner, WorkerRunner):
        return
    start = runner.start

    def capped_start(user_count: int, spawn_rate: float, *args: Any, **kwargs: Any) -> None:
        try:
            policy.check_users(user_count)
        except LoadPolicyError as exc:
            log.error("easymo-qa load test: %s", exc)
            RUN.refused = str(exc)
            environment.process_exit_code = 2
            gevent.spawn(runner.quit)  # not from inside the caller (a shape's greenlet, the web UI's request)
            return
        start(user_count, spawn_rate, *args, **kwargs)

    runner.start = capped_start  # type: ignore[method-assign]


def _open_session(environment: LocustEnv) -> None:
    opts = environment.parsed_options
    if not opts.easymo_target:
        _fail("no target: a worker needs a master started from loadtests/agents.py")
    try:
        policy = LoadPolicy.from_json(opts.easymo_policy) if opts.easymo_policy else LoadPolicy("?")
        target = check_target(Target.from_json(opts.easymo_target), shared=policy.shared)
        mix: JourneyMix = load_mix(opts.mix)
        hygiene = HygieneLog(load_known_issues(ROOT / LAYOUT.hygiene_known_issues))
    except (LoadTargetError, MixError, KnownIssuesError) as exc:
        _fail(str(exc))
        return
    low, high = mix.think_seconds
    WhatsAppLoadUser.wait_time = between(low, high) if high > 0 else constant(0)
    WhatsAppLoadUser.host = _origin(target.webhook_url)
    RUN.env_name = target.env_name
    try:
        RUN.session = LoadSession.open(
            target, mix, max(environment.runner.worker_index, 0), hygiene, verify_tls=policy.verify_tls
        )
    except Exception as exc:  # the users stop at once; no samples, so every load gate fails
        log.error(
            "easymo-qa: cannot follow the replies at %s (%s); no user will start", target.graph_api_url, exc
        )
        return
    log.info(
        "easymo-qa: worker %s uses test numbers %s…, replies from one shared stream",
        environment.runner.worker_index,
        RUN.session.numbers.prefix,
    )


@events.test_start.add_listener
def _on_test_start(environment: LocustEnv, **_: Any) -> None:
    RUN.started_at, RUN.finished_at = time.time(), None
    RUN.recorder.reset()
    RUN.failures = []
    RUN.identities = {}
    RUN.clocks = {}
    if not isinstance(environment.runner, MasterRunner) and environment.parsed_options is not None:
        if RUN.session is not None:
            RUN.session.close()
        _open_session(environment)


@events.test_stopping.add_listener
def _on_test_stopping(environment: LocustEnv, **_: Any) -> None:
    RUN.finished_at = time.time()


@events.test_stop.add_listener
def _on_test_stop(environment: LocustEnv, **_: Any) -> None:
    if RUN.session is not None:
        RUN.failures.extend(RUN.session.take_failures())
        RUN.identities["local"] = RUN.session.identity_counts()
        RUN.session.measure_clock_end()  # how far the offset moved during the run
        RUN.clocks["local"] = RUN.session.clock_section()
        if isinstance(environment.runner, WorkerRunner):
            return  # the final report (after quit) still needs the session's failures
        RUN.session.close()
        RUN.session = None


@events.spawning_complete.add_listener
def _on_spawning_complete(user_count: int, **_: Any) -> None:
    if RUN.reset_stats:  # --reset-stats: Locust forgets the ramp-up, and so do we
        RUN.recorder.reset()


# --- samples: every request, across processes ---------------------------------------------------------------


def _on_request(
    request_type: str, response_time: float | None, exception: Exception | None, **_: Any
) -> None:
    RUN.recorder.record(request_type, response_time or 0.0, exception is not None)


def _on_report_to_master(client_id: str, data: dict[str, Any]) -> None:
    data["easymo_samples"] = RUN.recorder.drain()
    failures = RUN.failures + (RUN.session.take_failures() if RUN.session is not None else [])
    RUN.failures = []
    data["easymo_failures"] = failures[:MAX_FAILURE_EXAMPLES]
    data["easymo_identities"] = RUN.session.identity_counts() if RUN.session else RUN.identities.get("local")
    data["easymo_clock"] = RUN.session.clock_section() if RUN.session else RUN.clocks.get("local")


def _on_worker_report(client_id: str, data: dict[str, Any]) -> None:
    RUN.recorder.merge(data.get("easymo_samples") or {})
    room = MAX_FAILURE_EXAMPLES - len(RUN.failures)
    RUN.failures.extend((data.get("easymo_failures") or [])[: max(room, 0)])
    if data.get("easymo_identities"):  # each worker's totals so far: the latest report wins
        RUN.identities[client_id] = data["easymo_identities"]
    if data.get("easymo_clock"):
        RUN.clocks[client_id] = data["easymo_clock"]


# --- the end: summary, gates, exit code ---------------------------------------------------------------------


def _note_how_it_ended(environment: LocustEnv, **_: Any) -> None:
    """Complete, or interrupted? Locust quits the same way for both (its ``quitting`` event, then its exit
    code from ``environment.process_exit_code``: https://docs.locust.io/en/2.16.0/running-without-web-ui.html).
    At the end of --run-time Locust has already stopped the runner when ``quitting`` fires; on Ctrl-C
    (KeyboardInterrupt) or SIGTERM (its handler calls shutdown() directly) the users are still running.
    A test stopped from the web UI counts as complete too."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return
    # A master that quits is "stopping" (it does not wait for its workers' answer), a local runner "stopped".
    RUN.interrupted = runner is None or runner.state in RUNNING_STATES or RUN.started_at is None


@events.quitting.add_listener
def _on_quitting(environment: LocustEnv, **_: Any) -> None:
    # Registered at import, so it runs after the runners' own quitting listeners (they fire in reverse):
    # by now the workers' final reports are in.
    opts = environment.parsed_options
    if opts is None:
        return
    if isinstance(environment.runner, WorkerRunner):
        if RUN.session is not None:
            RUN.session.close()
            RUN.session = None
        return
    staging = RUN.staging or evidence.staging_dir(Path(opts.reports_root))
    final = RUN.final or evidence.final_dir(Path(opts.reports_root))
    if RUN.refused:  # no user ever started: nothing to write, and reports/load/ stays as it was
        environment.process_exit_code = 2
        if RUN.stack is not None:
            RUN.stack.stop()
            RUN.stack = None
        return
    try:
        if RUN.session is not None:
            RUN.failures.extend(RUN.session.take_failures())
            RUN.identities["local"] = RUN.session.identity_counts()
            RUN.session.close()
            RUN.clocks["local"] = RUN.session.clock_section()
            RUN.session = None
        staging.mkdir(parents=True, exist_ok=True)
        with (staging / "failures.jsonl").open("w", encoding="utf-8") as fh:
            for failure in RUN.failures[:MAX_FAILURE_EXAMPLES]:
                fh.write(json.dumps(failure) + "\n")
        if RUN.interrupted:
            ran = time.time() - RUN.started_at if RUN.started_at else 0.0
            evidence.mark_interrupted(staging, f"interrupted after {ran:.0f} s of {opts.run_time or '?'} s")
            environment.process_exit_code = INTERRUPTED_EXIT_CODE
            return
        finished = RUN.finished_at or time.time()
        started = RUN.started_at or finished
        run = LoadRunInfo(
            profile=opts.profile or "adhoc",
            environment=RUN.env_name,
            started_at=started,
            finished_at=finished,
            users=int(opts.num_users or 0),
            identities=merge_identity_counts(RUN.identities.values()),
            clock=merge_sections(list(RUN.clocks.values())),
        )
        RUN.summary = write_results(RUN.recorder, run, staging, RUN.failures, published_as=final)
        RUN.check = check_gates(RUN.summary, load_gates_of(Path(opts.signoff_gates)))
        if RUN.stack is not None:  # its log is part of the results
            RUN.stack.stop()
            RUN.stack = None
        evidence.publish(staging, final)
        environment.process_exit_code = RUN.check.exit_code
    except Exception:
        log.exception("easymo-qa: could not write the load summary")
        environment.process_exit_code = 2
    finally:
        if RUN.stack is not None:
            RUN.stack.stop()
            RUN.stack = None


@events.quit.add_listener
def _on_quit(exit_code: int, **_: Any) -> None:
    # After Locust's own tables: the figures that decide, and why the exit code is what it is.
    if RUN.refused:
        _say(f"\nLoad test REFUSED before any user started: {RUN.refused}; exit code {exit_code}")
        return
    if RUN.interrupted and RUN.staging is not None:
        ran = time.time() - RUN.started_at if RUN.started_at else 0.0
        _say(
            f"\nLoad test INTERRUPTED after {ran:.0f} s (Ctrl-C or SIGTERM); exit code {exit_code}. "
            f"Nothing published: {RUN.final} still holds the last complete run; this run's partial "
            f"files are in {RUN.staging}/"
        )
        return
    if RUN.summary is None or RUN.check is None:
        return
    out = Path(RUN.summary["source"]).parent
    _say("\neasyMO load test (exact percentiles from every sample; Locust's table above rounds them)")
    for line in format_table(RUN.summary):
        _say("  " + line)
    clock = RUN.summary.get("clock")
    if clock and clock.get("samples"):
        drift = clock.get("drift_ms")
        _say(
            f"  clock offset to the simulators: {clock['offset_ms']:+.3f} ms "
            f"± {clock['uncertainty_ms']:.3f} ms ({clock['samples']} round trips; drift by the end: "
            + (f"{drift:+.3f} ms)" if drift is not None else "not measured)")
        )
    _say("Load gates (signoff.yaml):")
    for line in RUN.check.lines:
        _say("  " + line)
    verdict = (
        "PASSED" if RUN.check.exit_code == 0 else f"FAILED ({', '.join(RUN.check.failed) or 'no gates'})"
    )
    _say(f"Load test {verdict}; exit code {exit_code}. Results: {out / 'summary.json'}")
    if RUN.failures:
        _say(f"Failed turns (first {len(RUN.failures)}, with transcripts): {out / 'failures.jsonl'}")


# --- the simulated users ------------------------------------------------------------------------------------


class WhatsAppLoadUser(FastHttpUser):
    """A person on WhatsApp: one journey of the mix per iteration, fresh numbers each time."""

    host = "http://127.0.0.1"  # replaced by the target's webhook origin at test start
    # Locust's FastHttpUser skips certificate checks unless told (insecure = True by default,
    # https://docs.locust.io/en/stable/increase-performance.html, the FastHttpUser API): an https
    # staging webhook is verified, as every other client of the harness does.
    insecure = False
    wait_time = constant(0)  # replaced by the mix's think_seconds at test start
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        if RUN.session is None:
            raise StopUser()  # the reason was logged when the test started
        request = self.environment.events.request

        def fire(request_type: str, name: str, response_time: float, error: Exception | None) -> None:
            request.fire(
                request_type=request_type,
                name=name,
                response_time=response_time,
                response_length=0,
                exception=error,
                context={},
            )

        self.driver = JourneyDriver(RUN.session, self.client, fire, random.Random())

    @task
    def journey(self) -> None:
        self.driver.run_once()
