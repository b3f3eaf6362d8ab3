"""``easymo-qa contract-matrix`` and ``hygiene-rules`` (the rules the tests hold the bot to), ``sensitivity``
and ``mutation`` (does the suite notice a broken bot?)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from easymo_qa.layout import layout
from easymo_qa.mutation import add_arguments


def cmd_contract_matrix(args: argparse.Namespace) -> int:
    """Rule → tests → defect switches; exit 1 when a rule has no test or a test names an unknown rule."""
    from easymo_qa import contract_matrix
    from easymo_qa.contract_rules import ContractRulesError

    root = contract_matrix.find_root()
    if root is None:
        contracts = " / ".join(c.as_posix() for c in layout().contracts)
        print(f"easymo-qa: no {contracts} here or above", file=sys.stderr)
        return 2
    try:
        matrix = contract_matrix.matrix_for(root, args.mutation)
    except ContractRulesError as exc:
        print(f"easymo-qa: {exc}", file=sys.stderr)
        return 2
    paths = contract_matrix.write_matrix(matrix.to_dict(), args.reports_dir)
    counts = matrix.counts()
    print(f"{len(matrix.rows)} contract rules: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    for row in matrix.rows:
        if row.status != "covered":
            print(f"  {row.status:<9}  {row.rule.id:<11}  {row.rule.where}")
    for problem in matrix.problems():
        print(f"  ! {problem}")
    print(f"Contract matrix: {paths[0]} ({paths[1]})")
    return 1 if matrix.problems() else 0


def cmd_hygiene_rules(args: argparse.Namespace) -> int:
    from easymo_qa.hygiene import RULES

    rules = [(r.name, r.description) for r in RULES.values()]
    width = max(len(name) for name, _ in rules)
    print("Message hygiene rules (every reply the tests receive; --hygiene=fail|warn|off):")
    for name, description in rules:
        print(f"  {name:<{width}}  {description}")
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from easymo_qa.sensitivity import main as sensitivity_main

    print("Harness sensitivity: each defect switch must make its tests fail, at the step it names")
    return sensitivity_main(workers=args.workers, report=Path(args.report), defects=tuple(args.defect or ()))


def cmd_mutation(args: argparse.Namespace) -> int:
    from easymo_qa.mutation.session import run_from_args

    return run_from_args(args)


def add_commands(commands: argparse._SubParsersAction) -> None:
    rules = commands.add_parser("hygiene-rules", help="list the message hygiene rules")
    rules.set_defaults(func=cmd_hygiene_rules)
    matrix = commands.add_parser(
        "contract-matrix", help="contract rules → tests → defect switches (covered / weak / uncovered)"
    )
    matrix.add_argument("--reports-dir", type=Path, default=layout().reports, help="default: reports")
    matrix.add_argument("--mutation", type=Path, help="mutation results (default: reports/mutation.json)")
    matrix.set_defaults(func=cmd_contract_matrix)
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
