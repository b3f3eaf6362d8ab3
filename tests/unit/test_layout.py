"""The project layout: its defaults and overrides, and every file that names a test names one that exists."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from easymo_qa.contract_rules import python_tests, yaml_tests
from easymo_qa.layout import Layout, LayoutError, read_layout
from easymo_qa.load.mix import load_mix
from easymo_qa.sensitivity import all_probes
from easymo_qa.signoff.waivers import load_waivers

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = read_layout(ROOT)


@pytest.fixture(scope="module")
def test_ids() -> set[str]:
    """Node ids (without parameters) of every test of the black-box suites."""
    return {t.id for t in [*yaml_tests(ROOT), *python_tests(ROOT)]}


def _write_pyproject(tmp_path: Path, table: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[project]\nname = 'x'\n\n[tool.easymo-qa]\n{table}\n")
    return tmp_path


def test_a_project_without_a_table_gets_the_defaults(tmp_path: Path) -> None:
    assert read_layout(tmp_path) == Layout()
    assert read_layout(_write_pyproject(tmp_path, "")) == Layout()


def test_the_table_overrides_paths(tmp_path: Path) -> None:
    root = _write_pyproject(tmp_path, 'e2e = "qa/journeys"\ncontracts = ["bot.md"]\nload-mix = "mix.yaml"')
    where = read_layout(root)
    assert (where.e2e, where.contracts, where.load_mix) == (
        Path("qa/journeys"),
        (Path("bot.md"),),
        Path("mix.yaml"),
    )
    assert where.yaml_suites == (Path("qa/journeys"), Path("tests/synthetic"))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('journeys = "qa"', r"\[tool.easymo-qa\] has no journeys; known: smoke, e2e"),
        ("e2e = 3", r"\[tool.easymo-qa\] e2e is a path"),
        ('contracts = "a.md"', r"contracts is a list of paths"),
    ],
)
def test_a_bad_table_names_the_key(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(LayoutError, match=message):
        read_layout(_write_pyproject(tmp_path, table))


def test_every_path_of_this_repository_exists() -> None:
    for f in fields(Layout):
        value = getattr(LAYOUT, f.name)
        for path in value if isinstance(value, tuple) else (value,):
            assert (ROOT / path).exists() or f.name == "reports", f"{f.name}: {path}"


def test_every_sensitivity_probe_names_tests_that_exist(test_ids: set[str]) -> None:
    missing = [
        f"{probe.defect}: {probe.suite}::{name}"
        for probe in all_probes(LAYOUT)
        for name in probe.must_fail
        if f"{probe.suite}::{name.split('[', 1)[0]}" not in test_ids
    ]
    assert not missing, "sensitivity probes naming tests that do not exist:\n" + "\n".join(missing)


def test_every_load_mix_entry_names_a_journey_that_exists() -> None:
    mix = load_mix(ROOT / LAYOUT.load_mix)  # raises MixError naming the entry of a missing journey file
    assert mix.describe()


def _waiver_example(tmp_path: Path) -> Path:
    """The commented example of waivers.yaml, uncommented, as a waivers file of its own."""
    text = (ROOT / LAYOUT.waivers).read_text(encoding="utf-8")
    example = text.split("# Example", 1)[1].split("\n", 1)[1]
    lines = [re.sub(r"^# ?", "", line) for line in example.splitlines() if line.startswith("#")]
    path = tmp_path / "example.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_waiver_and_the_example_name_tests_that_exist(tmp_path: Path, test_ids: set[str]) -> None:
    waivers = [*load_waivers(ROOT / LAYOUT.waivers).waivers, *load_waivers(_waiver_example(tmp_path)).waivers]
    assert any(w.test for w in waivers), "the example shows a test waiver"
    unknown = [w.test for w in waivers if w.test and not any(w.matches_test(t) for t in test_ids)]
    assert not unknown, f"waivers naming no test: {unknown}"


@pytest.mark.parametrize(
    ("args", "count"),
    [
        (["tests/synthetic", "-m", "synthetic", "-k", "llm"], 5),
        (["tests/e2e", "-m", "e2e", "-k", "home_menu"], 1),
    ],
)
def test_yaml_suites_are_selected_by_folder_marker_and_name(args: list[str], count: int) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    items = [line for line in ran.stdout.splitlines() if "::" in line]
    assert len(items) == count, ran.stdout + ran.stderr
    assert all(line.startswith(args[0] + "/") for line in items), items
