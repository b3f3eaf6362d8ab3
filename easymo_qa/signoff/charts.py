"""Hand-built inline SVG charts for the HTML report: no JavaScript, no external assets.

Each function takes plain report data (the ``load`` section of ``signoff.json``) and returns escaped SVG
markup. Text goes through :func:`markupsafe.escape`; numbers are formatted here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 30, 46
BLUE, RED, GREY, INK = "#2563eb", "#dc2626", "#94a3b8", "#1f2937"
THROUGHPUT_TITLE = "Throughput and errors per second"
P95_TITLE = "Reply latency p95 over time (ms)"


def nice_ticks(top: float, count: int = 5, steps: tuple[float, ...] = (1, 2, 2.5, 5, 10)) -> list[float]:
    """0 .. a round number ≥ ``top``, in ``steps`` × 10^n increments."""
    top = top if top > 0 and math.isfinite(top) else 1.0
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in steps if raw <= m * magnitude * (1 + 1e-9))
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def fmt(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


class _Frame:
    """The plot area and its scales: x from ``x0``..``x1``, y from 0..``y_top``."""

    def __init__(self, x0: float, x1: float, y_top: float) -> None:
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1
        self.y_top = y_top if y_top > 0 else 1
        self.w, self.h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(self, value: float) -> float:
        return LEFT + (value - self.x0) / (self.x1 - self.x0) * self.w

    def y(self, value: float) -> float:
        return TOP + self.h - min(value, self.y_top) / self.y_top * self.h


def _svg(title: str, body: Iterable[str]) -> Markup:
    head = (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="12">'
        f"<title>{escape(title)}</title>"
    )
    # Every piece of text in ``body`` went through escape(); the rest is numbers and fixed markup.
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704


def _text(x: float, y: float, text: str, anchor: str = "middle", **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{INK}"{extra}>{escape(text)}</text>'


def _y_axis(frame: _Frame, ticks: Sequence[float], label: str) -> list[str]:
    out = []
    for v in ticks:
        y = frame.y(v)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        out.append(_text(LEFT - 6, y + 4, fmt(v), "end"))
    mid = TOP + frame.h / 2
    out.append(_text(14, mid, label, "middle", transform=f"rotate(-90 14 {mid:.1f})"))
    return out


def _x_axis(frame: _Frame, ticks: Sequence[float], label: str) -> list[str]:
    base = TOP + frame.h
    out = [f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" stroke="{INK}"/>']
    for v in ticks:
        x = frame.x(v)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" stroke="{INK}"/>')
        out.append(_text(x, base + 17, fmt(v)))
    out.append(_text(LEFT + frame.w / 2, HEIGHT - 6, label))
    return out


def _legend(items: Sequence[tuple[str, str, bool]]) -> list[str]:
    """(label, colour, dashed) swatches along the top right."""
    out, x = [], WIDTH - RIGHT
    for label, colour, dashed in reversed(items):
        x -= 7 * len(label) + 34
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        swatch = f'x1="{x:.1f}" x2="{x + 20:.1f}" y1="12" y2="12"'
        out.append(f'<line {swatch} stroke="{colour}" stroke-width="2.5"{dash}/>')
        out.append(_text(x + 25, 16, label, "start"))
    return out


def _x_ticks(x0: float, x1: float) -> list[float]:
    span = x1 - x0 if x1 > x0 else 1.0
    steps = (1, 2, 5, 10) if span >= 5 else (1, 2, 2.5, 5, 10)  # whole seconds once there are enough
    return [x0 + t for t in nice_ticks(span, 6, steps) if t <= span + 1e-9]


def _polyline(points: Sequence[tuple[float, float]], colour: str, width: float = 2) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return (
        f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="{width}" '
        'stroke-linejoin="round" stroke-linecap="round"/>'
    )


def _empty(title: str, why: str) -> Markup:
    return _svg(title, [_text(WIDTH / 2, HEIGHT / 2, why, fill=GREY)])


def throughput_chart(timeseries: Sequence[dict[str, Any]]) -> Markup:
    """Requests and failures per second over the run."""
    title = THROUGHPUT_TITLE
    if not timeseries:
        return _empty(title, "no per-second data in the load summary")
    ts = [float(p["t"]) for p in timeseries]
    top = max(max(int(p["requests"]) for p in timeseries), 1)
    frame = _Frame(min(ts), max(ts), nice_ticks(top)[-1])
    reqs = [(frame.x(float(p["t"])), frame.y(int(p["requests"]))) for p in timeseries]
    # Failures are usually a handful against hundreds of requests: a dot per failing second stays visible.
    fails = [(frame.x(float(p["t"])), frame.y(int(p["failures"]))) for p in timeseries if int(p["failures"])]
    base = TOP + frame.h
    area = (
        f"{reqs[0][0]:.1f},{base} "
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in reqs)
        + f" {reqs[-1][0]:.1f},{base}"
    )
    body = [
        *_y_axis(frame, nice_ticks(top), "per second"),
        f'<polygon points="{area}" fill="{BLUE}" fill-opacity="0.12"/>',
        _polyline(reqs, BLUE),
        *(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{RED}"/>' for x, y in fails),
        *_x_axis(frame, _x_ticks(frame.x0, frame.x1), "seconds since the load started"),
        *_legend(
            [
                ("requests / s", BLUE, False),
                (f"failures / s ({sum(int(p['failures']) for p in timeseries)} in all)", RED, False),
            ]
        ),
    ]
    return _svg(title, body)


def p95_chart(timeseries: Sequence[dict[str, Any]], threshold_ms: float | None = None) -> Markup:
    """Reply p95 per second, with the gate's threshold as a dashed line."""
    title = P95_TITLE
    points = [(float(p["t"]), float(p["p95_ms"])) for p in timeseries if p.get("p95_ms") is not None]
    if not points:
        return _empty(title, "no per-second p95 in the load summary")
    ts = [float(p["t"]) for p in timeseries]
    highest = max(v for _, v in points)
    # The gate's line is drawn when it is within reach; far above the data it would flatten the curve.
    show_gate = threshold_ms is not None and threshold_ms <= max(highest, 1) * 3
    ticks = nice_ticks(max(highest, threshold_ms or 0) * 1.05 if show_gate else highest * 1.1)
    frame = _Frame(min(ts), max(ts), ticks[-1])
    segments: list[list[tuple[float, float]]] = [[]]
    for p in timeseries:  # a second without a p95 breaks the line rather than bridging it
        if p.get("p95_ms") is None:
            segments.append([])
        else:
            segments[-1].append((frame.x(float(p["t"])), frame.y(float(p["p95_ms"]))))
    body = [*_y_axis(frame, ticks, "p95 (ms)")]
    for seg in segments:
        if len(seg) == 1:
            body.append(f'<circle cx="{seg[0][0]:.1f}" cy="{seg[0][1]:.1f}" r="2" fill="{BLUE}"/>')
        elif seg:
            body.append(_polyline(seg, BLUE))
    legend = [("p95 per second", BLUE, False)]
    if threshold_ms is not None and not show_gate:
        legend.append((f"gate {fmt(threshold_ms)} ms: far above this chart", RED, True))
    elif threshold_ms is not None:
        y = frame.y(threshold_ms)
        body.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{RED}" '
            'stroke-width="1.5" stroke-dasharray="6 4"/>'
        )
        legend.append((f"gate {fmt(threshold_ms)} ms", RED, True))
    body += [
        *_x_axis(frame, _x_ticks(frame.x0, frame.x1), "seconds since the load started"),
        *_legend(legend),
    ]
    return _svg(title, body)


def histogram_chart(histogram: Sequence[dict[str, Any]], of: str = "reply latency") -> Markup:
    """Samples per latency bucket; bars are equal width, labelled with their upper bound."""
    title = f"Histogram of {of} (ms)"
    if not histogram:
        return _empty(title, "no histogram in the load summary")
    counts = [int(b["count"]) for b in histogram]
    ticks = nice_ticks(max(max(counts), 1))
    frame = _Frame(0, len(histogram), ticks[-1])
    slot = frame.w / len(histogram)
    bar = min(slot * 0.8, 70.0)
    every = max(1, math.ceil(len(histogram) / 12))  # at most ~12 labels
    body = [*_y_axis(frame, ticks, "samples")]
    base = TOP + frame.h
    previous = None
    for i, bucket in enumerate(histogram):
        x, y = frame.x(i) + (slot - bar) / 2, frame.y(counts[i])
        le = bucket.get("le_ms")
        label = (
            f"≤{fmt(float(le))}" if le is not None else f">{fmt(previous)}" if previous is not None else "all"
        )
        tip = f"{label} ms: {counts[i]} samples"
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{base - y:.1f}" fill="{BLUE}">'
            f"<title>{escape(tip)}</title></rect>"
        )
        if i % every == 0 or i == len(histogram) - 1:
            body.append(_text(frame.x(i) + slot / 2, base + 17, label))
        previous = float(le) if le is not None else previous
    body += [
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" stroke="{INK}"/>',
        _text(LEFT + frame.w / 2, HEIGHT - 6, "latency bucket (ms, upper bound)"),
    ]
    return _svg(title, body)
