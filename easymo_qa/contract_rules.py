"""The contract's numbered rules and the tests that name them (``contract_matrix`` joins the two).

Rules are defined in the layout's contracts (``docs/webhook-contract.md``, ``docs/conversation-contract.md``)
as a bold id, ``**R-AREA-n**``, followed by the rule's text. Tests name the rules they hold the SUT to: a
journey or scenario file's top-level ``rules: [R-…]``, or ``@pytest.mark.rule("R-…")`` on a Python test (or
in its module's ``pytestmark``). Everything here is plain parsing (Markdown, YAML, Python's ``ast``): nothing
is imported or run, so the check is fast and needs no stack.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from easymo_qa.layout import read_layout
from easymo_qa.yaml_source import YamlSourceError, load_yaml_file

MARKER = "rule"
RULE_ID = re.compile(r"^R-[A-Z]+-[1-9][0-9]*$")
_DEFINITION = re.compile(r"\*\*(R-[A-Z]+-[0-9]+)\*\*")
_ITEM_START = re.compile(r"^\s*(?:[-*] |\d+\. |#|\*\*R-)")


class ContractRulesError(ValueError):
    """A contract or a test that cannot be read, or a rule defined twice: ``file:line: what``."""


@dataclass(frozen=True)
class Rule:
    id: str
    text: str
    where: str  # docs/…-contract.md:LINE

    @property
    def area(self) -> str:
        return self.id.split("-")[1]


@dataclass(frozen=True)
class RuleTest:
    """A test of the suite that names rules: ``id`` is its pytest node id (without parameters)."""

    id: str
    where: str  # file:line
    rules: tuple[str, ...]
    defects: tuple[str, ...] = ()


# --- the rules ------------------------------------------------------------------------------------------


def _rule_text(lines: list[str], index: int, start: int) -> str:
    """The rule's words: from its id to the next rule id or the end of its list item / paragraph."""
    parts = [lines[index][start:]]
    for line in lines[index + 1 :]:
        if not line.strip() or _ITEM_START.match(line):
            break
        parts.append(line.strip())
    text = " ".join(p.strip() for p in parts)
    return _DEFINITION.split(text, maxsplit=1)[0].strip()


def parse_rules(text: str, source: str) -> list[Rule]:
    lines = text.splitlines()
    rules = []
    for index, line in enumerate(lines):
        for match in _DEFINITION.finditer(line):
            rule_id = match.group(1)
            if not RULE_ID.match(rule_id):
                raise ContractRulesError(f"{source}:{index + 1}: {rule_id} is not R-AREA-n (n from 1)")
            rules.append(Rule(rule_id, _rule_text(lines, index, match.end()), f"{source}:{index + 1}"))
    return rules


def load_rules(root: Path, contracts: Iterable[str | Path] | None = None) -> dict[str, Rule]:
    """Every rule of the contracts (default: the layout's), in document order; a rule defined twice is an
    error naming both."""
    rules: dict[str, Rule] = {}
    for name in read_layout(root).contracts if contracts is None else contracts:
        path = root / name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ContractRulesError(f"{name}: cannot read the contract: {exc.strerror}") from None
        for rule in parse_rules(text, name):
            if rule.id in rules:
                raise ContractRulesError(
                    f"{rule.where}: {rule.id} is already defined at {rules[rule.id].where}"
                )
            rules[rule.id] = rule
    return rules


# --- the tests that name them ---------------------------------------------------------------------------


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return ()


def yaml_tests(root: Path, suites: Iterable[str | Path] | None = None) -> list[RuleTest]:
    """Journeys and scenarios (default: the layout's folders): ``rules:`` and ``defects:`` at the top of
    each file."""
    out = []
    for suite in read_layout(root).yaml_suites if suites is None else suites:
        for path in sorted((root / suite).glob("*.yaml")):
            rel = _rel(path, root)
            try:
                data, lines = load_yaml_file(path)
            except YamlSourceError as exc:
                raise ContractRulesError(str(exc)) from None
            if not isinstance(data, dict):
                continue
            rules = data.get("rules", [])
            where = f"{rel}:{lines.line_of(('rules',) if 'rules' in data else ()) or 1}"
            if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
                raise ContractRulesError(f"{where}: rules is a list of rule ids (R-AREA-n)")
            name = data.get("journey", path.stem)
            out.append(RuleTest(f"{rel}::{name}", where, tuple(rules), strings(data.get("defects", []))))
    return out


def _rule_marks(node: ast.expr, where: str) -> list[str]:
    """Rule ids in ``pytest.mark.rule("R-…", …)`` calls anywhere inside ``node`` (lists, tuples)."""
    found = []
    for call in ast.walk(node):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
            continue
        if call.func.attr != MARKER or not isinstance(call.func.value, ast.Attribute):
            continue
        if call.func.value.attr != "mark":
            continue
        for arg in call.args:
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                raise ContractRulesError(f"{where}:{call.lineno}: pytest.mark.rule takes rule ids as strings")
            found.append(arg.value)
    return found


def _module_marks(tree: ast.Module, rel: str) -> list[str]:
    marks: list[str] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets
        ):
            marks += _rule_marks(stmt.value, rel)
    return marks


def _functions(tree: ast.Module) -> Iterable[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, list[str]]]:
    """Test functions with their node-id prefix and their class's rule marks."""
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name.startswith("test"):
            yield stmt.name, stmt, []
        elif isinstance(stmt, ast.ClassDef) and stmt.name.startswith("Test"):
            class_marks = [m for d in stmt.decorator_list for m in _rule_marks(d, "")]
            for item in stmt.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"):
                    yield f"{stmt.name}::{item.name}", item, class_marks


def python_tests(
    root: Path,
    suites: Iterable[str | Path] | None = None,
    defects: Mapping[tuple[str, str], Iterable[str]] | None = None,
) -> list[RuleTest]:
    """Python tests (default: the layout's Python suites): ``@pytest.mark.rule(...)`` on the function or
    its class, or in ``pytestmark``."""
    defects = defects or {}
    out = []
    for suite in read_layout(root).python_suites if suites is None else suites:
        for path in sorted((root / suite).rglob("test_*.py")):
            rel = _rel(path, root)
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
            except SyntaxError as exc:
                raise ContractRulesError(f"{rel}:{exc.lineno}: cannot parse: {exc.msg}") from None
            module = _module_marks(tree, rel)
            for name, func, class_marks in _functions(tree):
                own = [m for d in func.decorator_list for m in _rule_marks(d, rel)]
                rules = tuple(dict.fromkeys([*module, *class_marks, *own]))
                found = defects.get((rel, name.rsplit("::", 1)[-1]), ())
                out.append(RuleTest(f"{rel}::{name}", f"{rel}:{func.lineno}", rules, tuple(sorted(found))))
    return out


def sensitivity_defects(root: Path, directory: str | Path | None = None) -> dict[tuple[str, str], set[str]]:
    """(test file, test function) → the defect switches a sensitivity probe says must make it fail."""
    out: dict[tuple[str, str], set[str]] = {}
    probes_dir = read_layout(root).sensitivity_probes if directory is None else directory
    for path in sorted((root / probes_dir).glob("*.yaml")):
        try:
            probes = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        except (OSError, yaml.YAMLError) as exc:
            raise ContractRulesError(f"{_rel(path, root)}: cannot read: {exc}") from None
        for probe in probes if isinstance(probes, list) else []:
            if not isinstance(probe, dict) or not isinstance(probe.get("defect"), str):
                continue
            suite = str(probe.get("suite", "")).split("::", 1)[0]
            for test in strings(probe.get("must_fail", [])):
                name = test.rsplit("::", 1)[-1].split("[", 1)[0]
                out.setdefault((suite, name), set()).add(probe["defect"])
    return out


def suite_tests(root: Path) -> list[RuleTest]:
    """Every test of the black-box suite (journeys, scenarios, smoke, reliability, cutover)."""
    return [*yaml_tests(root), *python_tests(root, defects=sensitivity_defects(root))]
