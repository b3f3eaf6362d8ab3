"""A sampled, time-bounded cosmic-ray session over ``reference/``, run in a scratch copy of the project.

Cosmic Ray (sessions, ``cosmic-ray init``, operators): https://cosmic-ray.readthedocs.io/en/latest/

1. copy the project (git HEAD by default, or the working tree) into a temporary folder: mutants are
   written to files on disk, and other work in this checkout must never see one;
2. ``cosmic-ray init`` lists every mutant of ``reference/`` (its operators, its work database);
3. mutants that cannot matter are marked skipped with the reason (:mod:`easymo_qa.mutation.filters`),
   and a seeded sample is drawn from the rest (:mod:`easymo_qa.mutation.mutants`); the others are
   marked "not sampled";
4. a baseline run of the test command (:mod:`easymo_qa.mutation.command`) on the unmutated copy must
   pass (it also sets the timeout);
5. each sampled mutant is applied on disk with cosmic-ray's ``use_mutation`` (restored afterwards), the
   test command runs against it (the local stack boots the mutated reference as its own process), and
   the result goes to the work database: killed (the command failed, or timed out), survived, or
   incompetent. No mutant is started once the time budget would be exceeded.

The test command is the black-box suite (smoke, journeys, scenarios) with ``-x`` and pytest-xdist, so
a killed mutant costs one stack boot and the first failing test.
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from easymo_qa.mutation import CONFIG
from easymo_qa.mutation.command import build_command, run_command
from easymo_qa.mutation.mutants import plan, record, run_mutant
from easymo_qa.mutation.results import (
    Equivalent,
    Gap,
    Result,
    from_report,
    markdown,
    report,
)


@dataclass(frozen=True)
class Options:
    sample: int
    seed: int
    budget: float  # seconds for the whole session
    reports_dir: Path
    config: Path = CONFIG
    working_tree: bool = False  # mutate the working tree's files instead of git HEAD's
    keep: bool = False  # keep the scratch copy (and its cosmic-ray session) for cr-report
    suites: tuple[str, ...] = ()  # override the suites of the test command
    fail_under: float | None = None  # percent


def load_settings(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``[cosmic-ray]`` table (cosmic-ray's own) and ``[easymo.mutation]`` (sampling, equivalents)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return data["cosmic-ray"], data.get("easymo", {}).get("mutation", {})


def equivalents(settings: dict[str, Any]) -> list[Equivalent]:
    return [Equivalent(**entry) for entry in settings.get("equivalent", [])]


def gaps(settings: dict[str, Any]) -> list[Gap]:
    return [Gap(**entry) for entry in settings.get("gap", [])]


def copy_project(dest: Path, working_tree: bool) -> str:
    """The project's files into ``dest``; answers what was copied (a commit, or "working tree")."""
    if working_tree:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
        ).stdout.decode()
        for name in filter(None, listing.split("\0")):
            source = Path(name)
            if source.is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest / name)
        return "working tree"
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return commit.stdout.strip()


@contextmanager
def _scratch(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="easymo-mutation-"))
    try:
        yield path
    finally:
        if keep:
            print(f"mutation: scratch copy kept in {path} (cr-report {path / 'session.sqlite'})")
        else:
            shutil.rmtree(path, ignore_errors=True)


def fits(elapsed: float, took: list[float], baseline: float, budget: float) -> bool:
    """Whether one more mutant fits in the budget: the mean of those run so far (before the first, half
    the baseline: a kill usually stops early) must end before the budget does."""
    estimate = statistics.fmean(took) if took else baseline / 2
    return elapsed + estimate <= budget


def run(options: Options) -> int:
    """The whole session (see the module's docstring); writes mutation.json and mutation.md."""
    from cosmic_ray.work_db import WorkDB, use_db

    started = time.perf_counter()
    cr_config, settings = load_settings(options.config)
    options.reports_dir.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    interrupted = False
    with _scratch(options.keep) as scratch:
        source = copy_project(scratch, options.working_tree)
        session, config = scratch / "session.sqlite", scratch / "cosmic-ray.toml"
        shutil.copy2(options.config, config)
        cosmic_ray = Path(sys.executable).with_name("cosmic-ray")
        subprocess.run([str(cosmic_ray), "init", str(config), str(session)], cwd=scratch, check=True)
        if cr_config.get("filters", {}).get("operators-filter"):
            filter_ops = cosmic_ray.with_name("cr-filter-operators")
            subprocess.run([str(filter_ops), str(session), str(config)], cwd=scratch, check=True)
        with use_db(str(session), WorkDB.Mode.open) as db:
            p = plan(db, scratch, options.sample, options.seed)
            why = ", ".join(f"{k} {v}" for k, v in p.excluded.most_common())
            print(
                f"mutation: {p.population} mutants of reference/ ({source}); {p.excluded.total()} cannot "
                f"matter ({why}); {len(p.chosen)} sampled from {len(p.eligible)} (seed {options.seed})",
                flush=True,
            )
            command = build_command(
                cr_config["test-command"], scratch, options.suites, scratch / "outcomes.jsonl"
            )
            baseline_timeout = float(cr_config.get("baseline-timeout", 900))
            baseline = run_command(command, scratch, baseline_timeout, scratch / "outcomes.jsonl")
            if not baseline.passed:
                print(f"mutation: the baseline (no mutant) fails, nothing to measure: {baseline.detail}")
                return 2
            timeout = max(float(cr_config["timeout"]), 2 * baseline.seconds)
            print(
                f"mutation: baseline passed in {baseline.seconds:.0f} s; per-mutant timeout "
                f"{timeout:.0f} s; budget {options.budget:.0f} s",
                flush=True,
            )
            for index, mutant in enumerate(p.chosen, start=1):
                took = [r.seconds for r in results if r.outcome != "not run"]
                elapsed = time.perf_counter() - started
                if interrupted or not fits(elapsed, took, baseline.seconds, options.budget):
                    results.append(Result(mutant, "not run"))
                    continue
                try:
                    result = run_mutant(mutant, p.specs[mutant.job_id], scratch, command, timeout)
                except KeyboardInterrupt:
                    interrupted = True
                    results.append(Result(mutant, "not run"))
                    continue
                results.append(result)
                record(db, result)
                print(
                    f"  [{index}/{len(p.chosen)}] {result.outcome:<11} {result.seconds:5.1f} s  "
                    f"{mutant.where()} {mutant.operator}",
                    flush=True,
                )
        meta = {
            "seed": options.seed,
            "sample_size": options.sample,
            "budget_seconds": options.budget,
            "source": source,
            "population": p.population,
            "excluded": dict(p.excluded),
            "eligible": len(p.eligible),
            "baseline_seconds": round(baseline.seconds, 1),
            "timeout_seconds": round(timeout, 1),
            "test_command": shlex.join(command[:-3] if "pytest" in command else command),
            "interrupted": interrupted,
            "seconds": round(time.perf_counter() - started, 1),
        }
    data = report(results, equivalents(settings), meta, gaps(settings))
    write_reports(data, options.reports_dir)
    _print_summary(data)
    print(f"\nMutation report: {options.reports_dir / 'mutation.json'} (and mutation.md)")
    if interrupted:
        print("mutation: INTERRUPTED; the report holds the mutants run so far")
        return 130
    score = data["score"]
    if options.fail_under is not None and (score is None or 100 * score < options.fail_under):
        print(f"mutation: score under {options.fail_under:.0f} %")
        return 1
    return 0


def _print_summary(data: dict[str, Any]) -> None:
    c, per = data["counts"], data["seconds_per_mutant"]
    score = "n/a" if data["score"] is None else f"{100 * data['score']:.1f} %"
    print(
        f"\nmutation score: {score} ({c['killed']} killed of {c['killed'] + c['survived']} non-equivalent; "
        f"{c['equivalent']} equivalent, {c['incompetent']} incompetent, {c['not_run']} not run in the "
        f"budget); median {per['median']} s per mutant"
    )
    for s in data["survivors"]:
        print(f"\nsurvived: {s['where']} {s['operator']} (in {s['definition'] or '-'})")
        print("\n".join("    " + line for line in s["diff"].splitlines()[2:]))


def write_reports(data: dict[str, Any], reports_dir: Path) -> None:
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / "mutation.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    (reports_dir / "mutation.md").write_text(markdown(data), encoding="utf-8")


def rescore(source: Path, config: Path, reports_dir: Path) -> int:
    """Score an earlier session's report again with the equivalence judgements now in ``config``."""
    _, settings = load_settings(config)
    results, meta = from_report(json.loads(source.read_text(encoding="utf-8")))
    data = report(results, equivalents(settings), meta, gaps(settings))
    write_reports(data, reports_dir)
    _print_summary(data)
    return 0


def run_from_args(args: argparse.Namespace) -> int:
    """``easymo-qa mutation``: the options of :func:`easymo_qa.mutation.add_arguments`, with the
    defaults of ``[easymo.mutation]`` in the configuration."""
    if args.rescore:
        return rescore(Path(args.rescore), Path(args.config), Path(args.reports_dir))
    _, settings = load_settings(Path(args.config))
    options = Options(
        sample=args.sample if args.sample is not None else int(settings.get("sample", 15)),
        seed=args.seed if args.seed is not None else int(settings.get("seed", 1)),
        budget=args.budget if args.budget is not None else float(settings.get("budget-seconds", 600)),
        reports_dir=Path(args.reports_dir),
        config=Path(args.config),
        working_tree=args.working_tree,
        keep=args.keep,
        suites=tuple(s for s in (args.suites or "").split(",") if s),
        fail_under=args.fail_under,
    )
    return run(options)
