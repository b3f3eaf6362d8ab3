"""Waivers: a dated, owned exception to one gate, or to the not-covered tests matching a node id.

``waivers.yaml`` is a list of ``{gate: ID | test: SUBSTRING, reason, owner, expires: YYYY-MM-DD}``; a gate
id may be a shell-style pattern (``load_*``) that names every gate it matches. A waiver counts through
its expiry date (inclusive, compared with the run's UTC date); after that it is
listed as expired and no longer counts. Every waiver, used or not, is printed in the sign-off report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from easymo_qa.yaml_source import YamlSourceError, load_yaml_file


class WaiversFileError(ValueError):
    """waivers.yaml cannot be used; the message names the file and line."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    gate: str | None = Field(default=None, min_length=1)
    test: str | None = Field(default=None, min_length=1)
    reason: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    expires: date

    @model_validator(mode="after")
    def _one_target(self) -> _Entry:
        if (self.gate is None) == (self.test is None):
            raise ValueError(
                "a waiver names exactly one of `gate` (a gate id) or `test` (a node id substring)"
            )
        return self


@dataclass(frozen=True)
class Waiver:
    reason: str
    owner: str
    expires: date
    gate: str | None = None
    test: str | None = None
    where: str = ""  # file:line of the entry

    @property
    def target(self) -> str:
        return f"gate {self.gate}" if self.gate is not None else f"tests matching {self.test!r}"

    def expired(self, today: date) -> bool:
        return today > self.expires

    def matches_test(self, nodeid: str) -> bool:
        return self.test is not None and self.test in nodeid

    def covers(self, gate_id: str) -> bool:
        """Does this waiver name the gate (its id, or a pattern such as ``load_*`` matching it)?"""
        return self.gate is not None and fnmatchcase(gate_id, self.gate)


@dataclass(frozen=True)
class WaiverUse:
    """What one waiver did in this sign-off."""

    waiver: Waiver
    state: Literal["applied", "expired", "unused"]
    applies_to: tuple[str, ...] = ()  # gate ids or test node ids it waived (or would have, if expired)


@dataclass(frozen=True)
class Waivers:
    waivers: tuple[Waiver, ...] = ()
    source: str = ""

    def active(self, today: date) -> list[Waiver]:
        return [w for w in self.waivers if not w.expired(today)]

    def expired(self, today: date) -> list[Waiver]:
        return [w for w in self.waivers if w.expired(today)]

    def check_gate_ids(self, gate_ids: Iterable[str]) -> None:
        """A waiver for a gate that does not exist is a typo that would silently waive nothing."""
        known = set(gate_ids)
        for w in self.waivers:
            if w.gate is not None and not any(w.covers(g) for g in known):
                raise WaiversFileError(
                    f"{w.where}: waiver for unknown gate {w.gate!r} (gates: {', '.join(sorted(known))})"
                )


def load_waivers(path: str | Path) -> Waivers:
    """Read ``waivers.yaml``; a missing file means no waivers."""
    path = Path(path)
    if not path.exists():
        return Waivers((), str(path))
    try:
        data, lines = load_yaml_file(path)
    except YamlSourceError as exc:
        raise WaiversFileError(str(exc)) from None
    if data is None:
        return Waivers((), str(path))
    if not isinstance(data, list):
        raise WaiversFileError(f"{lines.where(())}: waivers.yaml must be a list of waivers (or `[]`)")
    waivers: list[Waiver] = []
    problems: list[str] = []
    for i, item in enumerate(data):
        try:
            entry = _Entry.model_validate(item)
        except ValidationError as exc:
            for e in exc.errors():
                loc = (i, *e["loc"])
                key = ".".join(map(str, e["loc"])) or "waiver"
                problems.append(f"{lines.where(loc)}: {key}: {e['msg'].removeprefix('Value error, ')}")
            continue
        waivers.append(
            Waiver(entry.reason, entry.owner, entry.expires, entry.gate, entry.test, lines.where((i,)))
        )
    if problems:
        raise WaiversFileError("invalid waivers:\n  " + "\n  ".join(problems))
    return Waivers(tuple(waivers), str(path))


def describe_use(
    waivers: Sequence[Waiver],
    today: date,
    waived_gates: Iterable[str],
    waived_tests: Iterable[str],
    failed_gates: Iterable[str],
    not_covered_tests: Iterable[str],
) -> list[WaiverUse]:
    """For each waiver: applied (to what), expired (and what it would have covered), or unused."""
    gates_done, tests_done = set(waived_gates), list(waived_tests)
    failed, skipped = set(failed_gates), list(not_covered_tests)
    uses = []
    for w in waivers:
        if w.expired(today):
            would = [g for g in sorted(failed) if w.covers(g)] or [t for t in skipped if w.matches_test(t)]
            uses.append(WaiverUse(w, "expired", tuple(would)))
            continue
        hits = [g for g in sorted(gates_done) if w.covers(g)] or [t for t in tests_done if w.matches_test(t)]
        uses.append(WaiverUse(w, "applied" if hits else "unused", tuple(hits)))
    return uses
