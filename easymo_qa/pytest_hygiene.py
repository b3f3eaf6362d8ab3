"""The pytest side of message hygiene (``easymo_qa/hygiene/``): every reply a test receives is checked.

Simulated users (``new_user``) and journeys call :func:`hygiene_observer` with each reply as it arrives;
a test that reads replies by itself feeds the ``message_hygiene`` fixture. With ``--hygiene=fail`` (the
default) a test that passed fails when a message it received broke a rule, with the violations and the
transcript; ``warn`` only lists them; ``off`` checks nothing. Either way the violations travel with the
test report (``report.easymo_hygiene``, also from xdist workers) into the sign-off and the terminal summary.
Loaded by ``easymo_qa.pytest_plugin``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from easymo_qa.conversation.pytest_items import TRANSCRIPT_KEY
from easymo_qa.hygiene.log import HygieneLog, KnownIssue, KnownIssuesError, load_known_issues
from easymo_qa.layout import read_layout

HYGIENE_KEY = pytest.StashKey[HygieneLog]()
_TALLY_KEY = pytest.StashKey["_Tally"]()
_KNOWN_KEY = pytest.StashKey[tuple[KnownIssue, ...]]()
REDACT_KEY = pytest.StashKey[Callable[[str], str]]()  # the session's secret redactor (set by the plugin)
_SHOWN = 50


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("easymo-qa", "easyMO QA harness").addoption(
        "--hygiene",
        dest="easymo_hygiene",
        choices=("off", "warn", "fail"),
        default="fail",
        help="message hygiene of every reply the tests receive: fail the test that got a bad message "
        "(default), warn (list it, don't fail), or off",
    )


def hygiene_mode(config: pytest.Config) -> str:
    return str(config.getoption("easymo_hygiene", "fail"))


def hygiene_log(item: pytest.Item) -> HygieneLog:
    log = item.stash.get(HYGIENE_KEY, None)
    if log is None:
        log = item.stash[HYGIENE_KEY] = HygieneLog(item.config.stash.get(_KNOWN_KEY, ()))
    return log


def hygiene_observer(item: pytest.Item) -> HygieneLog | None:
    """What a simulated user of this test calls with each reply (None with ``--hygiene=off``)."""
    return None if hygiene_mode(item.config) == "off" else hygiene_log(item)


def _redact(config: pytest.Config, text: str) -> str:
    redact = config.stash.get(REDACT_KEY, None)
    return redact(text) if redact is not None else text


def _failure(item: pytest.Item, log: HygieneLog) -> str:
    lines = [log.render()]
    transcript = item.stash.get(TRANSCRIPT_KEY, None)
    if transcript is not None and transcript.entries:
        lines += ["  transcript:", *("    " + t for t in transcript.render().splitlines())]
    lines.append("(--hygiene=warn lists these without failing the test)")
    return _redact(item.config, "\n".join(lines))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test that passed fails when a message it received broke a hygiene rule (``--hygiene=fail``)."""
    result = yield
    log = item.stash.get(HYGIENE_KEY, None)
    if log is not None and log.violations and hygiene_mode(item.config) == "fail":
        pytest.fail(_failure(item, log), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    log = item.stash.get(HYGIENE_KEY, None)
    if report.when == "call" and log is not None and hygiene_mode(item.config) != "off":
        # A plain attribute travels with the report from xdist workers to the controller.
        report.easymo_hygiene = log.to_dict()
        if log.violations:
            report.sections.append(("message hygiene", _redact(item.config, log.render())))
    return report


class _Tally:
    """Every violation of the run, as the reports come in (in the xdist controller: the workers' too)."""

    def __init__(self) -> None:
        self.violations: list[dict[str, Any]] = []
        self.known: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        hygiene = getattr(report, "easymo_hygiene", None)
        if isinstance(hygiene, dict):
            self.violations += [{**v, "test": report.nodeid} for v in hygiene["violations"]]
            self.known += [{**v, "test": report.nodeid} for v in hygiene.get("known", [])]


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.stash[_KNOWN_KEY] = load_known_issues(
            config.rootpath / read_layout(config.rootpath).hygiene_known_issues
        )
    except KnownIssuesError as exc:
        raise pytest.UsageError(f"easymo-qa: {exc}") from None
    tally = _Tally()
    config.stash[_TALLY_KEY] = tally
    config.pluginmanager.register(tally, "easymo-qa-hygiene-tally")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    tally = config.stash.get(_TALLY_KEY, None)
    if tally is None or not (tally.violations or tally.known):
        return
    for title, found in (("violation(s)", tally.violations), ("known issue(s), warnings only", tally.known)):
        if not found:
            continue
        terminalreporter.write_sep("-", f"message hygiene: {len(found)} {title}")
        for v in found[:_SHOWN]:
            line = f"{v['test']}: [{v['rule']}] {v['detail']} — {v['message']}"
            terminalreporter.write_line(_redact(config, line))
        if len(found) > _SHOWN:
            terminalreporter.write_line(f"… and {len(found) - _SHOWN} more (the sign-off report lists them)")


@pytest.fixture
def message_hygiene(request: pytest.FixtureRequest) -> HygieneLog:
    """This test's message hygiene log: call it with every reply the test reads by itself (``new_user``
    and journeys already do); its violations fail the test under ``--hygiene=fail``."""
    return hygiene_log(request.node)
