"""``easymo-qa signoff``, ``verdict`` and ``report``: run the sign-off, read its verdict, re-render it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from easymo_qa.cli.environment import add_env_options, environment_path, selector
from easymo_qa.envs import (
    Environment,
    EnvironmentError_,
    Redactor,
    declares_production,
    environment_name,
    load_environment,
)
from easymo_qa.layout import Layout, layout
from easymo_qa.safety import ALLOW_FLAG, refusal
from easymo_qa.stages.session import run_signoff

# `--suites NAME,...`: each name's folder in the layout, run in this order.
SUITE_FOLDERS = {"smoke": "smoke", "journeys": "e2e", "synthetic": "synthetic"}


def _suite_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SUITE_FOLDERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown suite {', '.join(unknown) or '(none)'}; choose from {','.join(SUITE_FOLDERS)}"
        )
    return names


def cmd_signoff(args: argparse.Namespace) -> int:
    path = environment_path(args)
    if not args.allow_production and declares_production(path):
        what = "the sign-off runs journeys, synthetic faults, the reliability storm and load against it"
        print(f"easymo-qa: {refusal(environment_name(path), what, selector(args))}", file=sys.stderr)
        return 2
    where = layout()
    picked = [getattr(where, folder) for name, folder in SUITE_FOLDERS.items() if name in args.suites]
    suites = [suite.as_posix() for suite in picked if suite.is_dir()]
    if not suites:
        print(
            "easymo-qa: no test suites here; run `easymo-qa signoff` from the easymo-qa checkout",
            file=sys.stderr,
        )
        return 4
    if (problem := _signoff_inputs_problem(where)) is not None:
        print(f"easymo-qa: {problem}", file=sys.stderr)
        return 2
    env = _environment_or_none(path)
    if (unreachable := _bot_unreachable(env)) is not None:
        why = f"{unreachable}; no stage was run (easymo-qa doctor {selector(args)} checks the rest)"
        print(f"easymo-qa: {why}", file=sys.stderr)
        return 3
    env_args = ["--env-file", args.env_file] if args.env_file else ["--env", args.env]
    if args.allow_production:
        env_args.append(ALLOW_FLAG)
    redact = Redactor(env.secrets()) if env else Redactor()  # the stages' output tails, masked
    # None: the file does not load here; every stage is tried, and the smoke stage names what is wrong
    capabilities = env.capabilities if env else None
    return run_signoff(args, suites, env_args, redact, capabilities)


def _signoff_inputs_problem(where: Layout) -> str | None:
    """signoff.yaml and waivers.yaml, checked before any stage runs (the final session reads them again)."""
    from easymo_qa.signoff.files import SignoffInputError, check_inputs

    try:
        check_inputs(where.gates, where.waivers)
    except SignoffInputError as exc:
        return f"{exc}\n(nothing was run: fix the sign-off's inputs first)"
    return None


def _environment_or_none(path: Path) -> Environment | None:
    """The environment file, read once for the preflight, the redactor and the stages' capabilities; None
    when it does not load: the smoke stage names what is wrong with it, as before."""
    try:
        return load_environment(path)
    except EnvironmentError_:
        return None


def _bot_unreachable(env: Environment | None) -> str | None:
    """The cheap preflight (one GET) for a deployed bot; each stage boots, and so checks, a local stack."""
    from easymo_qa.doctor.preflight import webhook_unreachable

    if env is None or env.stack == "local" or not env.webhook.url:
        return None
    found = webhook_unreachable(env.webhook.url, env.webhook.verify_token, env.timeouts.http_seconds)
    return Redactor(env.secrets())(found) if found else None


def cmd_verdict(args: argparse.Namespace) -> int:
    """Print a sign-off's verdict; with --expect / --failed, exit 1 unless it is the expected one."""
    try:
        report = json.loads(Path(args.source).read_text(encoding="utf-8"))
        verdict, failed = str(report["verdict"]), list(report["failed_gates"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"easymo-qa: cannot read a sign-off verdict from {args.source}: {exc}", file=sys.stderr)
        return 2
    print(f"{args.source}: {verdict}" + (f" (failed: {', '.join(failed)})" if failed else ""))
    problems = []
    if args.expect and verdict != args.expect:
        problems.append(f"expected {args.expect}")
    missing = [gate for gate in args.failed or [] if gate not in failed]
    if missing:
        problems.append(f"expected failed gate(s) {', '.join(missing)}")
    if problems:
        print(f"easymo-qa: {'; '.join(problems)}", file=sys.stderr)
        return 1
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from easymo_qa.signoff.files import ReportError, rerender

    source = Path(args.source) if args.source else Path(args.reports_dir or layout().reports) / "signoff.json"
    try:
        paths = rerender(source, Path(args.reports_dir) if args.reports_dir else None)
    except ReportError as exc:
        print(f"easymo-qa: {exc}", file=sys.stderr)
        return 2
    print(f"Re-rendered from {source}: {' and '.join(str(p) for p in paths)}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    reports = layout().reports  # every default below is in the project's reports folder
    signoff = commands.add_parser("signoff", help="run the validation and write the sign-off report")
    add_env_options(signoff)
    signoff.add_argument("--reports-dir", default=str(reports))
    signoff.add_argument("-n", "--workers", default="2", help="pytest-xdist workers (0 = none; default 2)")
    signoff.add_argument(
        "--profile",
        choices=("ci", "cutover"),
        default="ci",
        help="load profile: ci (30 users, 30 s; default) or cutover (the seed's 100 users, 300 s)",
    )
    signoff.add_argument(
        "--suites",
        type=_suite_names,
        default=list(SUITE_FOLDERS),
        help=f"comma list of suites to run: {','.join(SUITE_FOLDERS)} (default: all)",
    )
    # Each stage before the main session: an existing result instead, or skipped (its gates then block GO).
    for stage, given, what in (
        ("load", "DIR", "an existing load run's DIR/summary.json"),
        ("rollback", "FILE", "an existing rollback drill's result (rollback.json)"),
        ("reliability", "FILE", "an existing reliability run's reliability.json"),
    ):
        group = signoff.add_mutually_exclusive_group()
        group.add_argument(f"--{stage}-results", metavar=given, help=f"use {what}")
        group.add_argument(
            f"--skip-{stage}",
            action="store_true",
            help=f"don't run the {stage} stage (its gates are not run: they block GO unless waived)",
        )
    signoff.add_argument(
        "--skip-cutover",
        action="store_true",
        help="don't run the cutover suite (rollout, agent flags, dashboard; its gates block unless waived)",
    )
    signoff.add_argument(
        ALLOW_FLAG,
        dest="allow_production",
        action="store_true",
        help="sign off against an environment marked production anyway (it runs faults, storms and load)",
    )
    signoff.set_defaults(func=cmd_signoff)
    report = commands.add_parser("report", help="re-render signoff.md and signoff.html from signoff.json")
    report.add_argument("--from", dest="source", help="the sign-off JSON (default: REPORTS_DIR/signoff.json)")
    report.add_argument("--reports-dir", help="where to write (default: beside the JSON)")
    report.set_defaults(func=cmd_report)
    verdict = commands.add_parser("verdict", help="print a sign-off's verdict; check it with --expect")
    verdict.add_argument("source", nargs="?", default=str(reports / "signoff.json"), help="a signoff.json")
    verdict.add_argument(
        "--expect",
        choices=("GO", "GO with waivers", "NO-GO"),
        help="exit 1 unless the verdict is exactly this",
    )
    verdict.add_argument(
        "--failed", action="append", metavar="GATE", help="exit 1 unless this gate failed (repeatable)"
    )
    verdict.set_defaults(func=cmd_verdict)
