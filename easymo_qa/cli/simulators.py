"""``easymo-qa simulators serve``: the simulators as one deployable server (being built: issue 13)."""

from __future__ import annotations

import argparse
import sys


def cmd_serve(args: argparse.Namespace) -> int:
    print("easymo-qa simulators serve: not built yet", file=sys.stderr)
    return 2


def add_commands(commands: argparse._SubParsersAction) -> None:
    sims = commands.add_parser("simulators", help="the simulators as a deployable server").add_subparsers(
        dest="simulators_command", required=True
    )
    serve = sims.add_parser("serve", help="serve every simulator and its fault plane on one port")
    serve.set_defaults(func=cmd_serve)
