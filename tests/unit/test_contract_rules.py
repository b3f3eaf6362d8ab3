"""Every numbered rule of the contracts has a test, and every rule a test names exists (pure parsing)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from easymo_qa import contract_matrix as cm
from easymo_qa import contract_rules as cr
from easymo_qa.pytest_plugin.markers import MARKERS

ROOT = Path(__file__).resolve().parents[2]

# Rules with no test yet, each with what it takes; the lead's list to shrink. A rule leaves this list the
# moment a test names it (the check below then fails until it is removed here), and no other rule may
# be without a test.
PENDING: dict[str, str] = {}


@pytest.fixture(scope="module")
def matrix() -> cm.Matrix:
    absent = ROOT / "reports" / "absent-for-this-test.json"  # the check needs no run's evidence
    return cm.matrix_for(ROOT, mutation_file=absent, sensitivity_file=absent)


def test_every_contract_rule_has_a_test(matrix: cm.Matrix) -> None:
    uncovered = {row.rule.id: row.rule.where for row in matrix.rows if row.status == "uncovered"}
    missing = [f"{where}: {rule} has no test" for rule, where in uncovered.items() if rule not in PENDING]
    assert not missing, (
        "contract rules without a test: name them in a journey's `rules:` or with "
        "@pytest.mark.rule(...):\n" + "\n".join(missing)
    )
    done = sorted(set(PENDING) - set(uncovered))
    assert not done, f"these rules have a test now: remove them from PENDING: {', '.join(done)}"


def test_no_test_names_an_unknown_rule(matrix: cm.Matrix) -> None:
    assert not matrix.unknown, "\n".join(
        f"{where}: {test} names {rule}, which no contract defines" for test, where, rule in matrix.unknown
    )


def test_every_suite_test_names_its_rules(matrix: cm.Matrix) -> None:
    assert not matrix.untagged, (
        "tests that name no contract rule: add `rules: [R-…]` after a journey's title, or "
        "@pytest.mark.rule(...) to a Python test (docs/webhook-contract.md, How rules are numbered):\n"
        + "\n".join(matrix.untagged)
    )


def test_pending_rules_exist() -> None:
    rules = cr.load_rules(ROOT)
    assert set(PENDING) <= set(rules), f"unknown ids in PENDING: {sorted(set(PENDING) - set(rules))}"


def test_the_rule_marker_is_declared() -> None:
    assert any(line.startswith("rule(*ids):") for line in MARKERS)


# --- the parser and the matrix, on small inputs ----------------------------------------------------------


def test_rules_are_parsed_with_their_text_and_line() -> None:
    doc = textwrap.dedent(
        """\
        # Title
        1. **R-BUY-1** Free text → offers,
           at most 5 rows. **R-BUY-2** No match: an apology.
        - **R-PAY-1** Paid once.

        **R-WAL-1** Balance
        shown.
        """
    )
    rules = cr.parse_rules(doc, "docs/x.md")
    assert [(r.id, r.text, r.where) for r in rules] == [
        ("R-BUY-1", "Free text → offers, at most 5 rows.", "docs/x.md:2"),
        ("R-BUY-2", "No match: an apology.", "docs/x.md:3"),
        ("R-PAY-1", "Paid once.", "docs/x.md:4"),
        ("R-WAL-1", "Balance shown.", "docs/x.md:6"),
    ]
    assert rules[0].area == "BUY"


def test_a_rule_defined_twice_names_both_places(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("- **R-X-1** one\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("\n- **R-X-1** again\n", encoding="utf-8")
    with pytest.raises(cr.ContractRulesError, match=r"b\.md:2: R-X-1 is already defined at a\.md:1"):
        cr.load_rules(tmp_path, ("a.md", "b.md"))


def test_a_malformed_id_is_an_error() -> None:
    with pytest.raises(cr.ContractRulesError, match="x.md:1: R-X-0 is not R-AREA-n"):
        cr.parse_rules("**R-X-0** zero", "x.md")


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_python_tests_take_module_class_and_function_marks(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "tests/smoke/test_a.py",
        """\
        import pytest
        pytestmark = [pytest.mark.smoke, pytest.mark.rule("R-SIG-1")]

        @pytest.mark.rule("R-ID-2", "R-ID-3")
        @pytest.mark.parametrize("x", [1, 2])
        def test_one(x):
            pass

        @pytest.mark.rule("R-HTTP-1")
        class TestGroup:
            def test_two(self):
                pass

        def helper():
            pass
        """,
    )
    defects = {("tests/smoke/test_a.py", "test_one"): {"no_signature_check"}}
    tests = {t.id: t for t in cr.python_tests(tmp_path, ("tests/smoke",), defects)}
    assert set(tests) == {"tests/smoke/test_a.py::test_one", "tests/smoke/test_a.py::TestGroup::test_two"}
    one = tests["tests/smoke/test_a.py::test_one"]
    assert one.rules == ("R-SIG-1", "R-ID-2", "R-ID-3")
    assert one.defects == ("no_signature_check",)
    assert one.where == "tests/smoke/test_a.py:6"
    assert tests["tests/smoke/test_a.py::TestGroup::test_two"].rules == ("R-SIG-1", "R-HTTP-1")


def test_a_rule_mark_needs_string_ids(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "tests/smoke/test_b.py",
        "import pytest\nR = 'R-X-1'\n@pytest.mark.rule(R)\ndef test_x(): pass\n",
    )
    with pytest.raises(cr.ContractRulesError, match=r"test_b\.py:3: pytest\.mark\.rule takes rule ids"):
        cr.python_tests(tmp_path, ("tests/smoke",))


def test_journeys_give_rules_and_defects(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "tests/e2e/a.journey.yaml",
        """\
        journey: a-journey
        title: A
        rules: [R-BUY-1, R-PAY-1]
        defects: [wallet_double_debit]
        actors: {}
        steps: []
        """,
    )
    (test,) = cr.yaml_tests(tmp_path, ("tests/e2e",))
    assert test == cr.RuleTest(
        "tests/e2e/a.journey.yaml::a-journey",
        "tests/e2e/a.journey.yaml:3",
        ("R-BUY-1", "R-PAY-1"),
        ("wallet_double_debit",),
    )


def test_sensitivity_probes_map_defects_to_test_functions(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "fixtures/sensitivity/smoke.yaml",
        """\
        - defect: no_dedupe
          suite: tests/smoke/test_protocol.py
          must_fail: [test_same_wamid, "test_other[param]"]
        - defect: verify_any_token
          suite: tests/smoke/test_protocol.py
          must_fail: [test_same_wamid]
        """,
    )
    found = cr.sensitivity_defects(tmp_path)
    assert found[("tests/smoke/test_protocol.py", "test_same_wamid")] == {"no_dedupe", "verify_any_token"}
    assert found[("tests/smoke/test_protocol.py", "test_other")] == {"no_dedupe"}


def test_status_is_covered_weak_or_uncovered() -> None:
    rules = {
        r.id: r for r in cr.parse_rules("**R-A-1** a\n\n**R-A-2** b\n\n**R-A-3** c\n\n**R-A-4** d", "x.md")
    }
    tests = [
        cr.RuleTest("tests/smoke/test_x.py::test_a", "x:1", ("R-A-1",), ("some_defect",)),
        cr.RuleTest("tests/smoke/test_x.py::test_b", "x:2", ("R-A-2", "R-A-4", "R-NOPE-1")),
    ]
    killed = [["tests/smoke/test_x.py::test_b[param]"]]
    tests.append(cr.RuleTest("tests/smoke/test_x.py::test_c", "x:3", ()))
    matrix = cm.build_matrix(rules, tests, killed=None)
    assert [r.status for r in matrix.rows] == ["covered", "weak", "uncovered", "weak"]
    assert matrix.untagged == ["x:3: tests/smoke/test_x.py::test_c"]
    assert matrix.unknown == [("tests/smoke/test_x.py::test_b", "x:2", "R-NOPE-1")]
    assert [p.split(": ", 1)[1] for p in matrix.problems()] == [
        "R-A-3 has no test",
        "tests/smoke/test_x.py::test_b names R-NOPE-1, which no contract defines",
    ]
    with_mutants = cm.build_matrix(rules, tests, killed=killed)
    assert [r.status for r in with_mutants.rows] == ["covered", "covered", "uncovered", "covered"]
    assert with_mutants.rows[1].mutants_killed == 1


def test_a_defect_the_sensitivity_run_did_not_catch_proves_nothing(tmp_path: Path) -> None:
    evidence = {
        "results": [
            {"defect": "caught_one", "suite": "tests/smoke/test_x.py", "status": "caught"},
            {"defect": "missed_one", "suite": str(tmp_path / "tests/smoke/test_x.py"), "status": "missed"},
        ]
    }
    path = tmp_path / "sensitivity.json"
    path.write_text(json.dumps(evidence), encoding="utf-8")
    probes = cm.load_sensitivity(path, tmp_path)
    assert probes == {
        ("caught_one", "tests/smoke/test_x.py"): "caught",
        ("missed_one", "tests/smoke/test_x.py"): "missed",
    }
    rules = {r.id: r for r in cr.parse_rules("**R-A-1** a\n\n**R-A-2** b\n\n**R-A-3** c", "x.md")}
    tests = [
        cr.RuleTest("tests/smoke/test_x.py::test_a", "x:1", ("R-A-1",), ("caught_one",)),
        cr.RuleTest("tests/smoke/test_x.py::test_b", "x:2", ("R-A-2",), ("missed_one",)),
        cr.RuleTest("tests/smoke/test_y.py::test_c", "y:1", ("R-A-3",), ("no_evidence",)),
    ]
    matrix = cm.build_matrix(rules, tests, probes=probes)
    assert [r.status for r in matrix.rows] == ["covered", "weak", "covered"]
    assert matrix.to_dict()["rules"][1]["defects_not_caught"] == ["missed_one"]
    assert "`missed_one` (not caught)" in "\n".join(cm.markdown_table(matrix.to_dict()))
    assert cm.load_sensitivity(tmp_path / "absent.json", tmp_path) is None


def test_mutation_results_are_read_leniently(tmp_path: Path) -> None:
    path = tmp_path / "mutation.json"
    path.write_text(
        json.dumps(
            {
                "mutants": [
                    {"status": "killed", "killed_by": ["tests/smoke/test_x.py::test_a"]},
                    {"outcome": "KILLED", "failing_tests": ["j.yaml::j"]},
                    {"outcome": "killed", "detail": "tests/smoke/t.py::test_c[x] (call, t.py:9): assert"},
                    {"outcome": "killed", "detail": "the baseline timed out"},
                    {"status": "survived", "killed_by": ["tests/smoke/test_x.py::test_b"]},
                    "not a mutant",
                ]
            }
        ),
        encoding="utf-8",
    )
    assert cm.load_mutation(path) == [
        ["tests/smoke/test_x.py::test_a"],
        ["j.yaml::j"],
        ["tests/smoke/t.py::test_c[x]"],
    ]
    assert cm.load_mutation(tmp_path / "absent.json") is None


def test_run_status_of_a_rule() -> None:
    outcomes = {
        "tests/smoke/t.py::test_a[x]": "pass",
        "tests/smoke/t.py::test_b": "fail",
        "j.yaml::j": "not covered",
    }
    assert cm.run_status(["tests/smoke/t.py::test_a"], outcomes) == "pass"
    assert cm.run_status(["tests/smoke/t.py::test_a", "tests/smoke/t.py::test_b"], outcomes) == "fail"
    assert cm.run_status(["j.yaml::j"], outcomes) == "not run"
    assert cm.run_status(["tests/smoke/t.py::test_ab"], outcomes) == "not run"


def test_matrix_files_are_written(tmp_path: Path, matrix: cm.Matrix) -> None:
    json_path, md_path = cm.write_matrix(matrix.to_dict(), tmp_path)
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["schema"] == cm.SCHEMA
    assert sum(data["counts"].values()) == len(data["rules"]) == len(matrix.rows)
    md = md_path.read_text(encoding="utf-8")
    assert "| **R-SIG-1** " in md
    assert "`test_protocol.py::test_badly_signed_message_is_rejected_and_not_answered`" in md
