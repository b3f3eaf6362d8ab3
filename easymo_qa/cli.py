"""``easymo-qa``: the command line. A thin layer over the stack and pytest; nothing imports it."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from easymo_qa.envs import (
    EnvironmentError_,
    declares_production,
    environment_name,
    load_environment,
    resolve_environment_path,
)
from easymo_qa.envs.model import Environment
from easymo_qa.interrupts import INTERRUPTED_EXIT_CODE, sigterm_interrupts
from easymo_qa.layout import layout
from easymo_qa.safety import ALLOW_FLAG, refusal
from easymo_qa.stack import start_stack
from easymo_qa.stack.reference_process import StackError, find_reference_root
from easymo_qa.stages.session import run_signoff

# `--suites NAME,...`: each name's folder in the layout, run in this order.
SUITE_FOLDERS = {"smoke": "smoke", "journeys": "e2e", "synthetic": "synthetic"}


def _add_env_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", default="local", help="environment name: environments/NAME.yaml (default: local)"
    )
    parser.add_argument("--env-file", help="path of an environment file (overrides --env)")


def _environment_path(args: argparse.Namespace) -> Path:
    return Path(args.env_file) if args.env_file else resolve_environment_path(args.env)


def _selector(args: argparse.Namespace) -> str:
    return f"--env-file {args.env_file}" if args.env_file else f"--env {args.env}"


def _environment(args: argparse.Namespace) -> Environment:
    return load_environment(_environment_path(args))


def cmd_stack_up(args: argparse.Namespace) -> int:
    env = _environment(args)
    started = time.perf_counter()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Killed any way, even SIGKILL, this process takes the reference service with it (stack/lifeline.py).
    try:
        stack = start_stack(env, Path(args.reports_dir))
    except KeyboardInterrupt:  # Ctrl-C while booting: start_stack stopped what it had started
        print("easymo-qa: stack up INTERRUPTED while starting; nothing left running", file=sys.stderr)
        return 130
    with stack:
        t = stack.target
        info = {
            "environment": env.name,
            "webhook_url": t.webhook_url,
            "health_url": t.health_url,
            "graph_api_url": t.graph_api_url,
            "phone_number_id": t.phone_number_id,
            "display_phone_number": t.display_phone_number,
            "access_token": t.access_token,
            "app_secret": t.app_secret,
            "verify_token": t.verify_token,
            "admin_url": t.admin_url,
            "admin_token": t.admin_token,
            "defects": list(t.defects),
            "started_in_seconds": round(time.perf_counter() - started, 3),
        }
        print(json.dumps(info), flush=True)
        print("easymo-qa: stack is up; Ctrl-C or SIGTERM stops it", file=sys.stderr, flush=True)
        try:
            while not stop.wait(0.5):
                if problem := stack.problem():  # never serve on with a dead SUT behind the URLs
                    print(f"easymo-qa: {problem}", file=sys.stderr)
                    return 1
        except KeyboardInterrupt:
            pass
    print("easymo-qa: stack stopped", file=sys.stderr)
    return 0


def cmd_stack_defects(args: argparse.Namespace) -> int:
    root = find_reference_root()
    out = subprocess.run(
        [sys.executable, "-m", "reference", "--list-defects"], cwd=root, capture_output=True, text=True
    )
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return out.returncode
    rows = [line.split("\t", 1) for line in out.stdout.splitlines() if line.strip()]
    width = max((len(r[0]) for r in rows), default=0)
    print("Defect switches of the reference service (REFERENCE_DEFECTS=name,name ...):")
    for name, *what in rows:
        print(f"  {name:<{width}}  {what[0] if what else ''}")
    return 0


def _suite_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SUITE_FOLDERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown suite {', '.join(unknown) or '(none)'}; choose from {','.join(SUITE_FOLDERS)}"
        )
    return names


def cmd_signoff(args: argparse.Namespace) -> int:
    path = _environment_path(args)
    if not args.allow_production and declares_production(path):
        what = "the sign-off runs journeys, synthetic faults, the reliability storm and load against it"
        print(f"easymo-qa: {refusal(environment_name(path), what, _selector(args))}", file=sys.stderr)
        return 2
    picked = [getattr(layout(), folder) for name, folder in SUITE_FOLDERS.items() if name in args.suites]
    suites = [suite.as_posix() for suite in picked if suite.is_dir()]
    if not suites:
        print(
            "easymo-qa: no test suites here; run `easymo-qa signoff` from the easymo-qa checkout",
            file=sys.stderr,
        )
        return 4
    if (problem := _signoff_inputs_problem()) is not None:
        print(f"easymo-qa: {problem}", file=sys.stderr)
        return 2
    env_args = ["--env-file", args.env_file] if args.env_file else ["--env", args.env]
    if args.allow_production:
        env_args.append(ALLOW_FLAG)
    return run_signoff(args, suites, env_args, _redactor(path))


def _signoff_inputs_problem() -> str | None:
    """signoff.yaml and waivers.yaml, checked before any stage runs (the final session reads them again)."""
    from easymo_qa.signoff.files import SignoffInputError, check_inputs

    try:
        check_inputs(layout().gates, layout().waivers)
    except SignoffInputError as exc:
        return f"{exc}\n(nothing was run: fix the sign-off's inputs first)"
    return None


def _redactor(path: Path) -> Callable[[str], str]:
    """Masks the environment file's secrets in what the stages record (their output tails)."""
    from easymo_qa.envs import Redactor

    try:
        return Redactor(load_environment(path).secrets())
    except EnvironmentError_:
        return Redactor()


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


def cmd_cleanup(args: argparse.Namespace) -> int:
    import httpx

    from easymo_qa.cleanup import CleanupError, CleanupUnavailable, cleanup_test_data
    from easymo_qa.envs import Redactor

    env = _environment(args)
    if env.production and not args.allow_production:
        print(
            f"easymo-qa: {refusal(env.name, 'cleanup deletes data there', _selector(args))}", file=sys.stderr
        )
        return 2
    redact = Redactor(env.secrets())
    try:
        with httpx.Client(timeout=env.timeouts.http_seconds, follow_redirects=False) as client:
            result = cleanup_test_data(env, client)
    except CleanupUnavailable as exc:
        print(f"easymo-qa: {redact(str(exc))}", file=sys.stderr)
        return 3
    except CleanupError as exc:
        print(f"easymo-qa: cleanup failed: {redact(str(exc))}", file=sys.stderr)
        return 1
    print(redact(f"easymo-qa: {result.describe()}"))
    return 0


def cmd_contract_matrix(args: argparse.Namespace) -> int:
    """Rule → tests → defect switches; exit 1 when a rule has no test or a test names an unknown rule."""
    from easymo_qa import contract_matrix
    from easymo_qa.contract_rules import ContractRulesError

    root = contract_matrix.find_root()
    if root is None:
        contracts = " / ".join(c.as_posix() for c in layout().contracts)
        print(f"easymo-qa: no {contracts} here or above", file=sys.stderr)
        return 2
    try:
        matrix = contract_matrix.matrix_for(root, args.mutation)
    except ContractRulesError as exc:
        print(f"easymo-qa: {exc}", file=sys.stderr)
        return 2
    paths = contract_matrix.write_matrix(matrix.to_dict(), args.reports_dir)
    counts = matrix.counts()
    print(f"{len(matrix.rows)} contract rules: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    for row in matrix.rows:
        if row.status != "covered":
            print(f"  {row.status:<9}  {row.rule.id:<11}  {row.rule.where}")
    for problem in matrix.problems():
        print(f"  ! {problem}")
    print(f"Contract matrix: {paths[0]} ({paths[1]})")
    return 1 if matrix.problems() else 0


def cmd_hygiene_rules(args: argparse.Namespace) -> int:
    from easymo_qa.hygiene import RULES

    rules = [(r.name, r.description) for r in RULES.values()]
    width = max(len(name) for name, _ in rules)
    print("Message hygiene rules (every reply the tests receive; --hygiene=fail|warn|off):")
    for name, description in rules:
        print(f"  {name:<{width}}  {description}")
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from easymo_qa.sensitivity import main as sensitivity_main

    print("Harness sensitivity: each defect switch must make its tests fail, at the step it names")
    return sensitivity_main(workers=args.workers, report=Path(args.report), defects=tuple(args.defect or ()))


def cmd_mutation(args: argparse.Namespace) -> int:
    from easymo_qa.mutation.session import run_from_args

    return run_from_args(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="easymo-qa", description="easyMO cutover QA harness")
    commands = parser.add_subparsers(dest="command", required=True)
    reports = layout().reports  # every default below is in the project's reports folder

    stack = commands.add_parser("stack", help="the embedded local stack").add_subparsers(
        dest="stack_command", required=True
    )
    up = stack.add_parser("up", help="run the stack in the foreground; print its URLs as one JSON line")
    _add_env_options(up)
    up.add_argument("--reports-dir", default=str(reports))
    up.set_defaults(func=cmd_stack_up)
    defects = stack.add_parser("defects", help="list the reference service's defect switches")
    defects.set_defaults(func=cmd_stack_defects)

    signoff = commands.add_parser("signoff", help="run the validation and write the sign-off report")
    _add_env_options(signoff)
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
    load = signoff.add_mutually_exclusive_group()
    load.add_argument("--load-results", metavar="DIR", help="use an existing load run's DIR/summary.json")
    load.add_argument(
        "--skip-load",
        action="store_true",
        help="don't run the load test (its gates are not run: they block GO unless waived)",
    )
    rollback = signoff.add_mutually_exclusive_group()
    rollback.add_argument(
        "--rollback-results", metavar="FILE", help="use an existing rollback drill's result (rollback.json)"
    )
    rollback.add_argument(
        "--skip-rollback",
        action="store_true",
        help="don't run the rollback drill (its gates are not run: they block GO unless waived)",
    )
    signoff.add_argument(
        "--skip-cutover",
        action="store_true",
        help="don't run the cutover suite (rollout, agent flags, dashboard; its gates block unless waived)",
    )
    reliability = signoff.add_mutually_exclusive_group()
    reliability.add_argument(
        "--reliability-results", metavar="FILE", help="use an existing reliability run's reliability.json"
    )
    reliability.add_argument(
        "--skip-reliability",
        action="store_true",
        help="don't run the webhook reliability storm (its gates are not run: they block GO unless waived)",
    )
    signoff.add_argument(
        ALLOW_FLAG,
        dest="allow_production",
        action="store_true",
        help="sign off against an environment marked production anyway (it runs faults, storms and load)",
    )
    signoff.set_defaults(func=cmd_signoff)
    cleanup = commands.add_parser(
        "cleanup",
        help="remove the test data (the reserved number range) through the environment's cleanup API",
    )
    _add_env_options(cleanup)
    cleanup.add_argument(ALLOW_FLAG, dest="allow_production", action="store_true", help="also on production")
    cleanup.set_defaults(func=cmd_cleanup)
    rules = commands.add_parser("hygiene-rules", help="list the message hygiene rules")
    rules.set_defaults(func=cmd_hygiene_rules)
    matrix = commands.add_parser(
        "contract-matrix", help="contract rules → tests → defect switches (covered / weak / uncovered)"
    )
    matrix.add_argument("--reports-dir", type=Path, default=reports, help="default: reports")
    matrix.add_argument("--mutation", type=Path, help="mutation results (default: reports/mutation.json)")
    matrix.set_defaults(func=cmd_contract_matrix)
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
    sensitivity = commands.add_parser("sensitivity", help="prove each defect switch makes its tests fail")
    sensitivity.add_argument(
        "--defect", action="append", metavar="NAME", help="only this defect switch's probes (repeatable)"
    )
    sensitivity.add_argument("--workers", type=int, default=2, help="pytest runs side by side (default 2)")
    sensitivity.add_argument(
        "--report", default=str(reports / "sensitivity.json"), help="where the evidence goes (JSON)"
    )
    sensitivity.set_defaults(func=cmd_sensitivity)
    from easymo_qa.mutation.arguments import add_arguments

    mutation = commands.add_parser("mutation", help="mutation testing of the black-box suite (cosmic-ray)")
    add_arguments(mutation)
    mutation.set_defaults(func=cmd_mutation)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with sigterm_interrupts():
            return int(args.func(args))
    except (EnvironmentError_, StackError) as exc:
        print(f"easymo-qa: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (Interrupted); a running stage was stopped first
        why = str(exc) or "Ctrl-C"
        print(
            f"\neasymo-qa {args.command}: INTERRUPTED ({why}); no verdict, and the reports of the last "
            "complete run were not replaced",
            file=sys.stderr,
        )
        return INTERRUPTED_EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
