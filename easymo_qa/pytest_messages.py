"""The pytest side of the message inventory (``easymo_qa/messages/``): every message a test received is kept,
normalised, and at the end of the session written to ``reports/messages.{md,csv,json}`` with its review
against ``fixtures/messages.approved.yaml``; the sign-off gets the ``messages.unapproved`` metric and the
report's "Messages" section through the run's results.

The messages come from message hygiene, which sees every reply (``hygiene_observer``): each test's hygiene
log is a :class:`RecordingLog` that also keeps them (so ``--hygiene=off`` keeps none). They are normalised in
the process that ran the test, where its users' phones, names and run ids are known, and travel with the
teardown report (``report.easymo_messages``, also from xdist workers) to the controller, which merges them.
Loaded by ``easymo_qa.pytest_plugin``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from easymo_qa.conversation.pytest_items import TRANSCRIPT_KEY
from easymo_qa.hygiene.log import HygieneLog
from easymo_qa.layout import read_layout
from easymo_qa.messages.approved import ApprovedFileError, Review, load_approved, review
from easymo_qa.messages.inventory import Inventory, sighting
from easymo_qa.messages.normalise import RunValues, normalise_id, normalise_text, run_specific_words
from easymo_qa.messages.section import METRIC, measurement, report_section
from easymo_qa.messages.writers import FILES, write_inventory
from easymo_qa.pytest_hygiene import HYGIENE_KEY, hygiene_log, hygiene_mode
from easymo_qa.pytest_plugin import STATE_KEY
from easymo_qa.whatsapp.identity import username_for
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.transcript import TranscriptEntry

_COLLECTOR_KEY = pytest.StashKey["_Collector"]()
_NAME_ARGUMENT = re.compile(r"""\bname\s*=\s*["']([^"']+)["']""")  # new_user(name="Aimée Uwase")
_DEFAULT_NAME = "Test User"  # WhatsAppUser's profile name when a test gives none
UNPROMPTED = "unprompted (a notification)"


@dataclass
class RecordingLog(HygieneLog):
    """A hygiene log that also keeps each message it checked, once, with the violations it counted."""

    received: list[tuple[OutboundMessage, tuple[str, ...]]] = field(default_factory=list)
    _recorded: set[tuple[str, int]] = field(default_factory=set, repr=False)
    _record_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, message: OutboundMessage) -> list[Any]:
        with self._record_lock:
            first = (message.to, message.seq) not in self._recorded
            self._recorded.add((message.to, message.seq))
        found = super().__call__(message)
        if first:
            with self._record_lock:
                self.received.append((message, tuple(f"{v.rule}: {v.detail}" for v in found)))
        return found


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture makes a user: this test's hygiene log keeps the messages it checks."""
    if hygiene_mode(item.config) == "off":
        return
    log = hygiene_log(item)
    if not isinstance(log, RecordingLog):
        item.stash[HYGIENE_KEY] = RecordingLog(known_issues=log.known_issues, rules=log.rules)


@cache
def _source(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _actors(item: pytest.Item) -> dict[str, tuple[str, str]]:
    """A journey's actors: name → (role, profile name)."""
    journey = getattr(item, "journey", None)
    actors = getattr(journey, "actors", None) or {}
    return {key: (actor.role, actor.name) for key, actor in actors.items()}


def _run_values(item: pytest.Item, entries: list[TranscriptEntry], recipients: set[str]) -> RunValues:
    source = _source(Path(str(item.path)))
    phones = set(recipients)
    for entry in entries:
        words = entry.actor.split()
        if len(words) > 1 and words[1].isdigit():
            phones.add(words[1])
    names = {_DEFAULT_NAME, *(name for _, name in _actors(item).values()), *_NAME_ARGUMENT.findall(source)}
    names |= {n.split()[0] for n in names if n != _DEFAULT_NAME and len(n.split()[0]) >= 4}  # "Hi Aimée"
    sent = [e.summary for e in entries if e.direction == "in"]
    return RunValues(
        phones=frozenset(phones),
        names=frozenset(names),
        usernames=frozenset(username_for(p) for p in phones),
        run_ids=frozenset(run_specific_words(sent, source)),
    )


def _screen(action: str, values: RunValues) -> str:
    """What the user did that the message answers, from the transcript's summary of his message."""
    if action.startswith("tap "):
        return "tapped " + normalise_id(action.rpartition("id=")[2], values)
    if action.startswith('text "'):
        typed = normalise_text(action[6:].removesuffix('"'), values)
        return f'typed "{typed.lower()}"' if len(typed.split()) <= 2 else "typed a request"
    return {"location": "shared a location", "reaction": "reacted"}.get(action.split()[0], f"sent {action}")


def _role_and_screen(
    message: OutboundMessage, entries: list[TranscriptEntry], item: pytest.Item, values: RunValues
) -> tuple[str, str]:
    summary = message.summary()
    out = next(
        (e for e in entries if e.direction == "out" and e.at == message.received_at and e.summary == summary),
        None,
    )
    if out is None:
        return "user", UNPROMPTED
    actor = out.actor.split()[0]
    role = _actors(item).get(actor, (actor, ""))[0]
    before = [e for e in entries if e.direction == "in" and e.actor == out.actor and e.at <= out.at]
    return role, _screen(before[-1].summary, values) if before else UNPROMPTED


def sightings(item: pytest.Item, log: RecordingLog) -> list[dict[str, Any]]:
    """This test's messages, normalised with its own run's values."""
    transcript = item.stash.get(TRANSCRIPT_KEY, None)
    entries = sorted(transcript.entries, key=lambda e: e.at) if transcript is not None else []
    values = _run_values(item, entries, {m.to for m, _ in log.received})
    found = []
    for message, findings in log.received:
        role, screen = _role_and_screen(message, entries, item, values)
        found.append(
            sighting(message, values=values, role=role, screen=screen, test=item.nodeid, findings=findings)
        )
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    log = item.stash.get(HYGIENE_KEY, None)
    # Teardown: the last phase, after the strict end-of-test checks have read the last messages.
    if report.when == "teardown" and isinstance(log, RecordingLog) and log.received:
        report.easymo_messages = sightings(item, log)  # a plain attribute travels from xdist workers
    return report


class _Collector:
    """The run's inventory, as the reports come in (in the xdist controller: the workers' too)."""

    def __init__(self, approved_path: Path) -> None:
        self.inventory = Inventory()
        self.approved_path = approved_path
        self.review: Review | None = None
        self.written: list[Path] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for seen in getattr(report, "easymo_messages", None) or []:
            if isinstance(seen, dict):
                self.inventory.add(seen)


def pytest_configure(config: pytest.Config) -> None:
    path = config.rootpath / read_layout(config.rootpath).messages_approved
    try:
        load_approved(path)  # a broken file stops the run before any test, with its file and line
    except ApprovedFileError as exc:
        raise pytest.UsageError(f"easymo-qa: {exc}") from None
    if not hasattr(config, "workerinput"):
        collector = config.stash[_COLLECTOR_KEY] = _Collector(path)
        config.pluginmanager.register(collector, "easymo-qa-messages")


@pytest.hookimpl(tryfirst=True)  # before the sign-off (pytest_plugin/session.py) reads the results
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    collector = config.stash.get(_COLLECTOR_KEY, None)
    state = config.stash.get(STATE_KEY, None)
    if collector is None or state is None or not len(collector.inventory):
        return  # no message seen (unit tests, --hygiene=off): the last inventory stays as it was
    if config.getoption("easymo_outcomes_file", None):
        return  # an earlier stage of `easymo-qa signoff` (smoke, storm, cutover): the final session's counts
    inventory, approved_file = collector.inventory, _shown_path(collector.approved_path, config.rootpath)
    collector.review = found = review(inventory, load_approved(collector.approved_path))
    collector.written = write_inventory(
        inventory, found, state.reports_dir, approved_file=approved_file, redact=state.redactor
    )
    state.results.extra_measurements[METRIC] = measurement(inventory, found)
    state.results.extra_reports["messages"] = report_section(
        inventory, found, approved_file=approved_file, files=list(FILES)
    )


def _shown_path(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    collector = config.stash.get(_COLLECTOR_KEY, None)
    if collector is None or collector.review is None or not collector.written:
        return
    found = collector.review
    terminalreporter.write_line(
        f"message inventory: {len(collector.inventory)} distinct messages, "
        f"{len(found.unapproved)} unapproved ({len(found.changed)} changed): {collector.written[0]}"
    )
