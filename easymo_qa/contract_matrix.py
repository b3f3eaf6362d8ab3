"""The contract matrix: rule → the tests naming it → the defect switches and killed mutants proving they
can fail, with each rule's result in a sign-off, written as JSON and Markdown.

A rule is *covered* when one of its tests can be shown to fail: it lists a defect switch (the journey's
``defects:``, or a sensitivity probe naming the test), or one of its tests killed a mutant in
``reports/mutation.json``. A rule with tests but no such proof is *weak*; one without tests is
*uncovered*.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from easymo_qa.contract_rules import ContractRulesError, Rule, RuleTest, load_rules, strings, suite_tests
from easymo_qa.layout import read_layout

MUTATION_FILE = "mutation.json"  # in the layout's reports folder
SENSITIVITY_FILE = "sensitivity.json"
MATRIX_FILES = ("contract-matrix.json", "contract-matrix.md")
SCHEMA = "easymo-qa/contract-matrix/v1"
STATUSES = ("covered", "weak", "uncovered")


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
    contracts: list[str] = field(default_factory=list)  # the files the rules come from

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
            "contracts": self.contracts,
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
            killers = strings(mutant.get(key))
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
    contracts: Iterable[str] = (),
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
    return Matrix(list(rows.values()), unknown, mutation_source, untagged, list(contracts))


def find_root(start: Path | None = None) -> Path | None:
    """The repository holding the contracts: ``start`` (default the working directory) or a parent."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents, Path(__file__).resolve().parents[1]):
        if all((candidate / name).is_file() for name in read_layout(candidate).contracts):
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
    """The matrix of the project at ``root``, with its reports' ``mutation.json`` and ``sensitivity.json``
    when they are there."""
    where = read_layout(root)
    mutation_path = mutation_file or root / where.reports / MUTATION_FILE
    killed = load_mutation(mutation_path)
    source = None
    if killed is not None:
        in_root = mutation_path.is_relative_to(root)
        source = mutation_path.relative_to(root).as_posix() if in_root else str(mutation_path)
    probes = load_sensitivity(sensitivity_file or root / where.reports / SENSITIVITY_FILE, root)
    contracts = [c.as_posix() for c in where.contracts]
    return build_matrix(load_rules(root), suite_tests(root), killed, source, probes, contracts)


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
