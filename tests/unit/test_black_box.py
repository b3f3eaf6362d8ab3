"""The harness and the QA suite reach the SUT only over HTTP: none of them imports reference/."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BLACK_BOX = [
    "easymo_qa",
    "tests/smoke",
    "tests/e2e",
    "tests/synthetic",
    "tests/cutover",
    "tests/reliability",
    "loadtests",
    "tests/any_bot",
]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_nothing_outside_reference_imports_it() -> None:
    offenders = []
    for folder in BLACK_BOX:
        for path in (REPO / folder).rglob("*.py"):
            if any(m == "reference" or m.startswith("reference.") for m in imported_modules(path)):
                offenders.append(str(path.relative_to(REPO)))
    assert not offenders, f"these files import the reference service directly: {offenders}"


def test_the_check_itself_finds_an_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from reference.app import create_app\nimport reference\n")
    assert {"reference.app", "reference"} <= imported_modules(sample)
