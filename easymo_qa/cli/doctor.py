"""``easymo-qa doctor --env X``: can the harness test this environment? (being built: issue 13)."""

from __future__ import annotations

import argparse
import sys


def cmd_doctor(args: argparse.Namespace) -> int:
    print("easymo-qa doctor: not built yet", file=sys.stderr)
    return 2


def add_commands(commands: argparse._SubParsersAction) -> None:
    doctor = commands.add_parser("doctor", help="check, step by step, that an environment can be tested")
    doctor.set_defaults(func=cmd_doctor)
