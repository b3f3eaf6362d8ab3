"""YAML line marks and the reserved test-number range."""

from __future__ import annotations

from easymo_qa.whatsapp.numbers import TestNumberPool
from easymo_qa.yaml_source import load_yaml


def test_line_marks_follow_nested_paths() -> None:
    data, lines = load_yaml("a: 1\nb:\n  c:\n    - x\n    - y: 2\n", "f.yaml")
    assert data == {"a": 1, "b": {"c": ["x", {"y": 2}]}}
    assert lines.line_of(("b", "c", 1, "y")) == 5
    assert lines.where(("b", "c", 0)) == "f.yaml:4"
    assert lines.line_of(("b", "missing")) == 2


def test_numbers_are_unique_rwandan_and_sharded() -> None:
    pool = TestNumberPool("25079", 12, shard=3)
    numbers = {pool.next() for _ in range(2000)}
    assert len(numbers) == 2000
    assert all(len(n) == 12 and n.startswith("250793") and n.isdigit() for n in numbers)
    assert pool.owns("+250793000111")
    assert not pool.owns("250788123456")


def test_a_suffix_fixes_the_last_digits() -> None:
    pool = TestNumberPool("25079", 12)
    assert pool.next("99").endswith("99")
