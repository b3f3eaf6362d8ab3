"""``easymo-qa cleanup``: remove the test data through the environment's cleanup API."""

from __future__ import annotations

import argparse
import sys

from easymo_qa.cli.options import add_env_options, environment, selector
from easymo_qa.safety import ALLOW_FLAG, refusal


def cmd_cleanup(args: argparse.Namespace) -> int:
    import httpx

    from easymo_qa.cleanup import CleanupError, CleanupUnavailable, cleanup_test_data
    from easymo_qa.envs import Redactor

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
    cleanup = commands.add_parser(
        "cleanup",
        help="remove the test data (the reserved number range) through the environment's cleanup API",
    )
    add_env_options(cleanup)
    cleanup.add_argument(ALLOW_FLAG, dest="allow_production", action="store_true", help="also on production")
    cleanup.set_defaults(func=cmd_cleanup)
