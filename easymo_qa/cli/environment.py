"""``easymo-qa stack up`` (the embedded local stack in the foreground), ``stack defects`` and ``cleanup``
(remove the test data through the environment's cleanup API); the ``--env`` / ``--env-file`` options every
command that talks to an environment shares."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from easymo_qa.envs import Environment, Redactor, load_environment, resolve_environment_path
from easymo_qa.layout import layout
from easymo_qa.safety import ALLOW_FLAG, refusal
from easymo_qa.stack import start_stack
from easymo_qa.stack.reference_process import find_reference_root


def add_env_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", default="local", help="environment name: environments/NAME.yaml (default: local)"
    )
    parser.add_argument("--env-file", help="path of an environment file (overrides --env)")


def environment_path(args: argparse.Namespace) -> Path:
    return Path(args.env_file) if args.env_file else resolve_environment_path(args.env)


def selector(args: argparse.Namespace) -> str:
    """How the user chose the environment, to repeat it in a message."""
    return f"--env-file {args.env_file}" if args.env_file else f"--env {args.env}"


def environment(args: argparse.Namespace) -> Environment:
    return load_environment(environment_path(args))


def cmd_stack_up(args: argparse.Namespace) -> int:
    env = environment(args)
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


def cmd_cleanup(args: argparse.Namespace) -> int:
    import httpx

    from easymo_qa.cleanup import CleanupError, CleanupUnavailable, cleanup_test_data

    env = environment(args)
    if env.production and not args.allow_production:
        print(
            f"easymo-qa: {refusal(env.name, 'cleanup deletes data there', selector(args))}", file=sys.stderr
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


def add_commands(commands: argparse._SubParsersAction) -> None:
    stack = commands.add_parser("stack", help="the embedded local stack").add_subparsers(
        dest="stack_command", required=True
    )
    up = stack.add_parser("up", help="run the stack in the foreground; print its URLs as one JSON line")
    add_env_options(up)
    up.add_argument("--reports-dir", default=str(layout().reports))
    up.set_defaults(func=cmd_stack_up)
    defects = stack.add_parser("defects", help="list the reference service's defect switches")
    defects.set_defaults(func=cmd_stack_defects)
    cleanup = commands.add_parser(
        "cleanup",
        help="remove the test data (the reserved number range) through the environment's cleanup API",
    )
    add_env_options(cleanup)
    cleanup.add_argument(ALLOW_FLAG, dest="allow_production", action="store_true", help="also on production")
    cleanup.set_defaults(func=cmd_cleanup)
