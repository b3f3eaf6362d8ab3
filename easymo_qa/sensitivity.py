"""Harness sensitivity: prove that tests can fail, by switching on each defect of the reference service.

Probes come from ``fixtures/sensitivity/*.yaml`` (the layout's ``sensitivity-probes``: defect → suite →
tests that must fail) and from every journey's and scenario's ``defects:`` list. A probe is judged on
evidence, never on "something failed":

1. one healthy run of every probed test (no defect; on 3 xdist workers, the tests that need the stack to
   themselves in a session of their own): each probed test must pass there;
2. one run per defect switch (its probes' tests together, one stack boot) with ``REFERENCE_DEFECTS``;
3. each probe is **caught** when every named test failed a check during the test itself (an assertion,
   a journey step, ``pytest.fail``, a check in teardown such as "no reply left unclaimed") at the named
   step / matching text when the probe names them;
   **missed** when a named test passed; **inconclusive** when it could not be judged: the test failed
   on the healthy stack, errored (boot failure, setup timeout, an exception that is not a failed
   check), was skipped or not run, or the run timed out.

Outcomes come from :mod:`easymo_qa.sensitivity_outcomes` (a pytest plugin writing one JSON line per
test), not from terminal text. ``reports/sensitivity.json`` keeps each probe's evidence: the failing
test, step, location and assertion text.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from easymo_qa.conversation.loader import find_journeys, load_journey
from easymo_qa.layout import Layout, layout
from easymo_qa.sensitivity_outcomes import read_outcomes
from easymo_qa.yaml_source import YamlSourceError, load_yaml_file

Status = Literal["caught", "missed", "inconclusive"]
RUN_TIMEOUT_S = 420.0  # one pytest run (the healthy run holds the reliability storm); beyond it: inconclusive
HEALTHY_WORKERS = 3
EXIT_MISSED, EXIT_INCONCLUSIVE = 1, 3


class Probe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defect: str
    suite: str
    must_fail: list[str]
    select: bool = True  # run only must_fail of the suite (a journey file is one test already)
    step: int | None = None  # a journey probe: the step number (1-based) that must fail
    match: str | None = None  # a regex the failure's assertion text must contain

    def node_ids(self) -> list[str]:
        """What pytest runs for this probe: the named tests of the suite, or the journey file."""
        return [f"{self.suite}::{name}" for name in self.must_fail] if self.select else [self.suite]

    def label(self) -> str:
        return ", ".join(self.must_fail) if self.select else Path(self.suite).name


def load_probes(directory: Path) -> list[Probe]:
    probes: list[Probe] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            data, lines = load_yaml_file(path)
            if not isinstance(data, list):
                raise YamlSourceError(str(path), 1, "expected a list of {defect, suite, must_fail} entries")
            for i, item in enumerate(data):
                try:
                    probes.append(Probe.model_validate(item))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    raise YamlSourceError(
                        str(path), lines.line_of((i, *first["loc"])), first["msg"]
                    ) from None
        except YamlSourceError as exc:
            raise SystemExit(f"easymo-qa sensitivity: {exc}") from None
    return probes


def journey_probes(directory: Path) -> list[Probe]:
    probes = []
    for path in find_journeys(directory):
        journey = load_journey(path)
        probes += [
            Probe(defect=d, suite=str(path), must_fail=[journey.journey], select=False)
            for d in journey.defects
        ]
    return probes


# --- judging (pure) -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamedOutcome:
    """One named test in one run: passed / failed (a check failed during the test) / error / skipped /
    not run, with the record that decided it."""

    name: str
    state: Literal["passed", "failed", "error", "skipped", "not run"]
    evidence: dict[str, Any] = field(default_factory=dict)


def _belongs(record: dict[str, Any], suite: str, name: str) -> bool:
    nodeid = str(record.get("nodeid", ""))
    file_part = nodeid.split("::", 1)[0]
    same_file = Path(file_part).resolve() == Path(suite).resolve() if file_part else False
    return same_file and (record.get("name") == name or (record.get("when") == "collect"))


def outcome_of(records: Iterable[dict[str, Any]], suite: str, name: str) -> NamedOutcome:
    """Fold every phase record of a test (all its parameters) into one outcome.

    An exception that is not a failed check, or any failure in setup or collection, makes it "error":
    the defect broke the machinery (a boot, a fixture), not a check. A failed check in the call, or in
    teardown (where the ``new_user`` fixture checks that no reply went unclaimed), makes it "failed".
    """
    mine = [r for r in records if _belongs(r, suite, name)]
    if not mine:
        return NamedOutcome(name, "not run")
    for r in mine:
        is_check = r.get("when") in ("call", "teardown") and r.get("kind") == "assertion"
        if r.get("outcome") == "failed" and not is_check:
            return NamedOutcome(name, "error", r)
    failed = [r for r in mine if r.get("outcome") == "failed"]
    if failed:
        return NamedOutcome(name, "failed", failed[0])
    calls = [r for r in mine if r.get("when") == "call"]
    if not calls or any(r.get("outcome") == "skipped" for r in mine):
        skipped = next((r for r in mine if r.get("outcome") == "skipped"), mine[0])
        return NamedOutcome(name, "skipped", skipped)
    return NamedOutcome(name, "passed", calls[0])


@dataclass(frozen=True)
class RunResult:
    """One pytest run: its records, exit code, how long it took, and the tail of its output."""

    records: tuple[dict[str, Any], ...]
    exit_code: int | None  # None: killed after RUN_TIMEOUT_S
    seconds: float
    output_tail: str = ""


@dataclass(frozen=True)
class Verdict:
    probe: Probe
    status: Status
    reason: str
    evidence: tuple[dict[str, Any], ...] = ()
    seconds: float = 0.0


def _pin_mismatch(probe: Probe, evidence: dict[str, Any]) -> str | None:
    if probe.step is not None and evidence.get("step") != probe.step:
        return f"failed at step {evidence.get('step')}, not at step {probe.step} that the probe names"
    if probe.match is not None and not re.search(probe.match, str(evidence.get("message", ""))):
        return f"the failure's text does not match /{probe.match}/"
    return None


def _run_problem(run: RunResult) -> str:
    if run.exit_code is None:
        return f"the run was stopped after {RUN_TIMEOUT_S:.0f} s"
    return f"pytest exited with code {run.exit_code}" + (f": {run.output_tail}" if run.output_tail else "")


def judge(probe: Probe, healthy: RunResult, defective: RunResult) -> Verdict:
    """Caught, missed or inconclusive, with the evidence (see the module's docstring)."""
    for name in probe.must_fail:
        before = outcome_of(healthy.records, probe.suite, name)
        if before.state != "passed":
            extra = f" ({_run_problem(healthy)})" if before.state == "not run" else ""
            return Verdict(
                probe,
                "inconclusive",
                f"{name} did not pass on the healthy stack: {before.state}{extra}",
                (before.evidence,) if before.evidence else (),
            )
    outcomes = [outcome_of(defective.records, probe.suite, name) for name in probe.must_fail]
    evidence = tuple({"test": o.name, "state": o.state, **o.evidence} for o in outcomes)
    seconds = defective.seconds
    for o in outcomes:
        if o.state in ("error", "skipped", "not run"):
            why = {
                "error": "errored instead of failing a check",
                "skipped": "was skipped",
                "not run": f"did not run ({_run_problem(defective)})",
            }[o.state]
            where = f" in {o.evidence.get('when')}" if o.state == "error" and o.evidence.get("when") else ""
            return Verdict(probe, "inconclusive", f"{o.name} {why}{where}", evidence, seconds)
    passed = [o.name for o in outcomes if o.state == "passed"]
    if passed:
        return Verdict(probe, "missed", f"{', '.join(passed)} passed with the defect on", evidence, seconds)
    for o in outcomes:
        mismatch = _pin_mismatch(probe, o.evidence)
        if mismatch:
            return Verdict(probe, "inconclusive", f"{o.name} {mismatch}", evidence, seconds)
    where = "; ".join(
        f"{o.name} at {o.evidence.get('where')}"
        + (f" (step {o.evidence['step']})" if o.evidence.get("step") else "")
        for o in outcomes
    )
    return Verdict(probe, "caught", where, evidence, seconds)


def exit_code(verdicts: Sequence[Verdict]) -> int:
    """0: every probe caught; 1: one was missed; 3: none missed, but one was inconclusive."""
    if any(v.status == "missed" for v in verdicts):
        return EXIT_MISSED
    if any(v.status == "inconclusive" for v in verdicts):
        return EXIT_INCONCLUSIVE
    return 0


def report_json(verdicts: Sequence[Verdict], healthy: RunResult, elapsed: float) -> dict[str, Any]:
    counts = {s: sum(v.status == s for v in verdicts) for s in ("caught", "missed", "inconclusive")}
    return {
        "probes": len(verdicts),
        **counts,
        "seconds": round(elapsed, 1),
        "healthy_run": {"exit_code": healthy.exit_code, "seconds": round(healthy.seconds, 1)},
        "results": [
            {
                "defect": v.probe.defect,
                "suite": v.probe.suite,
                "must_fail": v.probe.must_fail,
                **({"step": v.probe.step} if v.probe.step is not None else {}),
                **({"match": v.probe.match} if v.probe.match is not None else {}),
                "status": v.status,
                "caught": v.status == "caught",
                "reason": v.reason,
                "evidence": list(v.evidence),
            }
            for v in sorted(verdicts, key=lambda v: (v.probe.suite, v.probe.defect))
        ],
    }


# --- running --------------------------------------------------------------------------------------------


def run_tests(node_ids: Sequence[str], defect: str, workdir: Path, xdist: int = 0) -> RunResult:
    """One pytest session on a fresh local stack with ``REFERENCE_DEFECTS=defect`` ("" = healthy)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log, output = workdir / "outcomes.jsonl", workdir / "pytest.out"
    env = {**os.environ, "REFERENCE_DEFECTS": defect}
    command = [sys.executable, "-m", "pytest", *dict.fromkeys(node_ids), "--env", "local", "-q"]
    command += ["-p", "no:cacheprovider", "-p", "easymo_qa.sensitivity_outcomes", f"--outcome-log={log}"]
    command += ["--reports-dir", str(workdir / "reports")]
    if xdist:
        command += ["-n", str(xdist)]
    started = time.perf_counter()
    with output.open("wb") as out:
        # A session of its own, so a run that outlives RUN_TIMEOUT_S is stopped with its stack.
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code: int | None = proc.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            code = None
    tail = " | ".join(output.read_text(errors="replace").strip().splitlines()[-3:])[-400:]
    return RunResult(tuple(read_outcomes(log)), code, time.perf_counter() - started, tail)


def _node_ids(probes: Iterable[Probe]) -> list[str]:
    return list(dict.fromkeys(node for p in probes for node in p.node_ids()))


def healthy_groups(probes: Iterable[Probe]) -> list[tuple[list[str], int]]:
    """The healthy run's sessions: (node ids, xdist workers). The cutover and reliability tests need the
    stack to themselves (they flip flags for everyone, or storm it): a session without xdist; the rest,
    which mostly wait on replies, run on HEALTHY_WORKERS."""
    nodes = _node_ids(probes)
    where = layout()
    serial_suites = tuple(f"{suite.as_posix()}/" for suite in (where.cutover, where.reliability))
    serial = [n for n in nodes if n.startswith(serial_suites)]
    parallel = [n for n in nodes if not n.startswith(serial_suites)]
    return [(group, workers) for group, workers in ((parallel, HEALTHY_WORKERS), (serial, 0)) if group]


def combine(runs: Sequence[RunResult]) -> RunResult:
    """The healthy sessions as one run: every record; the worst exit code (None if one was stopped)."""
    codes = [r.exit_code for r in runs]
    code = None if None in codes else max((c for c in codes if c is not None), default=0)
    tails = " / ".join(r.output_tail for r in runs if r.exit_code != 0 and r.output_tail)
    records = tuple(x for r in runs for x in r.records)
    return RunResult(records, code, max((r.seconds for r in runs), default=0.0), tails)


def merge_probes(pinned: Sequence[Probe], from_journeys: Sequence[Probe]) -> list[Probe]:
    """Every probe once: an entry of the sensitivity probes for a journey's own ``defects:`` switch (same
    defect, same file) replaces it, so a journey probe can name its step without a change to the journey."""
    same = {(p.defect, Path(p.suite).resolve()) for p in pinned if not p.select}
    return [*pinned, *(p for p in from_journeys if (p.defect, Path(p.suite).resolve()) not in same)]


def all_probes(where: Layout | None = None) -> list[Probe]:
    """The pinned probes of the layout's sensitivity folder and those of its journeys and scenarios."""
    where = where or layout()
    journeys = [probe for suite in where.yaml_suites for probe in journey_probes(suite)]
    return merge_probes(load_probes(where.sensitivity_probes), journeys)


def _print_verdict(v: Verdict) -> None:
    mark = {"caught": "caught", "missed": "MISSED", "inconclusive": "INCONCLUSIVE"}[v.status]
    print(f"  {v.probe.defect:<32} {mark:<12} {v.seconds:5.1f} s  {v.probe.label()}", flush=True)
    if v.status != "caught":
        print(f"      {v.reason}", flush=True)


def main(
    workers: int = 2,
    report: Path | None = None,
    defects: Sequence[str] = (),
) -> int:
    report = report or layout().reports / "sensitivity.json"
    probes = all_probes()
    if defects:
        unknown = sorted(set(defects) - {p.defect for p in probes})
        if unknown:
            print(f"easymo-qa sensitivity: no probe for {', '.join(unknown)}", file=sys.stderr)
            return 2
        probes = [p for p in probes if p.defect in defects]
    by_defect: dict[str, list[Probe]] = {}
    for probe in probes:
        by_defect.setdefault(probe.defect, []).append(probe)
    started = time.perf_counter()
    verdicts: list[Verdict] = []
    with (
        tempfile.TemporaryDirectory(prefix="easymo-sensitivity-") as tmp,
        ThreadPoolExecutor(workers) as pool,
    ):
        # Every run boots its own stack on free ports, so they run side by side; the healthy sessions go
        # first (they are the longest), each defect's run holds all of its probes' tests.
        healthy_futures = [
            pool.submit(run_tests, nodes, "", Path(tmp) / f"healthy-{i}", xdist)
            for i, (nodes, xdist) in enumerate(healthy_groups(probes))
        ]
        futures = {
            pool.submit(run_tests, _node_ids(group), defect, Path(tmp) / defect): defect
            for defect, group in by_defect.items()
        }
        runs: dict[str, RunResult] = {}
        healthy: RunResult | None = None
        for future in as_completed([*healthy_futures, *futures]):
            if future in futures:
                runs[futures[future]] = future.result()
            if healthy is None and all(f.done() for f in healthy_futures):
                healthy = combine([f.result() for f in healthy_futures])
                print(f"  healthy run of every probed test: {healthy.seconds:.0f} s", flush=True)
            if healthy is None:
                continue
            for defect in list(runs):  # judged as soon as both its run and the healthy one are in
                for probe in by_defect[defect]:
                    verdicts.append(judge(probe, healthy, runs[defect]))
                    _print_verdict(verdicts[-1])
                del runs[defect]
    assert healthy is not None
    elapsed = time.perf_counter() - started
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(report_json(verdicts, healthy, elapsed), indent=2) + "\n")
    counts = {s: sum(v.status == s for v in verdicts) for s in ("caught", "missed", "inconclusive")}
    print(
        f"\nsensitivity: {counts['caught']} of {len(verdicts)} probes caught, {counts['missed']} missed, "
        f"{counts['inconclusive']} inconclusive in {elapsed:.0f} s (evidence: {report})",
        flush=True,
    )
    for v in verdicts:
        if v.status != "caught":
            print(f"{v.status}: {v.probe.defect} in {v.probe.suite}: {v.reason}")
    return exit_code(verdicts)
