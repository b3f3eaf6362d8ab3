"""Mutation testing's own logic: the filter of mutants that cannot matter, the seeded sample, the score."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from easymo_qa.mutation.command import build_command, confirm_command
from easymo_qa.mutation.filters import excluded_spans, exclusion
from easymo_qa.mutation.results import (
    Equivalent,
    Gap,
    Mutant,
    Result,
    from_report,
    markdown,
    report,
    sample,
    tally,
)
from easymo_qa.mutation.session import equivalents, fits, gaps, load_settings

REPO = Path(__file__).resolve().parents[2]

SOURCE = """from __future__ import annotations
import logging
log = logging.getLogger("x")

def notify(to: str, tries: int | None = None) -> bool:
    ok = len(to) > 3
    log.warning("notice to %s failed", to[-4:], exc_info=True)
    total: int | None = 1 + 2  # pragma: no mutate (a constant the tests cannot see)
    return ok and "✅ Noted" != to[-4:]

if __name__ == "__main__":
    import sys
    print(sys.argv[1:] == [])
"""


def reason(line: int, text: str, after: str = "") -> str | None:
    """Why a mutant of ``text`` (found after ``after`` on that 1-based line) cannot matter."""
    source_line = SOURCE.splitlines()[line - 1]
    col = source_line.index(text, source_line.index(after) if after else 0)
    return exclusion(excluded_spans(SOURCE), (line, col), (line, col + len(text)))


def test_mutants_in_logging_annotations_the_main_guard_and_pragma_lines_cannot_matter() -> None:
    assert reason(5, "|") == "annotation (not evaluated)"  # `int | None` of a parameter
    assert reason(5, "bool") == "annotation (not evaluated)"  # the return annotation
    assert reason(8, "|") == "annotation (not evaluated)"  # an annotated assignment
    assert reason(7, "-") == "logging call"  # to[-4:] inside log.warning(...)
    assert reason(7, "True") == "logging call"  # exc_info=True
    assert reason(8, "+") == "pragma: no mutate"
    assert reason(13, "==") == "__main__ argument parsing"


def test_mutants_of_behaviour_remain() -> None:
    assert reason(6, ">") is None  # len(to) > 3
    assert reason(9, "and") is None
    # Columns are characters, as parso counts them: the emoji before `!=` must not shift the span.
    assert reason(9, "!=") is None
    assert reason(9, "-", after="!=") is None


def test_spans_count_characters_not_bytes_after_an_emoji() -> None:
    source = 'log.info("✅ 🛵 done %s", to[-1]); ok = to[-1]\n'
    minus_in_log, minus_after = source.index("-"), source.rindex("-")
    assert exclusion(excluded_spans(source), (1, minus_in_log), (1, minus_in_log + 1)) == "logging call"
    assert exclusion(excluded_spans(source), (1, minus_after), (1, minus_after + 1)) is None


def m(file: str, line: int, col: int = 0, operator: str = "core/AddNot", occurrence: int = 0) -> Mutant:
    return Mutant(f"{file}:{line}:{col}:{operator}", file, line, col, operator, occurrence)


POPULATION = [m(f"reference/{f}.py", line, col, op) for f in "abc" for line in range(1, 30) for col in (0, 8)
              for op in ("core/AddNot", "core/ReplaceBinaryOperator_Add_Sub")]  # fmt: skip


def test_the_sample_is_seeded_and_independent_of_the_populations_order() -> None:
    first = sample(POPULATION, 25, seed=7)
    again = sample(list(reversed(POPULATION)), 25, seed=7)
    assert first == again
    assert sample(POPULATION, 25, seed=8) != first


def test_the_sample_takes_one_mutant_per_site_and_never_more_than_there_are() -> None:
    drawn = sample(POPULATION, 40, seed=1)
    assert len(drawn) == 40
    assert len({d.site for d in drawn}) == 40
    assert len(sample(POPULATION, 10_000, seed=1)) == len({p.site for p in POPULATION})
    assert sample([], 5, seed=1) == []


def test_the_score_leaves_out_equivalents_incompetent_and_unrun_mutants() -> None:
    a, b, c, d, e = (m("reference/a.py", line) for line in range(1, 6))
    results = [
        Result(a, "killed", 12.0),
        Result(b, "killed", 90.0, timed_out=True),
        Result(c, "survived", 50.0, code="if n < 0:"),
        Result(d, "survived", 50.0, code="return total"),
        Result(e, "incompetent"),
        Result(m("reference/b.py", 1), "not run"),
    ]
    judged = [Equivalent("reference/a.py", "core/AddNot", "if n < 0:", "n is never negative")]
    score = tally(results, judged)
    assert (score.killed, score.timed_out, score.survived, score.equivalent) == (2, 1, 1, 1)
    assert (score.incompetent, score.not_run, score.unconfirmed) == (1, 1, 0)
    assert score.score == pytest.approx(2 / 3)
    assert score.raw_score == pytest.approx(2 / 4)
    assert [r.mutant for r in score.survivors] == [d]
    assert tally([]).score is None


def test_a_kill_its_tests_do_not_repeat_alone_is_unconfirmed_and_not_scored(tmp_path: Path) -> None:
    results = [Result(m("reference/a.py", 1), "killed"), Result(m("reference/a.py", 2), "unconfirmed")]
    score = tally(results)
    assert (score.killed, score.unconfirmed, score.score) == (1, 1, 1.0)
    settings, _ = load_settings(REPO / "cosmic-ray.toml")
    full = build_command(settings["test-command"], tmp_path, (), tmp_path / "o.jsonl")
    killers = ("tests/e2e/a.journey.yaml::a", "tests/smoke/test_p.py::test_q[é ü]")
    alone = confirm_command(full, killers)
    assert alone[3:5] == list(killers)
    assert "-x" not in alone
    assert "-n" not in alone
    assert "tests/synthetic" not in alone
    assert alone[-1] == full[-1]  # still writes its outcome log


def test_the_reports_list_each_survivor_with_its_place_operator_and_diff() -> None:
    survivor = Result(m("reference/a.py", 9), "survived", 40.0, diff="--- a\n+++ b\n-x\n+not x", code="x")
    killed = Result(m("reference/a.py", 3), "killed", 10.0, killed_by=("tests/smoke/test_x.py::test_y",))
    data = report([killed, survivor], [], {"seed": 3})
    json.dumps(data)  # serialisable as is
    assert data["score"] == 0.5
    assert data["seconds_per_mutant"] == {"mean": 25.0, "median": 25.0, "max": 40.0}
    assert data["survivors"][0]["where"] == "reference/a.py:9"
    assert data["mutants"][0]["killed_by"] == ["tests/smoke/test_x.py::test_y"]  # read by contract-matrix
    text = markdown(data)
    assert "**Score: 50.0 %**" in text
    assert "### reference/a.py:9 `core/AddNot`" in text
    assert "+not x" in text


def test_a_report_scores_again_with_new_judgements_and_shows_the_missing_tests() -> None:
    survivor = Result(m("reference/a.py", 9), "survived", 40.0, diff="-x\n+not x", code="x = 1")
    killed = Result(m("reference/a.py", 3), "killed", 10.0, killed_by=("t::u",))
    first = json.loads(json.dumps(report([killed, survivor], [], {"seed": 3, "source": "abc"})))
    results, meta = from_report(first)
    assert results == [killed, survivor]
    assert meta == {"seed": 3, "source": "abc"}
    gap = Gap("reference/a.py", "core/AddNot", "x = 1", "a test that reads x")
    judged = report(results, [], meta, [gap])
    assert judged["survivors"][0]["missing_test"] == "a test that reads x"
    assert "A real gap; the test that would kill it: a test that reads x" in markdown(judged)
    equivalent = Equivalent("reference/a.py", "core/AddNot", "x = 1", "x is never read")
    assert report(results, [equivalent], meta)["score"] == 1.0


def test_the_configured_command_is_the_black_box_suite_with_its_outcome_log(tmp_path: Path) -> None:
    settings, ours = load_settings(REPO / "cosmic-ray.toml")
    assert settings["module-path"] == "reference"
    assert {"sample", "seed", "budget-seconds"} <= set(ours)
    command = build_command(settings["test-command"], tmp_path, (), tmp_path / "o.jsonl")
    assert command[:3] == [sys.executable, "-m", "pytest"]
    assert {"tests/smoke", "tests/e2e", "tests/synthetic", "-x"} <= set(command)
    assert command[-1] == f"--outcome-log={tmp_path / 'o.jsonl'}"
    narrowed = build_command(settings["test-command"], tmp_path, ("tests/smoke",), tmp_path / "o.jsonl")
    assert "tests/e2e" not in narrowed
    assert narrowed[3] == "tests/smoke"
    for module in settings["excluded-modules"]:
        assert (REPO / module).is_file(), module
    for judged in [*equivalents(ours), *gaps(ours)]:  # each judgement names a real file and says why
        assert (REPO / judged.file).is_file(), judged
        assert getattr(judged, "why", None) or getattr(judged, "test", None), judged


def test_the_nightly_runs_a_larger_sample_than_make_mutation() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "nightly.yml").read_text(encoding="utf-8"))
    run = "\n".join(step.get("run", "") for step in workflow["jobs"]["mutation"]["steps"])
    nightly = int(re.search(r"make mutation MUTATION_SAMPLE=(\d+)", run).group(1))
    default = int(re.search(r"^MUTATION_SAMPLE \?= (\d+)$", (REPO / "Makefile").read_text(), re.M).group(1))
    assert nightly > default


def test_no_mutant_starts_that_would_end_after_the_budget() -> None:
    assert fits(elapsed=100, took=[], baseline=60, budget=600)
    assert not fits(elapsed=580, took=[], baseline=60, budget=600)  # half the baseline: 30 s
    assert fits(elapsed=540, took=[40, 20], baseline=60, budget=600)
    assert not fits(elapsed=580, took=[40, 20], baseline=60, budget=600)
