"""``easymo-qa chat --as buyer``: talk to the bot as one of its users (being built: issue 14)."""

from __future__ import annotations

import argparse
import sys


def cmd_chat(args: argparse.Namespace) -> int:
    print("easymo-qa chat: not built yet", file=sys.stderr)
    return 2


def add_commands(commands: argparse._SubParsersAction) -> None:
    chat = commands.add_parser("chat", help="talk to the bot as a buyer, station, vendor or driver")
    chat.set_defaults(func=cmd_chat)
