"""Writes the sign-off report: ``signoff.json`` for machines and ``signoff.md`` for people."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from easymo_qa import __version__
from easymo_qa.signoff.gates import GateResult
from easymo_qa.signoff.results import RunResults
from easymo_qa.signoff.verdict import Verdict

SCHEMA = "easymo-qa/signoff/v1"


@dataclass
class RunInfo:
    environment: str
    started_at: datetime
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    command: str = ""
    defects: tuple[str, ...] = ()


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def build_report(
    verdict: Verdict, gates: list[GateResult], results: RunResults, info: RunInfo
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "verdict": verdict.decision,
        "failed_gates": list(verdict.failed_gates),
        "environment": info.environment,
        "reference_defects": list(info.defects),
        "started_at": info.started_at.isoformat(timespec="seconds"),
        "finished_at": info.finished_at.isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "harness_version": __version__,
        "command": info.command,
        "gates": [
            {
                "id": r.gate.id,
                "title": r.gate.title,
                "metric": r.gate.metric,
                "op": r.gate.op,
                "threshold": r.gate.threshold,
                "unit": r.gate.unit,
                "measured": r.measurement.value,
                "samples": r.measurement.samples,
                "source": r.measurement.source,
                "margin": r.margin,
                "passed": r.passed,
                "reason": r.reason,
            }
            for r in gates
        ],
        "tests": dict(results.counts()),
        "failures": [
            {"test": o.nodeid, "message": o.message, "transcript": o.transcript} for o in results.failures()
        ],
        "not_covered": [{"test": o.nodeid, "reason": o.message} for o in results.not_covered()],
    }


def _fmt(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.4g}{unit}"


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# QA sign-off: **{report['verdict']}**",
        "",
        f"Environment `{report['environment']}` · commit `{report['git_commit']}` · "
        f"{report['started_at']} → {report['finished_at']}",
        "",
        "| gate | threshold | measured | margin | samples | source | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in report["gates"]:
        lines.append(
            f"| {g['title']} | {g['op']} {_fmt(g['threshold'], g['unit'])} | "
            f"{_fmt(g['measured'], g['unit'])} | {_fmt(g['margin'], g['unit'])} | "
            f"{g['samples']} | {g['source']} | "
            f"{'pass' if g['passed'] else 'FAIL: ' + g['reason']} |"
        )
    counts = ", ".join(f"{n} {k}" for k, n in sorted(report["tests"].items())) or "none"
    lines += ["", f"Tests: {counts}."]
    if report["failures"]:
        lines += ["", "## Failures"]
        for f in report["failures"]:
            lines += ["", f"### `{f['test']}`", "", "```", f["message"].rstrip(), "```"]
            if f["transcript"]:
                lines += ["", "Transcript:", "", "```", f["transcript"].rstrip(), "```"]
    if report["not_covered"]:
        lines += ["", "## Not covered", ""]
        lines += [f"- `{n['test']}`: {n['reason']}" for n in report["not_covered"]]
    return "\n".join(lines) + "\n"


def write_reports(report: dict[str, Any], directory: Path, redact: Callable[[str], str]) -> list[Path]:
    """Write JSON and Markdown, with every known secret masked."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / "signoff.json", directory / "signoff.md"
    json_path.write_text(redact(json.dumps(report, indent=2, ensure_ascii=False)) + "\n", encoding="utf-8")
    md_path.write_text(redact(render_markdown(report)), encoding="utf-8")
    return [json_path, md_path]
