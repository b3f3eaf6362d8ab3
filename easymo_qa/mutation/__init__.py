"""Mutation testing of the black-box suite against ``reference/`` with cosmic-ray (``make mutation``).

The options of ``easymo-qa mutation`` live here, so the CLI builds its parser without cosmic-ray."""

from __future__ import annotations

import argparse
from pathlib import Path

CONFIG = Path("cosmic-ray.toml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=str(CONFIG), help="cosmic-ray configuration (cosmic-ray.toml)")
    parser.add_argument("--sample", type=int, help="mutants to draw (default: [easymo.mutation] sample)")
    parser.add_argument("--seed", type=int, help="the sample's seed (default: [easymo.mutation] seed)")
    parser.add_argument("--budget", type=float, help="seconds for the session (default: budget-seconds)")
    parser.add_argument("--reports-dir", default="reports", help="where mutation.json and .md go")
    parser.add_argument("--working-tree", action="store_true", help="mutate uncommitted files too")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy and cosmic-ray session")
    parser.add_argument("--suites", help="comma-separated test paths instead of the configured ones")
    parser.add_argument("--fail-under", type=float, metavar="PCT", help="exit 1 when the score is lower")
    parser.add_argument(
        "--rescore",
        metavar="REPORT",
        help="run nothing: score an earlier mutation.json again with the equivalents now in the config",
    )
