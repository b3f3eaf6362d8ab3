"""Journey files: schema errors point at file:line before any traffic; the shipped journeys load."""

from __future__ import annotations

from pathlib import Path

import pytest

from easymo_qa.conversation import JourneyError, load_journey
from easymo_qa.conversation.loader import find_journeys

REPO = Path(__file__).resolve().parents[2]

VALID = """\
journey: sample
title: Sample
actors:
  buyer: {role: buyer}
  station: {role: station, phone: "250788200001"}
steps:
  - actor: buyer
    send: "2 jerrycans of water"
    expect: {kind: list, rows: ["offer:*"], capture: {offer: {row: 0}}}
  - actor: buyer
    choose: "${offer}"
    expect:
      - {kind: text, text: "location"}
      - {to: station, text: "New order", within: 2}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.journey.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_journey_loads_with_step_lines(tmp_path: Path) -> None:
    journey = load_journey(write(tmp_path, VALID))
    assert [s.line for s in journey.steps] == [7, 10]
    assert journey.roles() == ["buyer", "station"]
    assert journey.steps[0].expect[0].capture["offer"].row == 0  # a single expect mapping becomes a list


@pytest.mark.parametrize(
    ("change", "line", "fragment"),
    [
        (("    send:", "    sned:"), 8, "unknown step key 'sned'"),
        (("  - actor: buyer\n    choose", "  - actor: ghost\n    choose"), 10, "unknown actor 'ghost'"),
        (("{to: station,", "{to: nobody,"), 14, "unknown actor 'nobody'"),
        (("role: station", "role: chef"), 5, "'buyer', 'station'"),
        (("{row: 0}", "{row: 0, text: x}"), 9, "exactly one of"),
        (("    choose:", "    tap: x\n    choose:"), 10, "one action"),
        (("within: 2", "within: -2"), 14, "greater than 0"),
        (("journey: sample\n", ""), 1, "'journey' is required"),
        (("title: Sample", "title: [unclosed"), 3, "not valid YAML"),
    ],
)
def test_schema_errors_name_file_and_line(
    tmp_path: Path, change: tuple[str, str], line: int, fragment: str
) -> None:
    path = write(tmp_path, VALID.replace(*change))
    with pytest.raises(JourneyError) as info:
        load_journey(path)
    assert f"{path}:{line}" in str(info.value)
    assert fragment in str(info.value)


def test_shipped_journeys_all_load() -> None:
    paths = find_journeys(REPO / "tests/e2e")
    assert paths, "no journeys shipped"
    names = [load_journey(p).journey for p in paths]
    assert len(names) == len(set(names)), "journey ids must be unique"
