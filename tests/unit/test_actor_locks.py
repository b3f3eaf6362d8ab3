"""Journeys that play the same stateful seeded number (a driver, a vendor) never overlap."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from easymo_qa.conversation.actor_locks import seeded_actor_locks, stateful_numbers
from easymo_qa.conversation.model import Journey

pytestmark = pytest.mark.unit


def journey(**actors: dict[str, str]) -> Journey:
    return Journey.model_validate(
        {"journey": "j", "title": "t", "actors": actors, "steps": [{"actor": "buyer", "send": "hi"}]}
    )


def test_only_seeded_drivers_and_vendors_are_locked() -> None:
    j = journey(
        buyer={"role": "buyer"},
        station={"role": "station", "phone": "250788200001"},
        driver={"role": "driver", "phone": "250788300002"},
        vendor={"role": "vendor", "phone": "250788100001"},
    )
    assert stateful_numbers(j) == ["250788100001", "250788300002"]


def test_two_journeys_sharing_a_driver_run_one_after_the_other(tmp_path: Path) -> None:
    shared = journey(buyer={"role": "buyer"}, driver={"role": "driver", "phone": "250788300002"})
    spans: list[tuple[float, float]] = []

    def play() -> None:
        with seeded_actor_locks(shared, "http://127.0.0.1:1/wa-webhook", tmp_path):
            start = time.monotonic()
            time.sleep(0.2)
            spans.append((start, time.monotonic()))

    threads = [threading.Thread(target=play) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    (a_start, a_end), (b_start, _) = sorted(spans)
    assert b_start >= a_end, "the second journey started while the first still held the driver"


def test_another_sut_has_its_own_locks(tmp_path: Path) -> None:
    shared = journey(buyer={"role": "buyer"}, driver={"role": "driver", "phone": "250788300002"})
    with seeded_actor_locks(shared, "http://127.0.0.1:1/a", tmp_path):
        with seeded_actor_locks(shared, "http://127.0.0.1:2/b", tmp_path):  # would deadlock if shared
            pass
