"""The journey mix: which ``*.journey.yaml`` files the load test's users run, how often, and how fast.

``loadtests/mix.yaml``::

    journeys_dir: ../tests/e2e          # where journey paths are looked up (relative to this file)
    think_seconds: [1, 3]               # a user's pause between turns and between journeys (uniform)
    identities: {phone: 0.6, phone_and_username: 0.2, username_only: 0.2}   # default: {phone: 1}
    journeys:
      - journey: home_menu.journey.yaml
        weight: 6                        # relative: picked 6 times as often as a weight-1 entry
        identities: [phone, phone_and_username]   # only these kinds of load user play it (default: all)

``identities`` shares the load users between the three kinds of WhatsApp user (what the business sees of
them since 2026: ``easymo_qa/whatsapp/identity.py``); the shares add up to 1. A load user keeps its kind for
the whole run and plays every actor of its journeys with it, except seeded staff (actors with a ``phone:``,
shared by every user) and actors whose journey file names their ``identity:`` (the journey is about it).
An entry's ``identities`` lists the kinds of load user who may play it (a journey written for a phone user
that a username-only user cannot follow as written, say one that pays by MoMo, which asks such a user for a
number first); a user picks among the entries open to its kind, by weight.

Every problem is reported as ``file:line: what is wrong`` before any traffic is sent, including an invalid
journey file (with the journey file's own line).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from easymo_qa.conversation.loader import JourneyError, load_journey
from easymo_qa.conversation.model import Journey
from easymo_qa.whatsapp.identity import USER_KINDS
from easymo_qa.yaml_source import LineMap, YamlSourceError, load_yaml_file

_TOP_KEYS = ("journeys_dir", "think_seconds", "identities", "journeys")
_ENTRY_KEYS = ("journey", "weight", "identities")


class MixError(ValueError):
    """A mix file that cannot be used: ``file:line: what is wrong``."""


@dataclass(frozen=True)
class MixEntry:
    journey: Journey
    weight: int
    path: Path
    line: int
    identities: tuple[str, ...] = USER_KINDS  # the kinds of load user who play it


@dataclass(frozen=True)
class JourneyMix:
    entries: tuple[MixEntry, ...]
    think_seconds: tuple[float, float]
    source: Path
    identities: tuple[tuple[str, float], ...] = (("phone", 1.0),)  # (kind, share), shares add up to 1

    def __post_init__(self) -> None:
        by_kind: dict[str | None, tuple[list[MixEntry], list[int]]] = {}
        for kind in (None, *USER_KINDS):
            open_ = [e for e in self.entries if kind is None or kind in e.identities]
            totals, running = [], 0
            for entry in open_:
                running += entry.weight
                totals.append(running)
            by_kind[kind] = (open_, totals)
        object.__setattr__(self, "_by_kind", by_kind)
        object.__setattr__(self, "_played_as", {})

    def next_kind(self, started: Mapping[str, int]) -> str:
        """The kind of the next load user, given how many of each kind started: the kind furthest below
        its share, so any number of users splits as close to the shares as whole users can."""
        total = sum(started.values()) + 1
        return max(self.identities, key=lambda item: item[1] * total - started.get(item[0], 0))[0]

    def played_as(self, journey: Journey, kind: str) -> Journey:
        """``journey`` with its fresh actors (no ``phone:``, no ``identity:`` in the file) of this kind."""
        cache: dict[tuple[str, str], Journey] = self._played_as  # type: ignore[attr-defined]
        key = (journey.journey, kind)
        if key not in cache:
            actors = {
                name: actor
                if actor.phone or "identity" in actor.model_fields_set
                else actor.model_copy(update={"identity": kind})
                for name, actor in journey.actors.items()
            }
            cache[key] = journey.model_copy(update={"actors": actors})
        return cache[key]

    def pick(self, rng: random.Random, kind: str | None = None) -> MixEntry:
        """One entry (of those open to ``kind`` of user, if given), with probability weight / their total."""
        entries, totals = self._by_kind[kind]  # type: ignore[attr-defined]
        return entries[bisect.bisect_right(totals, rng.randrange(totals[-1]))]

    def think(self, rng: random.Random) -> float:
        low, high = self.think_seconds
        return low if high <= low else rng.uniform(low, high)

    def pinned_phones(self) -> set[str]:
        """Numbers fixed in journey files (seeded staff): shared by every concurrent run of the journey."""
        return {a.phone for e in self.entries for a in e.journey.actors.values() if a.phone}

    def describe(self) -> str:
        total = sum(e.weight for e in self.entries)
        kinds = ", ".join(f"{kind} {100 * share:.0f}%" for kind, share in self.identities)

        def only(entry: MixEntry) -> str:
            return "" if entry.identities == USER_KINDS else f" ({'/'.join(entry.identities)} users)"

        journeys = ", ".join(
            f"{e.journey.journey} {100 * e.weight / total:.0f}%{only(e)}" for e in self.entries
        )
        return f"{journeys}; users: {kinds}"


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


def _identities(value: Any, lines: LineMap) -> tuple[tuple[str, float], ...]:
    where = lines.where(("identities",))
    kinds = ", ".join(USER_KINDS)
    if not isinstance(value, dict) or not value:
        raise MixError(f"{where}: identities maps kinds of user ({kinds}) to shares, got {value!r}")
    for kind, share in value.items():
        at = lines.where(("identities", kind))
        if kind not in USER_KINDS:
            raise MixError(f"{at}: unknown kind of user '{kind}'; identities takes {kinds}")
        if not isinstance(share, int | float) or isinstance(share, bool) or not 0 <= share <= 1:
            raise MixError(f"{at}: the share of {kind} users is a number from 0 to 1, got {share!r}")
    total = sum(value.values())
    if abs(total - 1) > 1e-6:
        raise MixError(f"{where}: the shares of identities add up to {total:g}, not 1")
    return tuple((kind, float(value[kind])) for kind in USER_KINDS if value.get(kind))


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
    kinds = _entry_kinds(item.get("identities", list(USER_KINDS)), ("journeys", i, "identities"), lines)
    path = (base / item["journey"]).resolve()
    line = lines.line_of(("journeys", i, "journey")) or 0
    if not path.is_file():
        raise MixError(f"{lines.where(('journeys', i, 'journey'))}: journey file {path} does not exist")
    try:
        journey = load_journey(path)
    except JourneyError as exc:
        raise MixError(f"{lines.where(('journeys', i, 'journey'))}: invalid journey file:\n{exc}") from None
    return MixEntry(journey, weight, path, line, kinds)


def _entry_kinds(value: Any, key: tuple[Any, ...], lines: LineMap) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise MixError(f"{lines.where(key)}: identities lists kinds of user ({', '.join(USER_KINDS)})")
    for j, kind in enumerate(value):
        if kind not in USER_KINDS:
            kinds = ", ".join(USER_KINDS)
            raise MixError(
                f"{lines.where((*key, j))}: unknown kind of user {kind!r}; identities takes {kinds}"
            )
    return tuple(k for k in USER_KINDS if k in value)


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
    identities = _identities(data["identities"], lines) if "identities" in data else (("phone", 1.0),)
    for kind, _ in identities:
        if not any(kind in e.identities for e in entries):
            raise MixError(
                f"{lines.where(('identities', kind))}: no journey of the mix is open to {kind} users"
            )
    return JourneyMix(entries, think, path, identities)
