"""``easymo-qa stack up`` and ``stack defects``: the embedded local stack in the foreground."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from easymo_qa.cli.options import add_env_options, environment
from easymo_qa.layout import layout
from easymo_qa.stack import start_stack
from easymo_qa.stack.reference_process import find_reference_root


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
