"""``easymo-qa``: the command line, one module per command group. A thin layer over the stack and pytest;
nothing imports it.
"""

from __future__ import annotations

import argparse
import sys

from easymo_qa.cli import chat, doctor, environment, messages, signoff, simulators, suite
from easymo_qa.envs import EnvironmentError_
from easymo_qa.interrupts import INTERRUPTED_EXIT_CODE, sigterm_interrupts
from easymo_qa.stack.reference_process import StackError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="easymo-qa", description="easyMO cutover QA harness")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in (environment, signoff, suite, simulators, doctor, chat, messages):
        group.add_commands(commands)
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
