"""A reply that breaks a message rule fails its load-test turn, named after the step (as in the e2e suite)."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from easymo_qa.conversation.loader import load_journey
from easymo_qa.conversation.runner import StepResult
from easymo_qa.hygiene.log import HygieneLog
from easymo_qa.hygiene.registry import Violation
from easymo_qa.load.driver import JourneyDriver, StepFailure, _Turn, step_name

JOURNEY = load_journey(Path(__file__).resolve().parents[2] / "tests/e2e/home_menu.journey.yaml")


def driver(fired: list[tuple[str, str, float, Any]], noted: list[str]) -> JourneyDriver:
    session = SimpleNamespace(
        hygiene=HygieneLog(),
        mix=SimpleNamespace(think=lambda rng: 0.0),
        note_failure=lambda name, error, detail: noted.append(error),
    )
    d = JourneyDriver.__new__(JourneyDriver)
    d.session, d.rng = session, random.Random(1)  # type: ignore[assignment]
    d.fire = lambda kind, name, ms, error: fired.append((kind, name, ms, error))
    d.channel = SimpleNamespace(name="", last_status=200)  # type: ignore[assignment]
    return d


def step(ok: bool = True) -> StepResult:
    return StepResult(0, 1, "user", "user send hi", 200, 1.0, 12.5, ok)


def test_clean_turn_is_a_success_and_a_dirty_one_a_failure() -> None:
    fired: list[tuple[str, str, float, Any]] = []
    noted: list[str] = []
    names = [step_name(JOURNEY, i) for i in range(len(JOURNEY.steps))]
    d = driver(fired, noted)
    d._on_step(_Turn(JOURNEY, names, 0.0), step())
    assert fired == [("REPLY", names[0], 12.5, None)]
    dirty = _Turn(JOURNEY, names, 0.0)
    dirty.violations.append(
        Violation("raw_i18n_key", "no raw key", "body", "agent.not_available", "2507900", 7, 'text "…"')
    )
    fired.clear()
    d._on_step(dirty, step())
    [(kind, name, _, error)] = fired
    assert (kind, name) == ("REPLY", names[0])
    assert isinstance(error, StepFailure)
    assert "message hygiene: [raw_i18n_key]" in str(error)
    assert len(noted) == 1
    assert "raw_i18n_key" in noted[0]
    assert dirty.violations == []
