"""The load test's journey mix: weights, think time, and errors that point at file:line."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from easymo_qa.load.mix import MixError, load_mix

REPO = Path(__file__).resolve().parents[2]
JOURNEY = """\
journey: {name}
title: T
actors:
  user: {{role: user}}
  staff: {{role: station, phone: "250788200001"}}
steps:
  - actor: user
    send: "hi"
    expect: {{kind: list}}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("a", "b"):
        (tmp_path / f"{name}.journey.yaml").write_text(JOURNEY.format(name=name), encoding="utf-8")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "mix.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_mix_loads() -> None:
    mix = load_mix(REPO / "loadtests" / "mix.yaml")
    assert mix.entries
    assert "home-menu" in mix.describe()


def test_weights_decide_how_often_a_journey_is_picked(folder: Path) -> None:
    mix = load_mix(
        write(
            folder,
            "think_seconds: [0.5, 2]\njourneys:\n  - {journey: a.journey.yaml, weight: 3}\n"
            "  - {journey: b.journey.yaml, weight: 1}\n",
        )
    )
    rng = random.Random(7)
    picks = Counter(mix.pick(rng).journey.journey for _ in range(8000))
    assert picks["a"] / 8000 == pytest.approx(0.75, abs=0.02)
    assert mix.think_seconds == (0.5, 2.0)
    assert 0.5 <= mix.think(rng) <= 2.0
    assert mix.pinned_phones() == {"250788200001"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("journeys:\n  - {journey: missing.journey.yaml}\n", 2, "does not exist"),
        ("journeys:\n  - journey: a.journey.yaml\n    weight: 0\n", 3, "weight must be a whole number"),
        ("journeys:\n  - journey: a.journey.yaml\n    wieght: 2\n", 3, "unknown key 'wieght'"),
        ("think_seconds: [3, 1]\njourneys:\n  - {journey: a.journey.yaml}\n", 1, "min <= max"),
        ("journeys: []\n", 1, "at least one"),
        ("jouneys:\n  - {journey: a.journey.yaml}\n", 1, "unknown key 'jouneys'"),
        ("journeys:\n  - {weight: 2}\n", 2, "'journey'"),
    ],
)
def test_errors_point_at_the_mix_file_line(folder: Path, text: str, line: int, message: str) -> None:
    path = write(folder, text)
    with pytest.raises(MixError, match=message) as excinfo:
        load_mix(path)
    assert f"{path}:{line}:" in str(excinfo.value)


def test_an_invalid_journey_file_names_both_files(folder: Path) -> None:
    (folder / "bad.journey.yaml").write_text("journey: bad\ntitle: T\nactors: {}\nsteps:\n  - {nope: 1}\n")
    path = write(folder, "journeys:\n  - {journey: a.journey.yaml}\n  - {journey: bad.journey.yaml}\n")
    with pytest.raises(MixError) as excinfo:
        load_mix(path)
    text = str(excinfo.value)
    assert f"{path}:3:" in text
    assert f"{folder / 'bad.journey.yaml'}:5" in text
