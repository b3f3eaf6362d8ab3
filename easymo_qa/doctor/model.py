"""What the doctor found: one row per check, in the order they ran."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class Outcome:
    """What one check function says. ``ok=None`` is a skip (with the reason in ``detail``).

    ``blocks``: a failure that makes the checks needing this one meaningless (the bot or a simulator cannot
    be reached, the signed message was refused); they are then skipped with "needs: <check>".
    """

    ok: bool | None
    detail: str
    hint: str = ""
    blocks: bool = True

    @classmethod
    def passed(cls, detail: str) -> Outcome:
        return cls(True, detail)

    @classmethod
    def failed(cls, detail: str, hint: str, *, blocks: bool = True) -> Outcome:
        return cls(False, detail, hint, blocks)

    @classmethod
    def skipped(cls, why: str) -> Outcome:
        return cls(None, why)


@dataclass(frozen=True)
class Row:
    """One line of the doctor's table."""

    status: Status
    check: str
    detail: str
    hint: str = ""


@dataclass
class DoctorReport:
    """Every row, what the environment does not configure, and the notes printed before the table."""

    env_label: str
    rows: list[Row] = field(default_factory=list)
    not_configured: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row.status != "fail" for row in self.rows)

    def row(self, check: str) -> Row:
        return next(r for r in self.rows if r.check == check)
