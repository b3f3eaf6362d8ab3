"""``easymo-qa doctor``: the checks in order, each skipped when one it needs could not be done, around
one started stack (the local stack for ``stack: local``, else what the environment asks the harness to run).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from easymo_qa.doctor import dependency_checks as deps
from easymo_qa.doctor import webhook_checks as hooks
from easymo_qa.doctor.model import DoctorReport, Outcome, Row
from easymo_qa.doctor.probe import Probe
from easymo_qa.envs import Environment, EnvironmentError_, Redactor, load_environment
from easymo_qa.stack import RunningStack, start_stack
from easymo_qa.stack.reference_process import StackError
from easymo_qa.target import Target
from easymo_qa.whatsapp.numbers import TestNumberPool

ENVIRONMENT, STACK = "environment", "harness stack"
HANDSHAKE, SIGNATURES = "verify handshake", "webhook signatures"
GRAPH, REPLY = "Graph API simulator", "reply reaches the simulator"
SERVER = "simulators server"


@dataclass(frozen=True)
class Check:
    """One row: its name, the checks it needs, whether the target configures it, and the check."""

    name: str
    run: Callable[[Probe], Outcome]
    needs: tuple[str, ...] = (STACK, SERVER)
    configured: Callable[[Target], bool] = lambda target: True
    listed: bool = True  # named under "not configured here" when the target does not configure it


def _admin(target: Target) -> bool:
    return bool(target.admin_url and target.admin_token)


CHECKS = (
    Check(SERVER, hooks.simulators_server, configured=lambda t: bool(t.simulators_url), listed=False),
    Check(HANDSHAKE, hooks.verify_handshake, needs=()),
    Check(SIGNATURES, hooks.signatures, needs=(HANDSHAKE,)),
    Check(GRAPH, hooks.graph_simulator),
    Check(REPLY, hooks.reply_reaches_simulator, needs=(SIGNATURES, GRAPH)),
    Check("LLM simulator", deps.llm_simulator, configured=lambda t: bool(t.llm_url)),
    Check("payments simulator", deps.payments_simulator, configured=lambda t: bool(t.payments_url)),
    Check("maps simulator", deps.maps_simulator, configured=lambda t: bool(t.maps_url)),
    Check("admin API", deps.admin_api, configured=_admin),
    Check("fault API", deps.fault_api, configured=lambda t: t.has("faults")),
    Check("flag API", deps.flag_api, configured=lambda t: t.has("flags") and _admin(t)),
)


def run_doctor(
    path: Path,
    reports_dir: Path,
    *,
    environ: Mapping[str, str] | None = None,
    note: Callable[[str], None] = lambda line: None,
) -> DoctorReport:
    """Every check against the environment file at ``path``; ``note`` hears what is started, as it is."""
    report = DoctorReport(env_label=str(path))
    try:
        env = load_environment(path, environ)
    except EnvironmentError_ as exc:
        hint = "fix the file at the line named"
        if exc.missing:
            exports = " ".join(f"{name}=…" for name in exc.missing)
            hint = f"export {exports} (or give the key a default: ${{VAR:-value}})"
        report.rows.append(Row("fail", ENVIRONMENT, str(exc), hint))
        return report
    report.env_label = env.name
    redact = Redactor(env.secrets())
    caps = ", ".join(env.capabilities) or "none"
    report.rows.append(Row("pass", ENVIRONMENT, f"{env.name} (stack: {env.stack}; capabilities: {caps})"))
    if env.stack == "local":
        note("booting the local stack (reference service + simulators on 127.0.0.1); stopped at the end")
    started = time.monotonic()
    try:
        stack = start_stack(env, reports_dir)
    except StackError as exc:
        hint = "see the reference service's log named" if env.stack == "local" else "fill in the keys named"
        report.rows.append(Row("fail", STACK, redact(str(exc)), hint))
        report.rows.append(Row("skip", "the other checks", f"needs: {STACK}"))
        return report
    with stack:
        redact.add(*stack.target.secrets())
        report.rows.append(Row("pass", STACK, _describe_stack(env, stack, time.monotonic() - started)))
        check_target(stack.target, report, redact)
    return report


def _describe_stack(env: Environment, stack: RunningStack, seconds: float) -> str:
    target = stack.target
    if env.stack == "local":
        return f"local stack up in {seconds:.1f} s (reference service at {target.admin_url})"
    if env.simulators and env.simulators.url:
        return f"deployed simulators at {target.simulators_url}"
    if env.graph_simulator:
        return f"Graph API simulator listening at {target.graph_api_url}"
    if target.graph_api_url:
        return f"simulators listening at {target.simulators_url or target.graph_api_url}"
    return "nothing to start (no simulators in this environment)"


def check_target(
    target: Target, report: DoctorReport | None = None, redact: Redactor | None = None
) -> DoctorReport:
    """Every check of :data:`CHECKS` against a running target, appended to ``report``."""
    report = report if report is not None else DoctorReport(env_label=target.env_name)
    redact = redact if redact is not None else Redactor(target.secrets())
    broken: dict[str, str] = {}  # a check → the failed check that made it impossible
    limits = httpx.Limits(max_connections=4)
    with httpx.Client(
        timeout=target.http_seconds, limits=limits, follow_redirects=False, auth=target.harness_auth()
    ) as client:
        probe = Probe(target, client, TestNumberPool(target.number_prefix, target.number_length))
        for check in CHECKS:
            if not check.configured(target):
                if check.listed:
                    report.not_configured.append(check.name)
                continue
            blocker = next((broken[n] for n in check.needs if n in broken), None)
            if blocker is not None:
                report.rows.append(Row("skip", check.name, f"needs: {blocker}"))
                broken[check.name] = blocker
                continue
            outcome = check.run(probe)
            status = "skip" if outcome.ok is None else "pass" if outcome.ok else "fail"
            report.rows.append(Row(status, check.name, redact(outcome.detail), redact(outcome.hint)))
            if outcome.ok is None or (outcome.ok is False and outcome.blocks):
                broken[check.name] = check.name
    return report
