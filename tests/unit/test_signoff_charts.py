"""The report's inline SVG charts: axes, labels, the gate line, escaping."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from easymo_qa.signoff.charts import histogram_chart, nice_ticks, p95_chart, throughput_chart

SERIES = [{"t": t, "requests": 50 + t, "failures": int(t == 3), "p95_ms": 100.0 + t} for t in range(20)]


def texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    return [el.text or "" for el in root.iter("{http://www.w3.org/2000/svg}text")]


@pytest.mark.parametrize(
    ("top", "ticks"),
    [(9, [0, 2, 4, 6, 8, 10]), (500, [0, 100, 200, 300, 400, 500]), (0, [0, 0.2, 0.4, 0.6, 0.8, 1.0])],
)
def test_nice_ticks(top: float, ticks: list[float]) -> None:
    assert nice_ticks(top) == pytest.approx(ticks)


def test_throughput_chart_has_axes_labels_and_failure_marks() -> None:
    svg = str(throughput_chart(SERIES))
    labels = texts(svg)
    assert "seconds since the load started" in labels
    assert "per second" in labels
    assert "failures / s (1 in all)" in labels
    assert svg.count("<circle") == 1  # one second had a failure


def test_p95_chart_draws_the_gate_when_it_is_within_reach() -> None:
    near = str(p95_chart(SERIES, threshold_ms=200))
    assert "stroke-dasharray" in near
    assert "gate 200 ms" in texts(near)
    far = str(p95_chart([{**p, "p95_ms": 5.0} for p in SERIES], threshold_ms=500))
    assert "gate 500 ms: far above this chart" in texts(far)
    assert max(float(t) for t in texts(far) if t.replace(".", "").isdigit()) < 50  # scaled to the data


def test_p95_chart_breaks_the_line_at_seconds_without_replies() -> None:
    gappy = [{**p, "p95_ms": None if p["t"] in (5, 6) else p["p95_ms"]} for p in SERIES]
    assert str(p95_chart(gappy)).count("<polyline") == 2


def test_histogram_labels_bounds_and_the_open_bucket() -> None:
    svg = str(
        histogram_chart([{"le_ms": 50, "count": 9}, {"le_ms": 100, "count": 3}, {"le_ms": None, "count": 1}])
    )
    assert {"≤50", "≤100", ">100"} <= set(texts(svg))
    assert svg.count("<rect") == 3


def test_empty_data_and_hostile_labels() -> None:
    assert "no per-second data" in str(throughput_chart([]))
    assert "no histogram" in str(histogram_chart([]))
    svg = str(histogram_chart([{"le_ms": 10, "count": 1}], of="<b>latency</b>"))
    assert "<b>" not in svg
    assert "Histogram of <b>latency</b> (ms)" in [
        el.text for el in ET.fromstring(svg).iter() if el.tag.endswith("title")
    ]
