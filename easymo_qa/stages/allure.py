"""Allure results for the load stage, which is Locust, not pytest: one result per load gate of
``signoff.yaml`` (its measurement, threshold and verdict), with the load summary attached to each.

The pytest stages and the main session write their own results with allure-pytest (``--alluredir``) into
the same directory, so one ``allure generate`` shows the whole sign-off (``make allure``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from allure_commons.logger import AllureFileLogger
from allure_commons.model2 import Attachment, Label, Status, StatusDetails, TestResult
from allure_commons.types import AttachmentType

from easymo_qa.gates import GatesFileError
from easymo_qa.layout import layout
from easymo_qa.load.summary import check_gates, load_gates_of
from easymo_qa.signoff.stage_runs import StageRun

SUITE = "sign-off: load stage"


def _result(name: str, status: str, message: str, run: StageRun, attachment: Attachment) -> TestResult:
    stop = int(time.time() * 1000)
    return TestResult(
        uuid=str(uuid.uuid4()),
        historyId=f"easymo-qa.load.{name}",
        fullName=f"load stage: {name}",
        name=name,
        status=status,
        statusDetails=StatusDetails(message=message) if status != Status.PASSED else None,
        stage="finished",
        start=stop - int((run.seconds or 0) * 1000),
        stop=stop,
        labels=[Label("suite", SUITE), Label("parentSuite", "sign-off"), Label("framework", "locust")],
        attachments=[attachment],
    )


def _attach(logger: AllureFileLogger, name: str, text: str, kind: AttachmentType) -> Attachment:
    source = f"{uuid.uuid4()}-attachment.{kind.extension}"
    logger.report_attached_data(text, source)
    return Attachment(name=name, source=source, type=kind.mime_type)


def record_load(
    results_dir: Path, run: StageRun, summary: Path | None, redact: Callable[[str], str] = lambda t: t
) -> None:
    """One Allure result per load gate; without a summary, one broken result with the output's tail.
    Attachments are masked with ``redact`` (transcripts may quote the environment's secrets)."""
    logger = AllureFileLogger(results_dir)
    if summary is None:
        tail = _attach(logger, "Locust output (tail)", redact(run.output_tail), AttachmentType.TEXT)
        message = f"no load summary was written (exit code {run.exit_code})"
        logger.report_result(_result("load summary", Status.BROKEN, message, run, tail))
        return
    try:
        text = summary.read_text(encoding="utf-8")
        attached = _attach(logger, "load summary.json", redact(text), AttachmentType.JSON)
        check = check_gates(json.loads(text), load_gates_of(layout().gates))
    except (OSError, ValueError, GatesFileError) as exc:  # the sign-off itself reports these
        attached = _attach(logger, "why", str(exc), AttachmentType.TEXT)
        logger.report_result(_result("load gates", Status.BROKEN, str(exc), run, attached))
        return
    for gate, line in zip(check.results, check.lines, strict=True):
        passed = gate.passed or gate.gate.report_only
        status = Status.PASSED if passed else Status.FAILED
        logger.report_result(_result(gate.gate.id, status, line, run, attached))
