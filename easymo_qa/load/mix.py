"""The journey mix: which ``*.journey.yaml`` files the load test's users run, how often, and how fast.

``loadtests/mix.yaml``::

    journeys_dir: ../tests/e2e          # where journey paths are looked up (relative to this file)
    think_seconds: [1, 3]               # a user's pause between turns and between journeys (uniform)
    journeys:
      - journey: home_menu.journey.yaml
        weight: 6                        # relative: picked 6 times as often as a weight-1 entry

Every problem is reported as ``file:line: what is wrong`` before any traffic is sent, including an invalid
journey file (with the journey file's own line).
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from easymo_qa.conversation.loader import JourneyError, load_journey
from easymo_qa.conversation.model import Journey
from easymo_qa.yaml_source import LineMap, YamlSourceError, load_yaml_file

_TOP_KEYS = ("journeys_dir", "think_seconds", "journeys")
_ENTRY_KEYS = ("journey", "weight")


class MixError(ValueError):
    """A mix file that cannot be used: ``file:line: what is wrong``."""


@dataclass(frozen=True)
class MixEntry:
    journey: Journey
    weight: int
    path: Path
    line: int


@dataclass(frozen=True)
class JourneyMix:
    entries: tuple[MixEntry, ...]
    think_seconds: tuple[float, float]
    source: Path

    def __post_init__(self) -> None:
        totals, running = [], 0
        for entry in self.entries:
            running += entry.weight
            totals.append(running)
        object.__setattr__(self, "_totals", totals)

    def pick(self, rng: random.Random) -> MixEntry:
        """One entry, with probability weight / total weight."""
        totals: list[int] = self._totals  # type: ignore[attr-defined]
        return self.entries[bisect.bisect_right(totals, rng.randrange(totals[-1]))]

    def think(self, rng: random.Random) -> float:
        low, high = self.think_seconds
        return low if high <= low else rng.uniform(low, high)

    def pinned_phones(self) -> set[str]:
        """Numbers fixed in journey files (seeded staff): shared by every concurrent run of the journey."""
        return {a.phone for e in self.entries for a in e.journey.actors.values() if a.phone}

    def describe(self) -> str:
        total = sum(e.weight for e in self.entries)
        return ", ".join(f"{e.journey.journey} {100 * e.weight / total:.0f}%" for e in self.entries)


def _think(value: Any, lines: LineMap) -> tuple[float, float]:
    where = lines.where(("think_seconds",))
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = [value, value]
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise MixError(f"{where}: think_seconds is [min, max] in seconds (or one number), got {value!r}")
    low, high = float(value[0]), float(value[1])
    if low < 0 or high < low:
        raise MixError(f"{where}: think_seconds needs 0 <= min <= max, got [{low:g}, {high:g}]")
    return low, high


def _entry(item: Any, i: int, base: Path, lines: LineMap) -> MixEntry:
    where = lines.where(("journeys", i))
    if not isinstance(item, dict):
        raise MixError(f"{where}: a mix entry is a mapping {{journey: FILE, weight: N}}, got {item!r}")
    unknown = [k for k in item if k not in _ENTRY_KEYS]
    if unknown:
        raise MixError(
            f"{lines.where(('journeys', i, unknown[0]))}: unknown key '{unknown[0]}'; "
            f"an entry takes {', '.join(_ENTRY_KEYS)}"
        )
    if "journey" not in item or not isinstance(item["journey"], str) or not item["journey"].strip():
        raise MixError(f"{where}: 'journey' (the path of a *.journey.yaml file) is required")
    weight = item.get("weight", 1)
    if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
        raise MixError(f"{lines.where(('journeys', i, 'weight'))}: weight must be a whole number >= 1")
    path = (base / item["journey"]).resolve()
    line = lines.line_of(("journeys", i, "journey")) or 0
    if not path.is_file():
        raise MixError(f"{lines.where(('journeys', i, 'journey'))}: journey file {path} does not exist")
    try:
        journey = load_journey(path)
    except JourneyError as exc:
        raise MixError(f"{lines.where(('journeys', i, 'journey'))}: invalid journey file:\n{exc}") from None
    return MixEntry(journey, weight, path, line)


def load_mix(path: str | Path) -> JourneyMix:
    """Read and check a mix file and every journey it names."""
    path = Path(path)
    try:
        data, lines = load_yaml_file(path)
    except YamlSourceError as exc:
        raise MixError(str(exc)) from None
    if not isinstance(data, dict):
        raise MixError(f"{path}:1: a mix file is a mapping with journeys (and think_seconds, journeys_dir)")
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise MixError(
            f"{lines.where((unknown[0],))}: unknown key '{unknown[0]}'; "
            f"a mix file takes {', '.join(_TOP_KEYS)}"
        )
    base = path.parent
    if "journeys_dir" in data:
        if not isinstance(data["journeys_dir"], str):
            raise MixError(f"{lines.where(('journeys_dir',))}: journeys_dir is a folder path")
        base = (path.parent / data["journeys_dir"]).resolve()
        if not base.is_dir():
            raise MixError(f"{lines.where(('journeys_dir',))}: folder {base} does not exist")
    items = data.get("journeys")
    if not isinstance(items, list) or not items:
        raise MixError(f"{lines.where(('journeys',))}: 'journeys' must list at least one {{journey, weight}}")
    entries = tuple(_entry(item, i, base, lines) for i, item in enumerate(items))
    think = _think(data.get("think_seconds", [1, 3]), lines)
    return JourneyMix(entries, think, path)
