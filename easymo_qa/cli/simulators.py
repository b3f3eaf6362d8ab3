"""``easymo-qa simulators serve``: the four simulators and their fault plane as one server, in the
foreground, for a deployment next to staging (docs/deployment.md).

Secrets come only from the ``SIM_*`` environment variables (never options: they would show in ``ps``),
and are never printed. Once it listens the command prints one JSON line with its URLs (so a script reads
the port of ``--port 0``), then serves until SIGTERM or Ctrl-C, and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from easymo_qa.simulators.deployed import (
    CLOCK_PATH,
    MOUNTS,
    VARIABLES,
    SimulatorsConfig,
    SimulatorsConfigError,
    create_simulators_app,
)
from easymo_qa.simulators.server import BackgroundServer

DEFAULT_PORT = 8089
_WATCH_SECONDS = 0.2


def _urls(base: str) -> dict[str, str]:
    return {"url": base, **{name: base + mount for name, mount in MOUNTS.items()}, "clock": base + CLOCK_PATH}


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        config = SimulatorsConfig.from_environ(os.environ)
    except SimulatorsConfigError as exc:
        print(f"easymo-qa: {exc}", file=sys.stderr)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        print("easymo-qa: TLS needs both --tls-cert and --tls-key", file=sys.stderr)
        return 2
    for option, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path and not os.path.isfile(path):
            print(f"easymo-qa: {option} {path}: no such file", file=sys.stderr)
            return 2
    try:
        server = BackgroundServer(
            create_simulators_app(config),
            host=args.host,
            port=args.port,
            lifespan="on",
            allow_any_host=True,  # a deployed server must listen where the bot can reach it
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        ).start()
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"easymo-qa: cannot serve the simulators on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(_urls(server.url)), flush=True)
    try:
        # The main thread only waits: SIGTERM and Ctrl-C arrive here as KeyboardInterrupt (cli.main).
        while server.running:
            time.sleep(_WATCH_SECONDS)
    except KeyboardInterrupt:
        server.stop()
        return 0
    print("easymo-qa: the simulators' server stopped on its own", file=sys.stderr)
    return 1


def add_commands(commands: argparse._SubParsersAction) -> None:
    sims = commands.add_parser("simulators", help="the simulators as a deployable server").add_subparsers(
        dest="simulators_command", required=True
    )
    variables = "\n".join(f"  {name:<30} {what}" for name, what in VARIABLES.items())
    serve = sims.add_parser(
        "serve",
        help="serve every simulator and its fault plane on one port",
        description="Serve the Graph API, LLM, payments and maps simulators on one port, under /graph, "
        "/llm, /payments and /maps, until SIGTERM or Ctrl-C.",
        epilog=f"environment variables (secrets are read only from these):\n{variables}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address or name to listen on (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"0 picks a free port (default {DEFAULT_PORT})"
    )
    serve.add_argument("--tls-cert", metavar="FILE", help="PEM certificate (chain): serve HTTPS")
    serve.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    serve.set_defaults(func=cmd_serve)
