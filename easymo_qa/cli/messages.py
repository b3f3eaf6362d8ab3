"""``easymo-qa messages approve``: review the bot's messages like snapshots (being built: issue 14)."""

from __future__ import annotations

import argparse
import sys


def cmd_approve(args: argparse.Namespace) -> int:
    print("easymo-qa messages approve: not built yet", file=sys.stderr)
    return 2


def add_commands(commands: argparse._SubParsersAction) -> None:
    messages = commands.add_parser("messages", help="the inventory of the bot's messages").add_subparsers(
        dest="messages_command", required=True
    )
    approve = messages.add_parser("approve", help="accept the last sign-off's messages as reviewed")
    approve.set_defaults(func=cmd_approve)
