"""The ``--env`` / ``--env-file`` options every command that talks to an environment shares."""

from __future__ import annotations

import argparse
from pathlib import Path

from easymo_qa.envs import load_environment, resolve_environment_path
from easymo_qa.envs.model import Environment


def add_env_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", default="local", help="environment name: environments/NAME.yaml (default: local)"
    )
    parser.add_argument("--env-file", help="path of an environment file (overrides --env)")


def environment_path(args: argparse.Namespace) -> Path:
    return Path(args.env_file) if args.env_file else resolve_environment_path(args.env)


def selector(args: argparse.Namespace) -> str:
    """How the user chose the environment, to repeat it in a message."""
    return f"--env-file {args.env_file}" if args.env_file else f"--env {args.env}"


def environment(args: argparse.Namespace) -> Environment:
    return load_environment(environment_path(args))
