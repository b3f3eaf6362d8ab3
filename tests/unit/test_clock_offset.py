"""The clock offset to the Graph API simulator: NTP's minimum-delay estimator; replies on our clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from easymo_qa.load.clock import ClockOffset, ClockSample, clock_section, estimate, measure, merge_sections
from easymo_qa.load.reply_stream import ReplyStream
from easymo_qa.simulators.graph_api import GraphSimConfig, create_graph_app
from easymo_qa.simulators.server import BackgroundServer


class FakeNetwork:
    """Our clock and a simulator 2.5 s ahead of it, with the given (out, back) delays per round trip."""

    def __init__(self, delays: list[tuple[float, float]], skew: float = 2.5) -> None:
        self.now = 1_000.0
        self.delays = list(delays)
        self.skew = skew
        self.current: tuple[float, float] = (0.0, 0.0)

    def clock(self) -> float:
        return self.now

    def server_now(self) -> float:
        out, back = self.current = self.delays.pop(0)
        self.now += out
        stamp = self.now + self.skew
        self.now += back
        return stamp


def test_one_sample_is_the_midpoint_rule() -> None:
    sample = ClockSample(t_send=10.0, server_now=14.0, t_recv=12.0)
    assert sample.rtt == 2.0
    assert sample.offset == 3.0  # 14 − (10 + 12) / 2


def test_the_shortest_round_trip_wins_and_bounds_the_error() -> None:
    # Asymmetric, slow round trips first; the 2 ms one (1 ms each way) is the truth within ±1 ms.
    net = FakeNetwork([(0.040, 0.002), (0.001, 0.001), (0.003, 0.030), (0.010, 0.010)])
    found = measure(net.server_now, net.clock, samples=4)
    assert found.samples == 4
    assert found.uncertainty == pytest.approx(0.001)
    assert found.offset == pytest.approx(2.5)
    assert abs(found.offset - net.skew) <= found.uncertainty + 1e-9


def test_asymmetry_shows_up_as_error_within_the_bound() -> None:
    net = FakeNetwork([(0.004, 0.000)])  # everything on the way out: the worst case
    found = measure(net.server_now, net.clock, samples=1)
    assert found.offset - net.skew == pytest.approx(0.002)
    assert found.uncertainty == pytest.approx(0.002)


def test_no_samples_no_claim() -> None:
    assert estimate([]) == ClockOffset(0.0, 0.0, 0)
    assert clock_section(ClockOffset.zero(), None) == {
        "offset_ms": 0.0,
        "uncertainty_ms": 0.0,
        "samples": 0,
        "drift_ms": None,
    }


def test_the_summary_section_reports_drift_and_workers_merge_to_the_least_certain() -> None:
    start, end = ClockOffset(0.0123, 0.0004, 8), ClockOffset(0.0150, 0.0005, 8)
    section = clock_section(start, end)
    assert section == {"offset_ms": 12.3, "uncertainty_ms": 0.4, "samples": 8, "drift_ms": 2.7}
    other = {"offset_ms": -1.0, "uncertainty_ms": 3.0, "samples": 8, "drift_ms": -4.0}
    merged = merge_sections([section, other])
    assert merged == {"offset_ms": -1.0, "uncertainty_ms": 3.0, "samples": 16, "drift_ms": -4.0}
    assert merge_sections([]) is None


def test_replies_are_moved_onto_our_clock() -> None:
    stream = ReplyStream("http://127.0.0.1:9", clock_offset=2.5)  # never started: nothing is sent
    record = {
        "seq": 1,
        "to": "250790011111",
        "received_at": 102.5,
        "body": {"type": "text", "text": {"body": "a"}},
    }
    stream.deliver([record])
    [message] = stream.poll("250790011111", 0, 0)
    assert message.received_at == pytest.approx(100.0)
    stream.stop()


@pytest.fixture
def graph() -> Iterator[str]:
    app = create_graph_app(GraphSimConfig(access_token="t", phone_number_id="1", display_phone_number="1"))
    with BackgroundServer(app) as server:
        yield server.url


def test_on_one_machine_the_offset_is_zero_within_its_bound(graph: str) -> None:
    stream = ReplyStream(graph)
    try:
        found = measure(stream.server_clock)
    finally:
        stream.stop()
    assert found.samples == 8
    # One clock: the true offset is 0, so the estimate must lie within its own bound (plus float noise).
    assert abs(found.offset) <= found.uncertainty + 1e-4
