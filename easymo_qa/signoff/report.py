"""The sign-off report's data: the ``signoff.json`` dict built from an Assessment; ``signoff.md`` and
``signoff.html`` are rendered from it alone (``render.py``), and ``files.py`` writes all three. The fields
are documented in ``docs/signoff-schema.md``.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from easymo_qa import __version__, contract_matrix
from easymo_qa.envs import EnvironmentError_, load_environment, resolve_environment_path
from easymo_qa.gates import STAGES, GateResult, Waiver
from easymo_qa.layout import read_layout
from easymo_qa.rerun import with_defects
from easymo_qa.signoff.model import Assessment, RunInfo
from easymo_qa.signoff.results import OTHER_SUITE, OUTCOMES, SUITES, RunResults, TestOutcome
from easymo_qa.signoff.waivers import WaiverUse

SCHEMA = "easymo-qa/signoff/v2"
MAX_HYGIENE_LISTED = 500  # message hygiene violations listed in the report (all are counted)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_commit() -> str:
    return (_git("rev-parse", "--short", "HEAD") or "").strip() or "unknown"


def git_dirty() -> bool | None:
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status.strip())


def versions() -> dict[str, str | None]:
    """Without importing locust: importing it monkey-patches the process with gevent."""

    def dist(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "harness": __version__,
        "pytest": dist("pytest"),
        "locust": dist("locust"),
        "platform": platform.platform(terse=True),
    }


def _waiver(w: Waiver) -> dict[str, Any]:
    return {
        "target": w.target,
        "gate": w.gate,
        "test": w.test,
        "reason": w.reason,
        "owner": w.owner,
        "expires": w.expires.isoformat(),
        "where": w.where,
    }


def _gate(r: GateResult) -> dict[str, Any]:
    return {
        "id": r.gate.id,
        "title": r.gate.title,
        "metric": r.gate.metric,
        "stage": r.gate.stage,
        "op": r.gate.op,
        "threshold": r.gate.threshold,
        "unit": r.gate.unit,
        "critical": r.gate.critical,
        "report_only": r.gate.report_only,
        "measured": r.measurement.value,
        "samples": r.measurement.samples,
        "source": r.measurement.source,
        "margin": r.margin,
        "passed": r.passed,
        "waived": r.waived,
        "not_run": r.not_run,
        "blocking": r.blocking,
        "status": r.status,
        "reason": r.reason,
        "waiver": _waiver(r.waiver) if r.waiver else None,
    }


def _test(o: TestOutcome, waived: dict[str, Waiver]) -> dict[str, Any]:
    return {
        "test": o.nodeid,
        "name": o.nodeid.rsplit("::", 1)[-1],
        "status": o.status,
        "duration_seconds": round(o.duration, 3),
        "waived": o.nodeid in waived,
    }


def _suites(results: RunResults, waived: dict[str, Waiver]) -> list[dict[str, Any]]:
    out = []
    titles = {name: title for name, _, title in (*SUITES, OTHER_SUITE)}
    for name, tests in results.by_suite().items():
        title = titles[name]
        if name == OTHER_SUITE[0] and not tests:
            continue
        statuses = [o.status for o in tests]
        counts = {
            k: statuses.count(s)
            for k, s in (("pass", "pass"), ("fail", "fail"), ("not_covered", "not covered"))
        }
        out.append({"id": name, "title": title, "counts": counts, "tests": [_test(o, waived) for o in tests]})
    return out


def _stages(a: Assessment) -> dict[str, dict[str, Any]]:
    stages: dict[str, dict[str, Any]] = {}
    runs = {r.stage: r for r in a.stage_runs.stages} if a.stage_runs is not None else {}
    for stage in STAGES:
        gates = [r for r in a.gates if r.gate.stage == stage]
        run = runs.get(stage)
        if stage in a.skipped_stages:
            stages[stage] = {"status": "skipped", "reason": a.skipped_stages[stage]}
        elif run is not None and run.status == "ran":
            problems = len(run.problems())
            stages[stage] = {
                "status": "failed" if problems else "run",
                "reason": f"{problems} problem(s), listed under failures" if problems else "passed",
                "command": run.command,
                "exit_code": run.exit_code,
                "seconds": run.seconds,
            }
        elif run is not None and run.status == "given":
            stages[stage] = {"status": "given", "reason": run.reason}
        elif stage == "load" and a.load is not None:
            stages[stage] = {"status": "run", "reason": f"load summary {a.load.source}"}
        elif stage == "reliability" and a.reliability is not None:
            stages[stage] = {"status": "run", "reason": f"reliability result {a.reliability.source}"}
        elif stage == "tests":
            stages[stage] = {"status": "run", "reason": "pytest"}
        elif gates and all(r.measurement.samples for r in gates):
            stages[stage] = {"status": "run", "reason": "measured"}
        else:
            stages[stage] = {"status": "missing", "reason": "no evidence given to this sign-off"}
    return stages


def _stage_failures(a: Assessment, info: RunInfo) -> list[dict[str, Any]]:
    """Stages that failed their own assertions, exited non-zero or wrote no result, with the output tail.

    The re-run is the stage's own command (this venv's python), under the defect switches in force."""
    return [
        {
            "test": p.test,
            "suite": p.stage,
            "stage": p.stage,
            "message": p.message,
            "transcript": p.transcript,
            "rerun": with_defects(p.rerun, info.defects_in_force()),
        }
        for p in a.stage_problems
    ]


def _uses(uses: list[WaiverUse], state: str) -> list[dict[str, Any]]:
    return [{**_waiver(u.waiver), "applies_to": list(u.applies_to)} for u in uses if u.state == state]


def _rule_outcomes(a: Assessment, results: RunResults) -> dict[str, str]:
    """Test id → pass / fail / not covered over this session and every stage's own session (a fail wins),
    so the contract matrix also sees the storm, the drill and the cutover suite."""
    runs = [results, *(r.results() for r in a.stage_runs.stages)] if a.stage_runs is not None else [results]
    out: dict[str, str] = {}
    for run in runs:
        for o in run.outcomes.values():
            if out.get(o.nodeid) != "fail":
                out[o.nodeid] = o.status
    return out


LOCAL_LABEL = "reference stack (local)"


def target_label(info: RunInfo) -> str:
    """What was signed off, for the banner: the embedded reference (``stack: local``) or the deployed bot,
    ``<environment> (<webhook host>)``; the environment's name alone when its file cannot be read."""
    inv = info.invocation
    root = inv.rootdir if inv is not None else Path.cwd()
    try:
        if inv is not None and inv.env_file is not None:
            path = inv.env_file
        else:
            path = resolve_environment_path(info.environment, [root / read_layout(root).environments])
        env = load_environment(path)
    except EnvironmentError_:
        return info.environment
    if env.stack == "local":
        return LOCAL_LABEL
    host = urlsplit(env.webhook.url or "").hostname
    return f"{env.name} ({host})" if host else env.name


def build_report(a: Assessment, results: RunResults, info: RunInfo) -> dict[str, Any]:
    counts = results.counts()
    return {
        "schema": SCHEMA,
        "verdict": a.verdict.decision,
        "failed_gates": list(a.verdict.failed_gates),
        "skipped_stages": list(a.skipped_stages),
        "warnings": a.warnings,
        "environment": info.environment,
        "target": target_label(info),
        "reference_defects": list(info.defects),
        "command": info.command,
        "timing": {
            "started_at": info.started_at.isoformat(timespec="seconds"),
            "finished_at": info.finished_at.isoformat(timespec="seconds"),
            "duration_seconds": round((info.finished_at - info.started_at).total_seconds(), 3),
        },
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "versions": versions(),
        "stages": _stages(a),
        "gates": [_gate(r) for r in a.gates],
        "tests": {**{k: counts[k] for k in OUTCOMES}, "total": sum(counts.values())},
        "suites": _suites(results, a.waived_tests),
        "failures": [
            *_stage_failures(a, info),
            *(
                {
                    "test": o.nodeid,
                    "suite": o.suite,
                    "stage": "tests",
                    "message": o.message,
                    "transcript": o.transcript,
                    "rerun": info.rerun(o.nodeid),
                }
                for o in results.failures()
            ),
        ],
        "not_covered": [
            {
                "test": o.nodeid,
                "suite": o.suite,
                "reason": o.message,
                "waived": o.nodeid in a.waived_tests,
                "waiver": _waiver(a.waived_tests[o.nodeid]) if o.nodeid in a.waived_tests else None,
            }
            for o in results.not_covered()
        ],
        "waivers": {
            "file": a.waivers_source,
            "today": a.today.isoformat(),
            "applied": _uses(a.waivers, "applied"),
            "expired": _uses(a.waivers, "expired"),
            "unused": _uses(a.waivers, "unused"),
        },
        "load": a.load.to_dict() if a.load is not None else None,
        "reliability": a.reliability.to_dict() if a.reliability is not None else None,
        "hygiene": {
            "checked": results.hygiene_checked,
            "violations": results.hygiene_violations[:MAX_HYGIENE_LISTED],
            "total_violations": len(results.hygiene_violations),
            "known": results.hygiene_known[:MAX_HYGIENE_LISTED],
        },
        "contract": contract_matrix.report_section(_rule_outcomes(a, results)),
        # every distinct message the bot sent, and which of them are not approved (easymo_qa/messages)
        "messages": results.extra_reports.get("messages"),
    }
