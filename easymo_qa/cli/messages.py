"""``easymo-qa messages approve``: review the bot's messages like snapshots.

A sign-off (or any pytest run of the suites) writes ``reports/messages.{md,json}``; a reviewer reads the
unapproved ones in ``messages.md`` and, when they are right, approves them: the approved file becomes the
run's inventory (sorted by agent, screen and text, its header comments kept). Commit the file's diff.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from easymo_qa.layout import layout
from easymo_qa.messages.approved import Approval, Approved, approve
from easymo_qa.messages.writers import read_inventory

_SHOWN = 40  # lines per kind of change; the file's diff has the rest


def _one_line(message: Approved) -> str:
    text = " ⏎ ".join(message.text.splitlines())
    text = text if len(text) <= 90 else text[:89] + "…"
    return f"{message.agent} / {message.screen}: {message.kind} “{text}”"


def _print_changes(done: Approval) -> None:
    sections = [
        ("added", [_one_line(a) for a in done.added]),
        ("changed", [f"{_one_line(now)}\n      was {_one_line(was)}" for was, now in done.changed]),
        ("removed (not sent in this run)", [_one_line(a) for a in done.removed]),
        ("kept, not sent in this run (--keep-unseen)", [_one_line(a) for a in done.kept]),
    ]
    for title, lines in sections:
        if not lines:
            continue
        print(f"{title}: {len(lines)}")
        for line in lines[:_SHOWN]:
            print(f"  {line}")
        if len(lines) > _SHOWN:
            print(f"  … and {len(lines) - _SHOWN} more")


def cmd_approve(args: argparse.Namespace) -> int:
    source = Path(args.source) if args.source else layout().reports / "messages.json"
    target = Path(args.file) if args.file else layout().messages_approved
    try:
        inventory = read_inventory(source)
        done = approve(inventory, target, keep_unseen=args.keep_unseen)
    except ValueError as exc:  # an unreadable inventory, or a broken approved file (ApprovedFileError)
        print(f"easymo-qa messages approve: {exc}", file=sys.stderr)
        return 2
    _print_changes(done)
    changes = len(done.added) + len(done.changed) + len(done.removed)
    summary = f"{len(done.added)} added, {len(done.changed)} changed, {len(done.removed)} removed"
    print(f"{target}: {len(inventory)} messages approved ({summary})" if changes else f"{target}: up to date")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    messages = commands.add_parser("messages", help="the inventory of the bot's messages").add_subparsers(
        dest="messages_command", required=True
    )
    approve_ = messages.add_parser("approve", help="accept the last sign-off's messages as reviewed")
    approve_.add_argument(
        "--from", dest="source", help="the inventory to approve (default: reports/messages.json)"
    )
    approve_.add_argument("--file", help="the approved messages (default: fixtures/messages.approved.yaml)")
    approve_.add_argument(
        "--keep-unseen",
        action="store_true",
        help="keep approved messages this run did not send (a partial run); by default they are removed",
    )
    approve_.set_defaults(func=cmd_approve)
