"""The contract's numbered rules, the tests that name them, and the matrix rule → tests → defect switches.

Rules are defined in ``docs/webhook-contract.md`` and ``docs/conversation-contract.md`` as a bold id,
``**R-AREA-n**``, followed by the rule's text. Tests name the rules they hold the SUT to: a journey or
scenario file's top-level ``rules: [R-…]``, or ``@pytest.mark.rule("R-…")`` on a Python test (or in its
module's ``pytestmark``). Everything here is plain parsing (Markdown, YAML, Python's ``ast``): nothing is
imported or run, so the check is fast and needs no stack.

A rule is *covered* when one of its tests can be shown to fail: it lists a defect switch (the journey's
``defects:``, or a ``fixtures/sensitivity/*.yaml`` probe naming the test), or one of its tests killed a
mutant in ``reports/mutation.json``. A rule with tests but no such proof is *weak*; one without tests is
*uncovered*.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from easymo_qa.yaml_source import YamlSourceError, load_yaml_file

CONTRACTS = ("docs/webhook-contract.md", "docs/conversation-contract.md")
PYTHON_SUITES = ("tests/smoke", "tests/reliability", "tests/cutover")
YAML_SUITES = ("tests/e2e", "tests/synthetic")
SENSITIVITY_DIR = "fixtures/sensitivity"
MUTATION_FILE = "reports/mutation.json"
SENSITIVITY_FILE = "reports/sensitivity.json"
MATRIX_FILES = ("contract-matrix.json", "contract-matrix.md")
SCHEMA = "easymo-qa/contract-matrix/v1"
MARKER = "rule"

RULE_ID = re.compile(r"^R-[A-Z]+-[1-9][0-9]*$")
_DEFINITION = re.compile(r"\*\*(R-[A-Z]+-[0-9]+)\*\*")
_ITEM_START = re.compile(r"^\s*(?:[-*] |\d+\. |#|\*\*R-)")
STATUSES = ("covered", "weak", "uncovered")


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


@dataclass
class RuleRow:
    rule: Rule
    tests: list[str] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    mutants_killed: int = 0
    proven: set[str] = field(default_factory=set)  # defects not shown missed by sensitivity evidence

    @property
    def not_caught(self) -> list[str]:
        """Listed defects that the sensitivity evidence says did not make these tests fail."""
        return sorted(set(self.defects) - self.proven)

    @property
    def status(self) -> str:
        if not self.tests:
            return "uncovered"
        return "covered" if self.proven or self.mutants_killed else "weak"


@dataclass
class Matrix:
    rows: list[RuleRow]
    unknown: list[tuple[str, str, str]]  # (test id, where, rule id) for rules no contract defines
    mutation_source: str | None = None
    untagged: list[str] = field(default_factory=list)  # file:line of suite tests that name no rule

    def counts(self) -> dict[str, int]:
        statuses = [row.status for row in self.rows]
        return {status: statuses.count(status) for status in STATUSES}

    def problems(self) -> list[str]:
        """What must be fixed: rules without a test, tests naming a rule no contract defines."""
        out = [f"{r.rule.where}: {r.rule.id} has no test" for r in self.rows if r.status == "uncovered"]
        out += [
            f"{where}: {test} names {rule}, which no contract defines" for test, where, rule in self.unknown
        ]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "contracts": list(CONTRACTS),
            "mutation_source": self.mutation_source,
            "counts": self.counts(),
            "rules": [
                {
                    "id": r.rule.id,
                    "area": r.rule.area,
                    "text": r.rule.text,
                    "where": r.rule.where,
                    "status": r.status,
                    "tests": r.tests,
                    "defects": r.defects,
                    "defects_not_caught": r.not_caught,
                    "mutants_killed": r.mutants_killed,
                }
                for r in self.rows
            ],
            "unknown": [{"test": t, "where": w, "rule": r} for t, w, r in self.unknown],
            "untagged": self.untagged,
        }


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


def load_rules(root: Path, contracts: Iterable[str] = CONTRACTS) -> dict[str, Rule]:
    """Every rule of the contracts, in document order; a rule defined twice is an error naming both."""
    rules: dict[str, Rule] = {}
    for name in contracts:
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


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return ()


def yaml_tests(root: Path, suites: Iterable[str] = YAML_SUITES) -> list[RuleTest]:
    """Journeys and scenarios: ``rules:`` and ``defects:`` at the top of each file."""
    out = []
    for suite in suites:
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
            out.append(RuleTest(f"{rel}::{name}", where, tuple(rules), _strings(data.get("defects", []))))
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
    suites: Iterable[str] = PYTHON_SUITES,
    defects: Mapping[tuple[str, str], Iterable[str]] | None = None,
) -> list[RuleTest]:
    """Python tests: ``@pytest.mark.rule(...)`` on the function or its class, or in ``pytestmark``."""
    defects = defects or {}
    out = []
    for suite in suites:
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


def sensitivity_defects(root: Path, directory: str = SENSITIVITY_DIR) -> dict[tuple[str, str], set[str]]:
    """(test file, test function) → the defect switches a sensitivity probe says must make it fail."""
    out: dict[tuple[str, str], set[str]] = {}
    for path in sorted((root / directory).glob("*.yaml")):
        try:
            probes = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        except (OSError, yaml.YAMLError) as exc:
            raise ContractRulesError(f"{_rel(path, root)}: cannot read: {exc}") from None
        for probe in probes if isinstance(probes, list) else []:
            if not isinstance(probe, dict) or not isinstance(probe.get("defect"), str):
                continue
            suite = str(probe.get("suite", "")).split("::", 1)[0]
            for test in _strings(probe.get("must_fail", [])):
                name = test.rsplit("::", 1)[-1].split("[", 1)[0]
                out.setdefault((suite, name), set()).add(probe["defect"])
    return out


def suite_tests(root: Path) -> list[RuleTest]:
    """Every test of the black-box suite (journeys, scenarios, smoke, reliability, cutover)."""
    return [*yaml_tests(root), *python_tests(root, defects=sensitivity_defects(root))]


# --- mutation testing -----------------------------------------------------------------------------------


def _belongs(node_id: str, test_id: str) -> bool:
    return node_id == test_id or node_id.startswith((test_id + "[", test_id + "::"))


def mutants_killed_by(mutation: Mapping[str, Any] | list[Any]) -> list[list[str]]:
    """For each killed mutant, the tests that killed it: ``killed_by`` / ``failing_tests`` / ``tests``, or
    the node id that starts ``detail`` (``easymo-qa mutation`` writes "<node id> (<when>, <where>): …")."""
    mutants = mutation.get("mutants", []) if isinstance(mutation, Mapping) else mutation
    out = []
    for mutant in mutants if isinstance(mutants, list) else []:
        if not isinstance(mutant, Mapping):
            continue
        status = str(mutant.get("status") or mutant.get("outcome") or "").lower()
        if status != "killed":
            continue
        for key in ("killed_by", "failing_tests", "tests"):
            killers = _strings(mutant.get(key))
            if killers:
                out.append(list(killers))
                break
        else:
            first = str(mutant.get("detail") or "").split(" (", 1)[0].strip()
            if "::" in first:
                out.append([first])
    return out


def load_mutation(path: Path) -> list[list[str]] | None:
    """Killed mutants' killers from ``reports/mutation.json``; None when there is no (readable) file."""
    try:
        return mutants_killed_by(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


# --- the matrix -----------------------------------------------------------------------------------------


def build_matrix(
    rules: Mapping[str, Rule],
    tests: Iterable[RuleTest],
    killed: list[list[str]] | None = None,
    mutation_source: str | None = None,
    probes: Mapping[tuple[str, str], str] | None = None,
) -> Matrix:
    """``probes``: (defect, test file) → sensitivity status; a defect whose probe of that test was not
    ``caught`` proves nothing (no evidence for a pair: the listed defect counts)."""
    rows = {rule_id: RuleRow(rule) for rule_id, rule in rules.items()}
    unknown, untagged = [], []
    for test in tests:
        if not test.rules:
            untagged.append(f"{test.where}: {test.id}")
        for rule_id in test.rules:
            row = rows.get(rule_id)
            if row is None:
                unknown.append((test.id, test.where, rule_id))
                continue
            row.tests.append(test.id)
            row.defects = sorted({*row.defects, *test.defects})
            file = test.id.split("::", 1)[0]
            row.proven |= {d for d in test.defects if (probes or {}).get((d, file), "caught") == "caught"}
    for killers in killed or []:
        for row in rows.values():
            if any(_belongs(k, t) for k in killers for t in row.tests):
                row.mutants_killed += 1
    return Matrix(list(rows.values()), unknown, mutation_source, untagged)


def find_root(start: Path | None = None) -> Path | None:
    """The repository holding the contracts: ``start`` (default the working directory) or a parent."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents, Path(__file__).resolve().parents[1]):
        if all((candidate / name).is_file() for name in CONTRACTS):
            return candidate
    return None


def load_sensitivity(path: Path, root: Path) -> dict[tuple[str, str], str] | None:
    """(defect, test file) → caught / missed / inconclusive from ``easymo-qa sensitivity``'s evidence."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    out: dict[tuple[str, str], str] = {}
    for result in data.get("results", []) if isinstance(data, Mapping) else []:
        if isinstance(result, Mapping) and isinstance(result.get("defect"), str):
            suite = Path(str(result.get("suite", "")))
            if suite.is_absolute() and suite.is_relative_to(root):
                suite = suite.relative_to(root)
            out[(result["defect"], suite.as_posix().removeprefix("./"))] = str(result.get("status", ""))
    return out


def matrix_for(root: Path, mutation_file: Path | None = None, sensitivity_file: Path | None = None) -> Matrix:
    """The matrix of the repository at ``root``, with ``reports/mutation.json`` and
    ``reports/sensitivity.json`` when they are there."""
    mutation_path = mutation_file or root / MUTATION_FILE
    killed = load_mutation(mutation_path)
    source = None
    if killed is not None:
        source = _rel(mutation_path, root) if mutation_path.is_relative_to(root) else str(mutation_path)
    probes = load_sensitivity(sensitivity_file or root / SENSITIVITY_FILE, root)
    return build_matrix(load_rules(root), suite_tests(root), killed, source, probes)


def run_status(tests: Iterable[str], outcomes: Mapping[str, str]) -> str:
    """A rule in one sign-off: ``fail`` if a test of it failed, ``pass`` if one passed, else ``not run``."""
    seen = [status for node, status in outcomes.items() if any(_belongs(node, t) for t in tests)]
    if "fail" in seen:
        return "fail"
    return "pass" if "pass" in seen else "not run"


# --- writing --------------------------------------------------------------------------------------------


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def markdown_table(matrix: Mapping[str, Any], heading: str = "#") -> list[str]:
    """The matrix (its ``to_dict`` form, as the sign-off report carries it) as Markdown lines."""
    counts = matrix["counts"]
    mutation = matrix.get("mutation_source") or "no mutation results"
    lines = [
        f"{len(matrix['rules'])} rules: {counts['covered']} covered, {counts['weak']} weak "
        f"(a test, but no defect switch or killed mutant proves it can fail), {counts['uncovered']} "
        f"uncovered (no test). Contracts: {', '.join(f'`{c}`' for c in matrix['contracts'])}; "
        f"mutants: {mutation}.",
        "",
        "| rule | status | this run | tests | defect switches | mutants killed |",
        "|---|---|---|---|---|---|",
    ]
    for r in matrix["rules"]:
        tests = ", ".join(f"`{t.rsplit('/', 1)[-1]}`" for t in r["tests"]) or "—"
        missed = set(r.get("defects_not_caught", []))
        defects = ", ".join(f"`{d}`" + (" (not caught)" if d in missed else "") for d in r["defects"]) or "—"
        lines.append(
            f"| **{r['id']}** {_cell(r['text'][:110])}{'…' if len(r['text']) > 110 else ''} | {r['status']} "
            f"| {r.get('run', '—')} | {tests} | {defects} | {r['mutants_killed']} |"
        )
    if matrix["unknown"]:
        lines += ["", f"{heading} Tests naming rules no contract defines", ""]
        lines += [f"- `{u['where']}`: `{u['test']}` names `{u['rule']}`" for u in matrix["unknown"]]
    if matrix.get("untagged"):
        lines += ["", f"{heading} Tests naming no rule", ""]
        lines += [f"- `{where}`" for where in matrix["untagged"]]
    return lines


def write_matrix(matrix: Mapping[str, Any], directory: Path) -> list[Path]:
    """``contract-matrix.json`` and ``contract-matrix.md`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = (directory / name for name in MATRIX_FILES)
    json_path.write_text(json.dumps(matrix, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md = ["# Contract rules → tests → defect switches", "", *markdown_table(matrix, "##")]
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    return [json_path, md_path]


def report_section(outcomes: Mapping[str, str], root: Path | None = None) -> dict[str, Any] | None:
    """The matrix for the sign-off report, each rule with its result in this run (``run``).

    ``outcomes``: test node id → pass / fail / not covered. None when the contracts are not at hand (an
    installed harness outside the repository); a contract that cannot be read is reported, not raised.
    """
    root = root or find_root()
    if root is None:
        return None
    try:
        matrix = matrix_for(root).to_dict()
    except ContractRulesError as exc:
        return {"error": str(exc)}
    for rule in matrix["rules"]:
        rule["run"] = run_status(rule["tests"], outcomes)
    return matrix


def markdown_section(section: Mapping[str, Any] | None) -> list[str]:
    """The sign-off's "Contract rules" section: the matrix, or why there is none."""
    if not section:
        return ["No contract matrix: the contracts (docs/*-contract.md) are not in this checkout."]
    if "error" in section:
        return [f"**The contract matrix could not be built:** {section['error']}"]
    return markdown_table(section, "###")
