"""FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE: the share of a fixed population served by the AI agents.

400 fixed test numbers (the same every run) each send one free-text search per percentage; the reply
alone says who was served by the AI agents (an offers list) and who by the legacy flow (the home menu).

- The share must match the percentage within 3 binomial standard deviations, 3·√(p(1−p)/n) (n = 400:
  ±1.5 points at 1 %, ±4.5 at 10 %, ±7.5 at 50 %), and exactly at 0 % and 100 %.
- User by user, the bot must agree with the harness's own bucket: Java's ``String.hashCode()`` of
  ``"<phone>:ai_agents"``, absolute value mod 100, in when below the percentage.
- The same user lands in the same bucket on two runs.

The shares measured are written to ``reports/rollout.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from easymo_qa.cutover import AI, LEGACY, Served, population, probe
from easymo_qa.flags import AI_AGENTS, BUYER_AGENT, ROLLOUT_PERCENTAGE, FlagClient, in_rollout, rollout_bucket
from easymo_qa.target import Target
from easymo_qa.whatsapp.user import WhatsAppUser

pytestmark = [pytest.mark.rollout, pytest.mark.easymo, pytest.mark.needs("flags")]

POPULATION = 400
PERCENTAGES = (0, 1, 10, 50, 100)
SIGMAS = 3.0
SHOWN = 8  # mismatching users listed in a failure


def tolerance(percentage: int, n: int = POPULATION) -> float:
    """Allowed distance, in percentage points, between the measured share and the percentage."""
    p = percentage / 100
    return 100 * SIGMAS * math.sqrt(p * (1 - p) / n)


@pytest.fixture(scope="module")
def rollout_users(target: Target, http_client: httpx.Client) -> list[WhatsAppUser]:
    phones = population(target.number_prefix, target.number_length, POPULATION)
    return [WhatsAppUser(target, http_client, phone, role="buyer", name="Rollout") for phone in phones]


@pytest.fixture(scope="module")
def measured(reports_dir: Path) -> Iterator[dict[str, dict[str, float]]]:
    shares: dict[str, dict[str, float]] = {}
    yield shares
    if shares:
        out = {"population": POPULATION, "sigmas": SIGMAS, "shares": shares}
        (reports_dir / "rollout.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


def served_at(flags: FlagClient, users: list[WhatsAppUser], percentage: int) -> dict[str, Served]:
    flags.set({AI_AGENTS: True, BUYER_AGENT: True, ROLLOUT_PERCENTAGE: percentage})
    return probe(users)


def problems(answers: dict[str, Served], percentage: int) -> list[str]:
    """Users who got no AI / legacy answer, or whose answer disagrees with the harness's bucket."""
    out = []
    for phone, answer in answers.items():
        expected = AI if in_rollout(phone, percentage) else LEGACY
        if answer.served != expected:
            out.append(
                f"{phone} (bucket {rollout_bucket(phone)}): expected {expected}, got {answer.served}: "
                f"{answer.summary}"
            )
    return out


@pytest.mark.parametrize("percentage", PERCENTAGES)
@pytest.mark.rule("R-ROLL-1")
def test_share_of_ai_users_matches_the_rollout_percentage(
    flags: FlagClient,
    rollout_users: list[WhatsAppUser],
    measured: dict[str, dict[str, float]],
    percentage: int,
) -> None:
    answers = served_at(flags, rollout_users, percentage)
    ai = sum(1 for a in answers.values() if a.served == AI)
    share = 100 * ai / len(answers)
    allowed = tolerance(percentage)
    measured[str(percentage)] = {"share": share, "ai_users": ai, "tolerance_points": round(allowed, 2)}
    wrong = problems(answers, percentage)
    assert not wrong, (
        f"at {percentage} %, {len(wrong)} of {len(answers)} users were not served as their bucket says "
        f"(first {SHOWN}):\n  " + "\n  ".join(wrong[:SHOWN])
    )
    assert abs(share - percentage) <= allowed, (
        f"at {percentage} %, {ai} of {len(answers)} users ({share:.2f} %) got the AI agents: "
        f"outside {percentage} ± {allowed:.2f} points ({SIGMAS:g} σ)"
    )


@pytest.mark.rule("R-ROLL-2", "R-ROLL-1")  # also checks every answer against the harness's bucket
def test_a_users_bucket_is_stable_across_runs(flags: FlagClient, rollout_users: list[WhatsAppUser]) -> None:
    first = served_at(flags, rollout_users, 50)
    second = served_at(flags, rollout_users, 50)
    moved = [
        f"{p}: {a.served} then {second[p].served}" for p, a in first.items() if a.served != second[p].served
    ]
    shown = "\n  ".join(moved[:SHOWN])
    assert not moved, f"{len(moved)} users changed flow between two runs at 50 %:\n  {shown}"
    assert not problems(first, 50), "the answers disagree with the harness's bucket (see the share test)"
