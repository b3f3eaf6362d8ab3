"""A small pytest plugin: one JSON line per test with its outcome and, for a failure, the evidence.

``easymo-qa sensitivity`` loads it with ``-p easymo_qa.sensitivity_outcomes --outcome-log PATH`` and judges
probes from these records rather than from terminal text. Each record says in which phase the test failed
(setup / call / teardown), whether it was a failed check (an ``AssertionError``, a journey step, or
``pytest.fail``) or an error (any other exception), and where: a journey's failing step (file:line, step
number) or the test file's line of the failing check, with the message's first lines.

Under pytest-xdist the record is built in the worker (where the exception is) and travels to the
controller in ``report.user_properties``; only the controller writes the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_PROPERTY = "easymo_outcome"
MESSAGE_LINES = 12  # the head of a failure: the step, the expectation, what arrived
MESSAGE_CHARS = 2000


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("easymo-qa").addoption(
        "--outcome-log",
        dest="easymo_outcome_log",
        default=None,
        metavar="PATH",
        help="write one JSON line per test phase: outcome, failure kind and evidence (easymo-qa sensitivity)",
    )


def _head(text: str) -> str:
    return "\n".join(text.splitlines()[:MESSAGE_LINES])[:MESSAGE_CHARS]


def _relative(where: str, root: Path) -> str:
    """``path:line`` relative to the rootdir when it lies inside (shorter, same on every machine)."""
    path, sep, line = where.rpartition(":")
    try:
        return f"{Path(path).resolve().relative_to(root.resolve())}{sep}{line}" if sep else where
    except ValueError:
        return where


def _test_file_line(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> str | None:
    """The deepest frame in the test's own file: the check that failed (not the library line it called)."""
    path = Path(str(item.path))
    for entry in reversed(excinfo.traceback):
        if Path(str(entry.path)) == path:
            return _relative(f"{path}:{entry.lineno + 1}", item.config.rootpath)
    return None


def describe(item: pytest.Item, call: pytest.CallInfo[Any]) -> dict[str, Any]:
    """The evidence of one phase of one test (pure apart from reading the exception)."""
    # Imported here: the plugin must load even where the journey runner's dependencies are absent.
    from easymo_qa.conversation.runner import JourneyStepFailed

    record: dict[str, Any] = {"when": call.when}
    excinfo = call.excinfo
    if excinfo is None:
        return record
    exc = excinfo.value
    record["exception"] = f"{type(exc).__module__}.{type(exc).__qualname__}"
    # A failed check: an assertion (journey steps and ReplyError are AssertionErrors) or pytest.fail().
    # Skips are not failures; anything else (a KeyError, a connection error, a timeout) is an error.
    record["kind"] = (
        "skip"
        if excinfo.errisinstance(pytest.skip.Exception)
        else "assertion"
        if excinfo.errisinstance((AssertionError, pytest.fail.Exception))
        else "error"
    )
    if isinstance(exc, JourneyStepFailed):
        record["step"] = exc.index + 1
        record["where"] = _relative(exc.location, item.config.rootpath)
        record["message"] = _head(exc.detail)
    else:
        record["where"] = _test_file_line(item, excinfo) or str(excinfo.getrepr(style="line")).strip()[:300]
        record["message"] = _head(str(exc) or type(exc).__name__)
    return record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    report = yield
    if item.config.getoption("easymo_outcome_log", None):
        record = describe(item, call)
        record["name"] = getattr(item, "originalname", None) or item.name
        report.user_properties.append((_PROPERTY, json.dumps(record)))
    return report


class _Writer:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = path.open("w", encoding="utf-8")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key == _PROPERTY:
                record = json.loads(value)
                record |= {"nodeid": report.nodeid, "outcome": report.outcome}
                self.handle.write(json.dumps(record) + "\n")
                self.handle.flush()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # a journey file that does not load, an import error: an error, never a catch
            record = {"nodeid": report.nodeid, "when": "collect", "outcome": "failed", "kind": "error"}
            record["message"] = _head(str(report.longrepr))
            self.handle.write(json.dumps(record) + "\n")
            self.handle.flush()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.handle.close()


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("easymo_outcome_log", None)
    if path and not hasattr(config, "workerinput"):  # the controller (or a run without xdist) writes
        config.pluginmanager.register(_Writer(Path(path)), "easymo-outcome-log-writer")


def read_outcomes(path: Path) -> list[dict[str, Any]]:
    """The records of an outcome log; an absent file (pytest never started a test) is no records."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
