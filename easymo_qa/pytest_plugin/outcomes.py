"""Each test's outcome, transcript and reply latencies, recorded for the sign-off (xdist workers' too)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from easymo_qa.conversation.pytest_items import TRANSCRIPT_KEY
from easymo_qa.pytest_plugin import CALL_FAILED_KEY, ENV_KEY, STATE_KEY
from easymo_qa.signoff.results import RunResults


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    transcript = item.stash.get(TRANSCRIPT_KEY, None)
    if transcript is not None and transcript.entries and report.when == "call":
        report.sections.append(("transcript", item.config.stash[STATE_KEY].redactor(transcript.render())))
    if report.when == "call" and report.failed:
        item.stash[CALL_FAILED_KEY] = True  # the strict end-of-test checks add nothing to a failure
    if transcript is not None and report.when == "call":
        # A plain attribute travels with the report from xdist workers to the controller.
        env = item.config.stash.get(ENV_KEY, None)
        report.easymo_latency = {
            "samples_ms": list(transcript.reply_latencies_ms),
            "timed_out": transcript.replies_timed_out,
            "censor_ms": 1000 * (env.timeouts.reply_seconds if env is not None else 5.0),
        }
    return report


def clip_failure(text: str, limit: int = 4000) -> str:
    """The head of a long failure: a journey's names the file, line, expectation and what arrived first."""
    if text.startswith("[gw"):  # pytest-xdist's "[gw0] linux -- Python ..." header line
        text = text.partition("\n")[2]
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters in reports/junit.xml)"


class OutcomeRecorder:
    """Feeds every test report into the run's results (in the xdist controller: workers' reports too)."""

    def __init__(self, results: RunResults) -> None:
        self.results = results

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown" and report.outcome == "passed":
            return
        message = ""
        if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2]).removeprefix("Skipped: ")
        elif report.outcome == "failed":
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else clip_failure(report.longreprtext)
        transcript = "\n".join(text for name, text in report.sections if name == "transcript")
        markers = tuple(k for k, v in report.keywords.items() if v == 1 and k.isidentifier())
        hygiene = getattr(report, "easymo_hygiene", None)
        if isinstance(hygiene, dict):
            self.results.record_hygiene(report.nodeid, hygiene)
        latency = getattr(report, "easymo_latency", None)
        if isinstance(latency, dict):
            self.results.record_latency(latency)
        self.results.record(
            report.nodeid,
            report.when,
            report.outcome,
            markers=markers,
            duration=report.duration,
            message=message,
            transcript=transcript,
        )
