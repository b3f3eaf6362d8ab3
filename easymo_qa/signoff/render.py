"""Renders a sign-off report (the ``signoff.json`` dict) as Markdown and as a self-contained HTML page.

Both read only the report dict, so ``easymo-qa report`` can rebuild them from ``signoff.json`` alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from easymo_qa import contract_matrix
from easymo_qa.gates import spaced_unit
from easymo_qa.signoff import charts

TEMPLATES = Path(__file__).with_name("templates")
NO_LOAD = "No load run in this sign-off: the load gates have no samples."
NO_RELIABILITY = "No webhook reliability run in this sign-off: its gates have no samples."
# The reliability counts the report shows, in order: (field of reliability.json, label).
RELIABILITY_COUNTS = (
    ("sent", "sent"),
    ("accepted", "accepted (HTTP 200)"),
    ("replied", "replied"),
    ("no_reply_with_reason", "no reply, reason recorded"),
    ("failed_handling", "failed handling"),
    ("duplicates_sent", "duplicates sent"),
    ("duplicates_suppressed", "duplicates suppressed"),
    ("duplicate_replies", "duplicate replies"),
    ("duplicate_effects", "duplicate orders / charges"),
    ("lost", "lost"),
)


def fmt(value: float | None, unit: str = "") -> str:
    """A measured value for people: ``—`` when there is none, four significant digits otherwise."""
    return "—" if value is None else f"{value:.4g}{unit}"


def gate_unit(gate: dict[str, Any]) -> str:
    return spaced_unit(gate.get("unit") or "")


def load_state(report: dict[str, Any]) -> str:
    """``run`` (a summary is in the report), ``skipped`` (on purpose) or ``missing`` (no evidence)."""
    if report.get("load"):
        return "run"
    return "skipped" if "load" in report.get("skipped_stages", []) else "missing"


def gate_threshold(report: dict[str, Any], metric: str) -> float | None:
    return next((g["threshold"] for g in report["gates"] if g["metric"] == metric), None)


# --- Markdown (templates/signoff.md.j2) ---------------------------------------------------------------


def _cell(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def _fence(text: str) -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}\n{text.rstrip()}\n{ticks}"


def _gate_row(g: dict[str, Any]) -> list[Any]:
    unit = gate_unit(g)
    result = (
        "pass"
        if g["status"] == "pass"
        else f"{'FAIL' if g['status'] == 'fail' else g['status']}: {g['reason']}"
    )
    return [
        g["title"] + (" (report only)" if g["report_only"] else ""),
        f"{g['op']} {fmt(g['threshold'], unit)}",
        fmt(g["measured"], unit),
        fmt(g["margin"], unit),
        g["samples"],
        g["source"],
        result,
    ]


def _load_row(item: tuple[str, dict[str, Any]]) -> list[Any]:
    name, s = item
    return [name, s["count"], s["failures"], *(fmt(s[k]) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))]


def _waiver_rows(waivers: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            state,
            w["target"],
            w["reason"],
            w["owner"],
            w["expires"],
            ", ".join(w["applies_to"]) or "—",
            w["where"],
        ]
        for state in ("applied", "expired", "unused")
        for w in waivers[state]
    ]


def render_markdown(report: dict[str, Any]) -> str:
    skipped = "reliability" in report.get("skipped_stages", [])
    warning = next((w for w in report["warnings"] if w.startswith("Reliability")), "")
    load = report.get("load")
    return _template("signoff.md.j2").render(
        **_common(report),
        load_line=_load_line(load) if load else "",
        reliability_warning=warning if skipped else "",
        contract=contract_matrix.markdown_section(report.get("contract")),
        waiver_rows=_waiver_rows(report["waivers"]),
    )


def reliability_rows(report: dict[str, Any]) -> list[tuple[str, Any]]:
    run = report.get("reliability") or {}
    return [(label, run[key]) for key, label in RELIABILITY_COUNTS if key in run]


def load_facts(load: dict[str, Any]) -> list[tuple[str, str]]:
    """The load run's headline figures, as (label, value)."""
    facts = [
        ("profile", load.get("profile") or "—"),
        ("users", str(load["users"]) if load.get("users") else "—"),
        ("duration", fmt(load.get("duration_seconds"), " s")),
        ("requests", f"{load['samples']:,}"),
        ("error rate", fmt(load["error_rate_pct"], "%")),
        ("reply p95", fmt(load["reply_p95_ms"], " ms") + clock_bound(load)),
        ("ACK p95", fmt(load["ack_p95_ms"], " ms")),
    ]
    return [(k, v) for k, v in facts if v != "—"]


def clock_bound(load: dict[str, Any]) -> str:
    """`` ± X ms (clock offset to the simulators)`` after the reply p95: how exact it is across machines
    (empty when the offset was not measured, or when there is no p95)."""
    clock = load.get("clock") or {}
    if not clock.get("samples") or load.get("reply_p95_ms") is None:
        return ""
    return f" ± {fmt(clock['uncertainty_ms'], ' ms')} (clock offset to the simulators)"


def _load_line(load: dict[str, Any]) -> str:
    facts = " · ".join(f"{k} {v}" for k, v in load_facts(load))
    return f"{facts} (source: `{load['source']}`)"


def _run_rows(report: dict[str, Any]) -> list[list[Any]]:
    t, v = report["timing"], report["versions"]
    commit = report["git_commit"] + (" (uncommitted changes)" if report.get("git_dirty") else "")
    return [
        ["environment", report["environment"]],
        ["reference defects", ", ".join(report["reference_defects"]) or "none"],
        ["command", report["command"] or "—"],
        ["started", t["started_at"]],
        ["finished", t["finished_at"]],
        ["duration", f"{t['duration_seconds']:.1f} s"],
        ["git commit", commit],
        *[[name, version or "not installed"] for name, version in v.items()],
    ]


# --- both ---------------------------------------------------------------------------------------------


def _template(name: str) -> Template:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # HTML: every value is escaped; only the chart SVG is pre-escaped Markup. Markdown: `cell`, `fence`.
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(fmt=fmt, cell=_cell, fence=_fence, gate_row=_gate_row, load_row=_load_row)
    env.filters["join_failed"] = lambda f: f"{f[1]} (`{f[0]}`)"
    env.filters["test_row"] = lambda x: [f"`{x['test']}`", x["status"], f"{x['duration_seconds']:.2f}"]
    env.filters["violation_row"] = lambda v: [
        f"`{v['test']}`",
        v["rule"],
        v["detail"],
        v["where"],
        v["message"],
    ]
    env.globals.update(gate_unit=gate_unit)
    return env.get_template(name)


def _common(report: dict[str, Any]) -> dict[str, Any]:
    """What both templates are given beside the report itself (``r``)."""
    titles = {g["id"]: g["title"] for g in report["gates"]}
    return {
        "r": report,
        # What was signed off (reports written before it was recorded: the environment's name).
        "target": report.get("target") or report["environment"],
        "failed": [(i, titles.get(i, i)) for i in report["failed_gates"]],
        "load_state": load_state(report),
        "no_load": NO_LOAD,
        "no_reliability": NO_RELIABILITY,
        "reliability_rows": reliability_rows(report),
        "run_rows": _run_rows(report),
    }


# --- HTML (templates/signoff.html.j2) ------------------------------------------------------------------


def render_html(report: dict[str, Any]) -> str:
    load = report.get("load")
    chart_svgs = []
    if load:
        of = load.get("histogram_of") or "reply latency"
        chart_svgs = [
            (charts.THROUGHPUT_TITLE, charts.throughput_chart(load["timeseries"])),
            (
                charts.P95_TITLE,
                charts.p95_chart(load["timeseries"], gate_threshold(report, "load.reply_p95_ms")),
            ),
            (f"Histogram of {of} (ms)", charts.histogram_chart(load["histogram"], of)),
        ]
    hygiene = {
        "checked": 0,
        "violations": [],
        "total_violations": 0,
        "known": [],
        **report.get("hygiene", {}),
    }
    return _template("signoff.html.j2").render(
        **_common(report),
        load_facts=load_facts(load) if load else [],
        hygiene=hygiene,
        charts=chart_svgs,
    )
