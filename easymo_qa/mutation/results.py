"""The sample, the score and the report of a mutation session (pure: no cosmic-ray, no processes).

Sampling draws *sites* (a position in a file), then one operator at that site, both from one seeded PRNG
over a stable order: ``+`` alone yields a dozen near-identical mutants, and a small sample should spread
over the code, not over the dozen. The same seed and population give the same sample on every machine.

The score is killed / (killed + survived), with survivors judged equivalent (``[easymo.mutation]
equivalent`` in ``cosmic-ray.toml``) left out; incompetent mutants (the mutation itself failed) and
mutants the time budget left unrun are counted and listed, never scored; so are "unconfirmed" kills (the
killing tests passed when run alone against the same mutant: a flaky test, not a detected mutant).
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# unconfirmed: the full run failed, but its failing tests passed alone against the same mutant (flaky)
Outcome = Literal["killed", "survived", "unconfirmed", "incompetent", "not run"]


@dataclass(frozen=True)
class Mutant:
    job_id: str
    file: str
    line: int
    col: int
    operator: str
    occurrence: int
    definition: str | None = None

    @property
    def site(self) -> tuple[str, int, int]:
        return (self.file, self.line, self.col)

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class _Judgement:
    """A survivor read and judged: same file and operator, and the original line reads ``code``."""

    file: str
    operator: str
    code: str

    def matches(self, mutant: Mutant, code: str) -> bool:
        return self.file == mutant.file and self.operator == mutant.operator and self.code == code.strip()


@dataclass(frozen=True)
class Equivalent(_Judgement):
    why: str  # left out of the score


@dataclass(frozen=True)
class Gap(_Judgement):
    test: str  # a real gap: the test that would kill it (still scored as a survivor)


@dataclass(frozen=True)
class Result:
    mutant: Mutant
    outcome: Outcome
    seconds: float = 0.0
    diff: str = ""
    code: str = ""  # the original line, stripped
    timed_out: bool = False
    detail: str = ""  # for a kill: the failing test's line; for incompetent: the error
    killed_by: tuple[str, ...] = ()  # node ids of the tests that failed (with -x: the first ones)


def sample(mutants: Iterable[Mutant], size: int, seed: int) -> list[Mutant]:
    """``size`` mutants on distinct sites, drawn with ``seed`` (see the module's docstring)."""
    by_site: dict[tuple[str, int, int], list[Mutant]] = {}
    for m in sorted(mutants, key=lambda m: (m.site, m.operator, m.occurrence)):
        by_site.setdefault(m.site, []).append(m)
    rng = random.Random(seed)
    sites = rng.sample(sorted(by_site), min(size, len(by_site)))
    return [rng.choice(by_site[site]) for site in sites]


@dataclass
class Score:
    killed: int = 0
    timed_out: int = 0  # killed by the per-mutant timeout (counted in killed too)
    survived: int = 0
    equivalent: int = 0  # survivors judged equivalent (not in survived)
    unconfirmed: int = 0
    incompetent: int = 0
    not_run: int = 0
    survivors: list[Result] = field(default_factory=list)
    equivalents: list[tuple[Result, str]] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        scored = self.killed + self.survived
        return self.killed / scored if scored else None

    @property
    def raw_score(self) -> float | None:
        """Without the equivalence judgements: every survivor counts against the suite."""
        scored = self.killed + self.survived + self.equivalent
        return self.killed / scored if scored else None


def tally(results: Sequence[Result], equivalents: Sequence[Equivalent] = ()) -> Score:
    score = Score()
    for r in results:
        if r.outcome == "killed":
            score.killed += 1
            score.timed_out += r.timed_out
        elif r.outcome == "survived":
            judged = next((e for e in equivalents if e.matches(r.mutant, r.code)), None)
            if judged is not None:
                score.equivalent += 1
                score.equivalents.append((r, judged.why))
            else:
                score.survived += 1
                score.survivors.append(r)
        elif r.outcome == "unconfirmed":
            score.unconfirmed += 1
        elif r.outcome == "incompetent":
            score.incompetent += 1
        else:
            score.not_run += 1
    return score


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def report(
    results: Sequence[Result],
    equivalents: Sequence[Equivalent],
    meta: dict[str, Any],
    gaps: Sequence[Gap] = (),
) -> dict[str, Any]:
    """The JSON report: what was sampled and how, the score, and every mutant's outcome."""
    s = tally(results, equivalents)

    def survivor(r: Result) -> dict[str, Any]:
        gap = next((g for g in gaps if g.matches(r.mutant, r.code)), None)
        return {**_entry(r), "missing_test": gap.test if gap else None}

    ran = [r.seconds for r in results if r.outcome in ("killed", "survived", "unconfirmed")]
    return {
        **meta,
        "score": s.score,
        "raw_score": s.raw_score,
        "counts": {
            "sampled": len(results),
            "killed": s.killed,
            "timed_out": s.timed_out,
            "survived": s.survived,
            "equivalent": s.equivalent,
            "unconfirmed": s.unconfirmed,
            "incompetent": s.incompetent,
            "not_run": s.not_run,
        },
        "seconds_per_mutant": {
            "mean": round(statistics.fmean(ran), 1) if ran else None,
            "median": round(statistics.median(ran), 1) if ran else None,
            "max": round(max(ran), 1) if ran else None,
        },
        "survivors": [survivor(r) for r in s.survivors],
        "equivalent": [{**_entry(r), "why": why} for r, why in s.equivalents],
        "mutants": [_entry(r) for r in results],
    }


REPORT_KEYS = ("score", "raw_score", "counts", "seconds_per_mutant", "survivors", "equivalent", "mutants")


def from_report(data: dict[str, Any]) -> tuple[list[Result], dict[str, Any]]:
    """A report's results and session facts back, to score them again with new equivalence judgements."""
    fields = Mutant.__dataclass_fields__
    results = [
        Result(
            Mutant(**{k: v for k, v in e.items() if k in fields}),
            e["outcome"],
            e.get("seconds", 0.0),
            e.get("diff", ""),
            e.get("code", ""),
            e.get("timed_out", False),
            e.get("detail", ""),
            tuple(e.get("killed_by", ())),
        )
        for e in data["mutants"]
    ]
    return results, {k: v for k, v in data.items() if k not in REPORT_KEYS}


def _entry(r: Result) -> dict[str, Any]:
    return {
        **asdict(r.mutant),
        "where": r.mutant.where(),
        "outcome": r.outcome,
        "seconds": round(r.seconds, 1),
        "timed_out": r.timed_out,
        "code": r.code,
        "diff": r.diff,
        "detail": r.detail,
        "killed_by": list(r.killed_by),
    }


def markdown(data: dict[str, Any]) -> str:
    """``reports/mutation.md``: the score, the numbers, and each survivor with its diff."""
    c = data["counts"]
    per = data["seconds_per_mutant"]
    lines = [
        "# Mutation testing of the black-box suite against reference/",
        "",
        f"**Score: {_pct(data['score'])}** of {c['killed'] + c['survived']} non-equivalent mutants killed "
        f"(raw, every survivor counted: {_pct(data['raw_score'])}).",
        "",
        f"- sample: {c['sampled']} mutants on distinct sites, seed {data.get('seed')}, drawn from "
        f"{data.get('eligible', '?')} eligible mutants ({data.get('population', '?')} in all; "
        f"left out as unable to matter: {_excluded(data.get('excluded', {}))})",
        f"- killed {c['killed']} (by timeout: {c['timed_out']}), survived {c['survived']}, judged "
        f"equivalent {c['equivalent']}, unconfirmed kills (flaky) {c['unconfirmed']}, incompetent "
        f"{c['incompetent']}, not run (time budget) {c['not_run']}",
        f"- seconds per mutant: mean {per['mean']}, median {per['median']}, max {per['max']}; "
        f"baseline run {data.get('baseline_seconds')} s; session {data.get('seconds')} s",
        f"- test command: `{data.get('test_command', '')}`",
        "",
        "## Survivors",
        "",
    ]
    if not data["survivors"]:
        lines.append("None.")
    for s in data["survivors"]:
        lines += [f"### {s['where']} `{s['operator']}` (in `{s['definition'] or '-'}`)", ""]
        judged = s.get("missing_test")
        lines += [f"A real gap; the test that would kill it: {judged}" if judged else "Not judged yet.", ""]
        lines += ["```diff", s["diff"].strip(), "```", ""]
    unconfirmed = [m for m in data["mutants"] if m["outcome"] == "unconfirmed"]
    if unconfirmed:
        lines += ["## Unconfirmed kills (the killing tests passed alone: flaky, not scored)", ""]
        lines += [f"- {m['where']} `{m['operator']}`: {m['detail']}" for m in unconfirmed]
        lines.append("")
    if data["equivalent"]:
        lines += ["## Survivors judged equivalent", ""]
        lines += [f"- {e['where']} `{e['operator']}`: {e['why']}" for e in data["equivalent"]]
        lines.append("")
    return "\n".join(lines) + "\n"


def _excluded(excluded: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in Counter(excluded).most_common()) or "none"
