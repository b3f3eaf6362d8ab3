"""The sign-off's stages, in order: smoke first, then the stages that only mean something on a bot that
answers (reliability storm, rollback drill, cutover suite, load), then the main pytest session (smoke,
journeys, synthetic) that writes the report with every stage's result (``session.py``).

Each stage is a child process of its own: the storm, the drill and the cutover suite flip or flood the
SUT for everyone, and Locust needs its own gevent process. Each one's output is shown live and its tail
kept; what each stage did goes to ``reports/stages.json`` (:mod:`easymo_qa.signoff.stage_runs`), which
the main session reads. Every pytest stage writes Allure results beside the main session's (one launch);
the load stage's are written by :mod:`easymo_qa.stages.allure`. Fail closed: a stage that fails its own
assertions or writes no result blocks GO, and a stage that did not run leaves its gates "not run", which
block GO unless waived.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from easymo_qa.interrupts import run_child
from easymo_qa.layout import layout
from easymo_qa.load import evidence
from easymo_qa.signoff.stage_runs import STAGE_RUNS_FILE, StageRun, StageRuns
from easymo_qa.stages.progress import StageProgress

# Where each stage's tests are comes from the layout (easymo_qa/layout.py). Each runs in a session of its
# own: the rollback drill and the rest of the cutover suite (rollout shares, per-agent flags, dashboard)
# flip the SUT's flags for everyone, and the reliability storm (1000+ messages) would skew the timing of
# the suites beside it.
CUTOVER_SELECTION = ["-m", "not rollback"]  # the drill is a stage of its own
PARTIAL = ".partial"  # JUnit XML and Allure results of this sign-off, published when the last session ends
TAIL_LINES = 60  # of a stage's output, kept for the report's failures section
# What each stage's tests need of the environment (their `needs` markers): easyMO's storm reads the SUT's
# events through its admin API; the drill and the cutover suite flip its flags.
STAGE_NEEDS = {
    "reliability": ("easymo", "observability"),
    "rollback": ("easymo", "flags"),
    "cutover": ("easymo", "flags"),
}
SMOKE_FAILED = "the smoke stage failed, so a storm, drill, cutover or load run could not mean anything"


def allure_results(reports: Path) -> Path:
    """Where every stage of a sign-off writes its Allure results (published with the report)."""
    return reports / PARTIAL / "allure-results"


def run_streamed(command: Sequence[str]) -> tuple[int, str]:
    """Run ``command``, echo its output as it comes, return its exit code and the last lines of output.

    Ctrl-C or SIGTERM of the sign-off stops the stage cleanly and raises
    :class:`~easymo_qa.interrupts.Interrupted` (see :func:`~easymo_qa.interrupts.run_child`)."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)

    def echo(line: str) -> None:
        sys.stdout.write(line)
        tail.append(line)

    code = run_child(command, echo)
    sys.stdout.flush()
    return code, "".join(tail)


def _shown(command: Sequence[str]) -> str:
    return " ".join(shlex.quote(part) for part in command)


def _written_since(path: Path, begun: float) -> bool:
    """``path`` exists and was written after ``begun`` (epoch seconds): this run's, not a leftover."""
    try:
        return path.stat().st_mtime >= begun - 1.0  # a coarse filesystem clock rounds mtimes down
    except OSError:
        return False


class Stages:
    """Runs the stages before the main session; collects what each did and the options for the main one."""

    def __init__(
        self,
        args: argparse.Namespace,
        env_args: list[str],
        reports: Path,
        run: Callable[[Sequence[str]], tuple[int, str]] | None = None,
        redact: Callable[[str], str] = lambda text: text,
        progress: StageProgress | None = None,
        capabilities: tuple[str, ...] | None = None,
    ) -> None:
        self.args, self.env_args, self.reports, self.redact = args, env_args, reports, redact
        # The environment's capabilities (None: unknown, every stage is tried): a stage the environment
        # cannot give (no admin API for the storm, no flag API for the drill) is skipped with the reason,
        # and its gates stay "not run", which blocks GO unless waived.
        self.capabilities = capabilities
        self.run = run or run_streamed
        self.progress = progress or StageProgress(live=False)
        self.runs: list[StageRun] = []
        self.options: list[str] = []
        self.paths = layout()

    def _opt(self, name: str, default: object = None) -> object:
        return getattr(self.args, name, default)

    def _alone(self, suite: Path) -> list[str]:
        return [
            suite.as_posix(), *self.env_args, "--reports-dir", str(self.reports),
            "-p", "no:cacheprovider", "-q",
            "--alluredir", str(allure_results(self.reports)),
        ]  # fmt: skip

    def _ran(self, stage: str, what: str, command: list[str], result: Path | None = None) -> StageRun:
        """Run a stage now: a pytest session (``command`` is its arguments; it records its outcomes with
        ``--outcomes-file``), else Locust; its exit code, output tail and whether it wrote ``result``."""
        pytest = stage != "load"
        outcomes = self.reports / "stages" / f"{stage}.outcomes.json"
        if pytest:
            outcomes.unlink(missing_ok=True)
            command = [sys.executable, "-m", "pytest", *command, "--outcomes-file", str(outcomes.resolve())]
        # The last result stays until this run writes its own (an interrupted sign-off keeps it); only a file
        # written from now on is this run's.
        begun = time.time()
        self.progress.begin(stage, what)
        code, tail = self.run(command)
        written = result is None or _written_since(result, begun)
        if pytest:
            outcome = "passed" if code == 0 and written else f"FAILED (exit code {code})"
        else:
            outcome = "load gates passed" if code == 0 else f"exit code {code} (see the report)"
        seconds = self.progress.end(stage, outcome, code == 0 and written)
        run = StageRun(
            stage,
            "ran",
            command=_shown(command),
            exit_code=code,
            seconds=round(seconds, 3),
            result_file=str(result.resolve()) if result is not None else None,
            result_written=written,
            output_tail=tail,
            outcomes=StageRuns.load_outcomes(outcomes) if pytest else None,
            pytest=pytest,
        )
        self.runs.append(run)
        return run

    def smoke(self) -> bool:
        """The smoke suite alone, stopping at the first failure: is there a bot worth loading at all?

        It runs again inside the main session (8 s on the local stack), where its results reach the report.
        """
        suite = self.paths.smoke
        if not suite.is_dir():
            self._skipped("smoke", f"no {suite.as_posix()} here")
            return True
        arguments = [*self._alone(suite), "-x"]
        workers = str(self._opt("workers", "0") or "0")
        if workers != "0":
            arguments += ["-n", workers]
        what = "smoke (is the bot up and speaking the webhook protocol?)"
        return self._ran("smoke", what, arguments).exit_code == 0

    def _given(self, stage: str, option: str, path: str, pytest: bool = True) -> None:
        resolved = str(Path(path).resolve())
        self.options += [option, resolved]
        self.runs.append(StageRun(stage, "given", f"result given: {resolved}", pytest=pytest))
        self.progress.not_run(stage, "given", resolved)

    def _skipped(self, stage: str, reason: str, pytest: bool = True) -> None:
        self.runs.append(StageRun(stage, "skipped", reason, pytest=pytest))
        self.progress.not_run(stage, "skipped", reason)

    def _lacks(self, stage: str) -> str | None:
        """Why the environment cannot run ``stage`` (the capabilities its tests need), or None."""
        if self.capabilities is None:
            return None
        missing = [c for c in STAGE_NEEDS.get(stage, ()) if c not in self.capabilities]
        if not missing:
            return None
        return f"the environment lacks {', '.join(repr(c) for c in missing)} (needed by the {stage} stage)"

    def reliability(self) -> None:
        what = "webhook reliability storm (retries, batches, reordering)"
        self._with_result("reliability", self.paths.reliability, what)

    def rollback(self) -> None:
        what = "rollback drill (FEATURE_AI_AGENTS off and on again under traffic)"
        self._with_result("rollback", self.paths.rollback_drill, what)

    def _with_result(self, stage: str, suite: Path, what: str) -> None:
        """A pytest stage that writes ``reports/<stage>.json`` for the main session (``--<stage>-results``),
        unless a result file is given or the stage is skipped."""
        option = f"--{stage}-results"
        if given := self._opt(f"{stage}_results"):
            return self._given(stage, option, str(given))
        if self._opt(f"skip_{stage}"):
            return self._skipped(stage, f"skipped by --skip-{stage}")
        if lacking := self._lacks(stage):
            return self._skipped(stage, lacking)
        if not suite.exists():
            return self._skipped(stage, f"no {suite.as_posix()} here")
        result = self.reports / f"{stage}.json"
        if self._ran(stage, what, self._alone(suite), result).result_written:
            self.options += [option, str(result.resolve())]
        return None

    def cutover(self) -> None:
        if self._opt("skip_cutover"):
            return self._skipped("cutover", "skipped by --skip-cutover")
        if lacking := self._lacks("cutover"):
            return self._skipped("cutover", lacking)
        suite = self.paths.cutover
        if not suite.is_dir():
            return self._skipped("cutover", f"no {suite.as_posix()} here")
        what = "cutover suite (rollout shares, per-agent flags, dashboard)"
        arguments = [*self._alone(suite), *CUTOVER_SELECTION]
        self._ran("cutover", what, arguments)

    def load(self) -> None:
        """The load stage: a given result, skipped on purpose, else Locust run now with the chosen profile."""
        if given := self._opt("load_results"):
            return self._given("load", "--load-results", str(given), pytest=False)
        if self._opt("skip_load"):
            return self._skipped("load", "skipped by --skip-load", pytest=False)
        profile = str(self._opt("profile", "ci"))
        load_test, config = self.paths.load_test.as_posix(), self.paths.load_profiles / f"{profile}.conf"
        if not self.paths.load_test.is_file():
            sys.stderr.write(
                f"easymo-qa: no load stage here ({load_test} does not exist): "
                "this verdict does not cover performance\n"
            )
            return self._skipped("load", f"no {load_test} here", pytest=False)
        if importlib.util.find_spec("locust") is None:
            missing = "Locust is not installed: the load stage needs pip install 'easymo-qa[load]'"
            sys.stderr.write(f"easymo-qa: {missing}\n")
            return self._skipped("load", missing, pytest=False)
        # Locust writes to load.partial/ and publishes load/ only when its run completes: the last
        # complete summary stays until then (easymo_qa/load/evidence.py).
        summary = evidence.final_dir(self.reports) / "summary.json"
        out = evidence.staging_dir(self.reports)
        command = [
            sys.executable, "-m", "locust", "-f", load_test, "--config", config.as_posix(),
            *self.env_args, "--reports-root", str(self.reports),
            "--csv", str(out / profile), "--html", str(out / f"{profile}.html"),
        ]  # fmt: skip
        run = self._ran("load", f"load ({profile} profile: {config.as_posix()})", command, summary)
        written = run.result_written
        from easymo_qa.stages import allure  # imports the load summary's hdrh, there only with Locust

        allure.record_load(allure_results(self.reports), run, summary if written else None, self.redact)
        if written:
            self.options += ["--load-results", str(summary.resolve())]
        return None

    def after_failed_smoke(self) -> None:
        """Every later stage is skipped (a given result file still counts)."""
        sys.stderr.write(f"easymo-qa: not running the later stages: {SMOKE_FAILED}\n")
        for stage, option, pytest in (
            ("reliability", "reliability_results", True),
            ("rollback", "rollback_results", True),
            ("cutover", None, True),
            ("load", "load_results", False),
        ):
            given = self._opt(option) if option else None
            if given:
                self._given(stage, f"--{option.replace('_', '-')}", str(given), pytest=pytest)
            else:
                self._skipped(stage, SMOKE_FAILED, pytest=pytest)

    def write(self) -> Path:
        return StageRuns(self.runs).write(self.reports / STAGE_RUNS_FILE, self.redact)

    def run_all(self) -> list[str]:
        """Run the stages before the main session; write ``stages.json``; the options that hand it over."""
        if not self.smoke():
            self.after_failed_smoke()
        else:
            self.reliability()
            self.rollback()
            self.cutover()
            self.load()
        return [*self.options, "--stage-runs", str(self.write().resolve())]
