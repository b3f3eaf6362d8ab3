"""Renders a sign-off report (the ``signoff.json`` dict) as Markdown and as a self-contained HTML page.

Both read only the report dict, so ``easymo-qa report`` can rebuild them from ``signoff.json`` alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

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


# --- Markdown ------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def _fence(text: str) -> list[str]:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return [ticks, text.rstrip(), ticks]


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


def render_markdown(report: dict[str, Any]) -> str:
    t = report["timing"]
    lines = [f"# QA sign-off: **{report['verdict']}**", ""]
    if applied := report["waivers"]["applied"]:
        lines += ["Waivers applied:", ""]
        lines += [
            f"- `{', '.join(w['applies_to'])}` by {w['owner']} until {w['expires']}: {w['reason']}"
            for w in applied
        ]
        lines += [""]
    if report["failed_gates"]:
        titles = {g["id"]: g["title"] for g in report["gates"]}
        failed = ", ".join(f"{titles.get(i, i)} (`{i}`)" for i in report["failed_gates"])
        lines += [f"Failed gates: {failed}", ""]
    lines += [f"> **{w}**" for w in report["warnings"]] + ([""] if report["warnings"] else [])
    lines += [
        f"Environment `{report['environment']}` · commit `{report['git_commit']}` · "
        f"{t['started_at']} → {t['finished_at']} ({t['duration_seconds']:.1f} s)",
        "",
        "## Gates",
        "",
    ]
    rows = []
    for g in report["gates"]:
        unit = gate_unit(g)
        rows.append(
            [
                g["title"] + (" (report only)" if g["report_only"] else ""),
                f"{g['op']} {fmt(g['threshold'], unit)}",
                fmt(g["measured"], unit),
                fmt(g["margin"], unit),
                g["samples"],
                g["source"],
                _result(g),
            ]
        )
    lines += _table(["gate", "threshold", "measured", "margin", "samples", "source", "result"], rows)
    lines += ["", "## Load", ""] + _markdown_load(report)
    lines += ["", "## Webhook reliability", ""] + _markdown_reliability(report)
    lines += ["", "## Message hygiene", ""] + _markdown_hygiene(report)
    counts = ", ".join(f"{n} {k}" for k, n in report["tests"].items() if n and k != "total") or "none"
    lines += ["", "## Suites", "", f"Tests: {counts}."]
    for suite in report["suites"]:
        c = suite["counts"]
        lines += [
            "",
            f"### {suite['title']}: {c['pass']} pass, {c['fail']} fail, {c['not_covered']} not covered",
        ]
        if suite["tests"]:
            lines += [""] + _table(
                ["test", "status", "seconds"],
                [[f"`{x['test']}`", x["status"], f"{x['duration_seconds']:.2f}"] for x in suite["tests"]],
            )
    lines += ["", "## Contract rules", "", *contract_matrix.markdown_section(report.get("contract"))]
    if report["failures"]:
        lines += ["", "## Failures"]
        for f in report["failures"]:
            stage = f.get("stage") or "tests"
            where = f"[{stage} stage] " if stage != "tests" else ""
            lines += ["", f"### {where}`{f['test']}`", "", *_fence(f["message"] or "(no message)")]
            if f["transcript"]:
                label = "Transcript or output tail:" if stage != "tests" else "Transcript:"
                lines += ["", label, "", *_fence(f["transcript"])]
            lines += ["", f"Re-run: `{f['rerun']}`"]
    if report["not_covered"]:
        lines += ["", "## Not covered", ""]
        for n in report["not_covered"]:
            waived = (
                f" — waived by {n['waiver']['owner']} until {n['waiver']['expires']}" if n["waived"] else ""
            )
            lines.append(f"- `{n['test']}`: {n['reason']}{waived}")
    lines += ["", "## Waivers", "", *_markdown_waivers(report["waivers"])]
    lines += ["", "## Run", ""] + _table(["", ""], _run_rows(report))
    return "\n".join(lines) + "\n"


def _result(gate: dict[str, Any]) -> str:
    if gate["status"] == "pass":
        return "pass"
    return f"{'FAIL' if gate['status'] == 'fail' else gate['status']}: {gate['reason']}"


def _markdown_load(report: dict[str, Any]) -> list[str]:
    load = report.get("load")
    if not load:
        return [f"**{report['warnings'][0]}**" if load_state(report) == "skipped" else NO_LOAD]
    lines = [_load_line(load), ""]
    rows = [
        [
            name,
            s["count"],
            s["failures"],
            fmt(s["p50_ms"]),
            fmt(s["p95_ms"]),
            fmt(s["p99_ms"]),
            fmt(s["max_ms"]),
        ]
        for name, s in load["requests"].items()
    ]
    lines += _table(["request", "count", "failures", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows)
    turns = load.get("failed_turns") or []
    if turns:
        lines += ["", f"### Failed turns (first {len(turns)})"]
    for turn in turns:
        lines += ["", f"#### [load stage] `{turn['turn']}`", "", *_fence(turn["error"])]
        if turn.get("detail"):
            lines += ["", "The failure and every actor's transcript:", "", *_fence(turn["detail"])]
    return lines


def reliability_rows(report: dict[str, Any]) -> list[tuple[str, Any]]:
    run = report.get("reliability") or {}
    return [(label, run[key]) for key, label in RELIABILITY_COUNTS if key in run]


def _markdown_reliability(report: dict[str, Any]) -> list[str]:
    run = report.get("reliability")
    if not run:
        skipped = "reliability" in report.get("skipped_stages", [])
        warning = next((w for w in report["warnings"] if w.startswith("Reliability")), "")
        return [f"**{warning}**" if skipped and warning else NO_RELIABILITY]
    rows = reliability_rows(report)
    lines = [
        f"{run['users']} users, {run['deliveries']} webhook deliveries ({run['batched']} messages in "
        f"batches, {run['out_of_order']} out of order) in {run['seconds']:.1f} s (source: `{run['source']}`)",
        "",
        *_table([label for label, _ in rows], [[value for _, value in rows]]),
    ]
    if run.get("reasons"):
        reasons = ", ".join(f"{name} × {n}" for name, n in run["reasons"].items())
        lines += ["", f"No reply, reason recorded: {reasons}"]
    if run.get("problems"):
        lines += ["", *(f"- {p}" for p in run["problems"])]
    return lines


def _markdown_hygiene(report: dict[str, Any]) -> list[str]:
    hygiene = report.get("hygiene")
    if not hygiene or not hygiene["checked"]:
        return ["No message was checked in this sign-off (`--hygiene=off`, or no test received a reply)."]
    total = hygiene.get("total_violations", len(hygiene["violations"]))
    known = hygiene.get("known", [])
    lines = [f"{hygiene['checked']} messages the bot sent were checked: {total} violations."]
    for title, found in (("", hygiene["violations"]), ("Known issues (warnings, not counted)", known)):
        if not found:
            continue
        rows = [[f"`{v['test']}`", v["rule"], v["detail"], v["where"], v["message"]] for v in found]
        lines += [
            "",
            *([f"{title}:", ""] if title else []),
            *_table(["test", "rule", "problem", "where", "message"], rows),
        ]
    if total > len(hygiene["violations"]):
        lines += ["", f"(the first {len(hygiene['violations'])} violations are listed)"]
    return lines


def load_facts(load: dict[str, Any]) -> list[tuple[str, str]]:
    """The load run's headline figures, as (label, value)."""
    facts = [
        ("profile", load.get("profile") or "—"),
        ("users", str(load["users"]) if load.get("users") else "—"),
        ("duration", fmt(load.get("duration_seconds"), " s")),
        ("requests", f"{load['samples']:,}"),
        ("error rate", fmt(load["error_rate_pct"], "%")),
        ("reply p95", fmt(load["reply_p95_ms"], " ms")),
        ("ACK p95", fmt(load["ack_p95_ms"], " ms")),
    ]
    return [(k, v) for k, v in facts if v != "—"]


def _load_line(load: dict[str, Any]) -> str:
    facts = " · ".join(f"{k} {v}" for k, v in load_facts(load))
    return f"{facts} (source: `{load['source']}`)"


def _markdown_waivers(waivers: dict[str, Any]) -> list[str]:
    entries = [(state, w) for state in ("applied", "expired", "unused") for w in waivers[state]]
    if not entries:
        return [f"None (file: `{waivers['file'] or 'none'}`)."]
    rows = [
        [
            state,
            w["target"],
            w["reason"],
            w["owner"],
            w["expires"],
            ", ".join(w["applies_to"]) or "—",
            w["where"],
        ]
        for state, w in entries
    ]
    return _table(["state", "waives", "reason", "owner", "expires", "applies to", "where"], rows)


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


# --- HTML ----------------------------------------------------------------------------------------------


def _jinja() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is HTML-escaped; only the chart SVG is pre-escaped Markup
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    env.globals.update(gate_unit=gate_unit)
    return env


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
    titles = {g["id"]: g["title"] for g in report["gates"]}
    return (
        _jinja()
        .get_template("signoff.html.j2")
        .render(
            r=report,
            failed=[(i, titles.get(i, i)) for i in report["failed_gates"]],
            load_state=load_state(report),
            load_facts=load_facts(load) if load else [],
            no_load=NO_LOAD,
            no_reliability=NO_RELIABILITY,
            reliability_rows=reliability_rows(report),
            hygiene={
                "checked": 0,
                "violations": [],
                "total_violations": 0,
                "known": [],
                **report.get("hygiene", {}),
            },
            charts=chart_svgs,
            run_rows=_run_rows(report),
        )
    )
