"""``easymo-qa chat --as buyer``: talk to the bot as one of its users, see each reply as WhatsApp shows it,
and save the session as a journey that replays (``--record FILE.journey.yaml``)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from easymo_qa.chat.model import ROLES
from easymo_qa.chat.record import Recording, journey_name, write_journey
from easymo_qa.chat.session import ChatSession
from easymo_qa.chat.terminal import piped_lines, terminal_lines
from easymo_qa.cli.environment import add_env_options, environment, environment_path, selector
from easymo_qa.envs import Redactor
from easymo_qa.hygiene.log import HygieneLog, load_known_issues
from easymo_qa.layout import layout
from easymo_qa.safety import ALLOW_FLAG, refusal
from easymo_qa.stack import start_stack
from easymo_qa.whatsapp.numbers import TestNumberPool


def cmd_chat(args: argparse.Namespace) -> int:
    env = environment(args)
    if env.production and not args.allow_production:
        print(
            f"easymo-qa: {refusal(env.name, 'a chat sends messages there', selector(args))}", file=sys.stderr
        )
        return 2
    if env.stack == "local":
        print(
            "easymo-qa chat: booting the local stack (reference service + simulators on 127.0.0.1)…",
            flush=True,
        )
    else:
        where = Redactor(env.secrets())(f"{env.name} ({env.webhook.url})")
        print(f"easymo-qa chat: connecting to {where}…", flush=True)
    piped = not (sys.stdin.isatty() and sys.stdout.isatty())
    console = Console(highlight=False, soft_wrap=piped)  # piped: one line per line, however long
    with start_stack(env, Path(args.reports_dir)) as stack:
        target = stack.target
        with httpx.Client(timeout=target.http_seconds, auth=target.harness_auth()) as client:
            hygiene = HygieneLog(load_known_issues(layout().hygiene_known_issues))
            numbers = TestNumberPool(target.number_prefix, target.number_length)
            try:
                session = ChatSession(target, client, console, numbers, settle=args.settle, hygiene=hygiene)
            except ValueError as exc:  # no Graph API simulator: nowhere to read the bot's replies from
                print(f"easymo-qa chat: {exc}", file=sys.stderr)
                return 2
            session.join(args.role, args.phone, "username_only" if args.username else "phone", args.name)
            session.run(piped_lines(sys.stdin, console) if piped else terminal_lines())
            finish(session, console, args, Redactor(target.secrets()))
    return 0


def finish(session: ChatSession, console: Console, args: argparse.Namespace, redact: Redactor) -> None:
    """The transcript, the hygiene count and, with --record, the journey file."""
    console.print(Rule("transcript"))
    console.print(Text(redact(session.transcript.render())))
    console.print(Text(session.hygiene.render().splitlines()[0], style="dim"))
    if not args.record:
        return
    path = Path(args.record)
    played = " → ".join(session.actors)
    against = session.target.label or session.target.env_name
    origin = (
        f"Recorded by `easymo-qa chat --as {args.role} --record {path.name}` against {against}"
        f" on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC."
    )
    recording = Recording(
        journey=journey_name(path),
        title=f"Chat as {played} (recorded {datetime.now(UTC):%Y-%m-%d})",
        origin=origin,
        reply_budget_seconds=session.target.reply_budget_seconds,
    )
    steps = write_journey(path, recording, session.actors, session.turns)
    env_file = environment_path(args).resolve()
    shown = env_file.relative_to(Path.cwd()) if env_file.is_relative_to(Path.cwd()) else env_file
    console.print(f"Recorded {steps} steps to {path} (run it: .venv/bin/pytest {path} --env-file {shown})")


def add_commands(commands: argparse._SubParsersAction) -> None:
    chat = commands.add_parser("chat", help="talk to the bot as a buyer, station, vendor or driver")
    chat.add_argument("--as", dest="role", choices=ROLES, required=True, help="who you are to the bot")
    who = chat.add_mutually_exclusive_group()
    who.add_argument("--phone", help="play this number (staff: the seeded number; default: the first seeded)")
    who.add_argument(
        "--username", action="store_true", help="a username-only user: the bot sees no phone, only a BSUID"
    )
    chat.add_argument("--name", default="", help="the WhatsApp profile name the bot sees")
    chat.add_argument("--record", metavar="FILE.journey.yaml", help="on exit, write the session as a journey")
    chat.add_argument(
        "--settle", type=float, help="seconds of quiet after the last message before the prompt comes back"
    )
    chat.add_argument("--reports-dir", default=str(layout().reports))
    chat.add_argument(ALLOW_FLAG, dest="allow_production", action="store_true", help="also on production")
    add_env_options(chat)
    chat.set_defaults(func=cmd_chat)
