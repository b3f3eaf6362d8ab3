"""``easymo-qa sensitivity`` and ``mutation``: does the suite notice a broken bot?"""

from __future__ import annotations

import argparse
from pathlib import Path

from easymo_qa.layout import layout
from easymo_qa.mutation.arguments import add_arguments


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from easymo_qa.sensitivity import main as sensitivity_main

    print("Harness sensitivity: each defect switch must make its tests fail, at the step it names")
    return sensitivity_main(workers=args.workers, report=Path(args.report), defects=tuple(args.defect or ()))


def cmd_mutation(args: argparse.Namespace) -> int:
    from easymo_qa.mutation.session import run_from_args

    return run_from_args(args)


def add_commands(commands: argparse._SubParsersAction) -> None:
    sensitivity = commands.add_parser("sensitivity", help="prove each defect switch makes its tests fail")
    sensitivity.add_argument(
        "--defect", action="append", metavar="NAME", help="only this defect switch's probes (repeatable)"
    )
    sensitivity.add_argument("--workers", type=int, default=2, help="pytest runs side by side (default 2)")
    sensitivity.add_argument(
        "--report", default=str(layout().reports / "sensitivity.json"), help="where the evidence goes (JSON)"
    )
    sensitivity.set_defaults(func=cmd_sensitivity)
    mutation = commands.add_parser("mutation", help="mutation testing of the black-box suite (cosmic-ray)")
    add_arguments(mutation)
    mutation.set_defaults(func=cmd_mutation)
