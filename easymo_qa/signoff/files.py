"""The sign-off's file side: read and cross-check its inputs (gates, waivers, each stage's result file),
assess them, and write ``signoff.{json,md,html}`` (or re-render the pages from a ``signoff.json``).

The pytest plugin calls :func:`sign_off` at the end of a ``--signoff`` session; `easymo-qa signoff` calls
:func:`check_inputs` before any stage runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import UndefinedError

from easymo_qa import contract_matrix
from easymo_qa.gates import Gate, GatesFileError, load_gates
from easymo_qa.rollback import RollbackResult, RollbackResultError
from easymo_qa.signoff.assess import assess
from easymo_qa.signoff.load import LoadSummary, LoadSummaryError
from easymo_qa.signoff.model import Assessment, RunInfo
from easymo_qa.signoff.reliability import ReliabilityResult, ReliabilityResultError
from easymo_qa.signoff.render import render_html, render_markdown
from easymo_qa.signoff.report import SCHEMA, build_report
from easymo_qa.signoff.results import RunResults
from easymo_qa.signoff.stage_runs import StageRuns, StageRunsError
from easymo_qa.signoff.waivers import Waivers, WaiversFileError, load_waivers

REPORT_FILES = ("signoff.json", "signoff.md", "signoff.html")
SKIPPED_BY_FLAG = {"load": "skipped by --skip-load", "reliability": "skipped by --skip-reliability"}
# Errors in the sign-off's inputs; each message names the file (and line, where there is one).
SignoffInputError = (
    GatesFileError,
    WaiversFileError,
    LoadSummaryError,
    RollbackResultError,
    ReliabilityResultError,
    StageRunsError,
)


class ReportError(ValueError):
    """A ``signoff.json`` that cannot be re-rendered."""


def check_inputs(gates_path: Path, waivers_path: Path) -> tuple[list[Gate], Waivers]:
    """Read and cross-check ``signoff.yaml`` and ``waivers.yaml``; `easymo-qa signoff` calls it before any
    stage runs. Errors (``SignoffInputError``) name the file and line."""
    gates = load_gates(gates_path)
    waivers = load_waivers(waivers_path)
    waivers.check_gate_ids(g.id for g in gates)
    return gates, waivers


def sign_off(
    results: RunResults,
    *,
    gates_path: Path,
    waivers_path: Path,
    reports_dir: Path,
    redact: Callable[[str], str],
    info: RunInfo,
    load_results: Path | None = None,
    skip_load: bool = False,
    rollback_results: Path | None = None,
    reliability_results: Path | None = None,
    skip_reliability: bool = False,
    skip_reason: str | None = None,
    today: date | None = None,
    stage_runs: Path | None = None,
) -> tuple[Assessment, list[Path]]:
    """Read the inputs, decide, write ``signoff.{json,md,html}``; input errors raise ``SignoffInputError``."""
    if load_results is not None and skip_load:
        raise LoadSummaryError("--load-results and --skip-load contradict each other: give one")
    gates, waivers = check_inputs(gates_path, waivers_path)
    load = LoadSummary.from_json(load_results) if load_results is not None else None
    if reliability_results is not None and skip_reliability:
        raise ReliabilityResultError(
            "--reliability-results and --skip-reliability contradict each other: give one"
        )
    rollback = RollbackResult.from_json(rollback_results) if rollback_results is not None else None
    reliability = (
        ReliabilityResult.from_json(reliability_results) if reliability_results is not None else None
    )
    runs = StageRuns.from_json(stage_runs) if stage_runs is not None else None
    skipped = {"load": skip_reason or SKIPPED_BY_FLAG["load"]} if skip_load else {}
    if skip_reliability:
        skipped["reliability"] = skip_reason or SKIPPED_BY_FLAG["reliability"]
    assessment = assess(
        results,
        gates,
        waivers=waivers,
        load=load,
        rollback=rollback,
        reliability=reliability,
        skipped_stages=skipped,
        today=today,
        stage_runs=runs,
    )
    report = build_report(assessment, results, info)
    return assessment, write_reports(report, reports_dir, redact)


def redact_tree(value: Any, redact: Callable[[str], str]) -> Any:
    """Mask secrets in every string of a JSON-like value (keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_tree(k, redact): redact_tree(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v, redact) for v in value]
    return value


def _write(
    report: dict[str, Any], directory: Path, redact: Callable[[str], str], with_json: bool
) -> list[Path]:
    # Redact the data first (a secret is then masked even where JSON or HTML would escape it), and the
    # rendered text again, in case a renderer ever joins pieces into a secret.
    report = redact_tree(report, redact)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path, html_path = (directory / name for name in REPORT_FILES)
    # Everything is rendered before anything is replaced, and each file is replaced whole (a rename): a
    # crash or an interruption never leaves a half-written report or a verdict without its pages.
    texts = {
        md_path: redact(render_markdown(report)),
        html_path: redact(render_html(report)),
    }
    if with_json:
        texts[json_path] = redact(json.dumps(report, indent=2, ensure_ascii=False)) + "\n"  # verdict last
        if (report.get("contract") or {}).get("rules"):  # beside the report, not among its files
            contract_matrix.write_matrix(report["contract"], directory)
    for path, text in texts.items():
        _replace(path, text)
    return sorted(texts, key=lambda p: REPORT_FILES.index(p.name))


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write_reports(report: dict[str, Any], directory: Path, redact: Callable[[str], str]) -> list[Path]:
    """Write ``signoff.json``, ``signoff.md`` and ``signoff.html``, with every known secret masked."""
    return _write(report, directory, redact, with_json=True)


def load_report(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"{path}: cannot read the sign-off report: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    schema = report.get("schema") if isinstance(report, dict) else None
    if schema != SCHEMA:
        raise ReportError(
            f"{path}: schema is {schema!r}; only {SCHEMA!r} can be re-rendered (run the sign-off again)"
        )
    return report


def rerender(
    source: Path, reports_dir: Path | None = None, redact: Callable[[str], str] = lambda s: s
) -> list[Path]:
    """Rebuild ``signoff.md`` and ``signoff.html`` from a ``signoff.json`` without re-running anything."""
    report = load_report(source)
    try:
        return _write(report, reports_dir or source.parent, redact, with_json=False)
    except (KeyError, TypeError, ValueError, UndefinedError) as exc:
        raise ReportError(f"{source}: incomplete {SCHEMA} report ({type(exc).__name__}: {exc})") from None
