"""pytest collection of ``*.journey.yaml`` files, tavern-style: one test item per journey file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from easymo_qa.conversation.actor_locks import seeded_actor_locks
from easymo_qa.conversation.loader import JOURNEY_SUFFIX, SCENARIO_SUFFIX, JourneyError, load_journey
from easymo_qa.conversation.model import Journey
from easymo_qa.conversation.runner import JourneyRunner, JourneyStepFailed
from easymo_qa.whatsapp.transcript import Transcript

TRANSCRIPT_KEY = pytest.StashKey[Transcript]()
RUNNER_FACTORY_KEY = pytest.StashKey[Callable[[pytest.Item], JourneyRunner]]()


class JourneyFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            journey = load_journey(self.path)
        except JourneyError as exc:
            # A collection error: reported before any test runs, and the run fails.
            raise self.CollectError(f"invalid journey file:\n{exc}") from None
        item = JourneyItem.from_parent(self, name=journey.journey, journey=journey)
        item.add_marker(
            pytest.mark.synthetic if self.path.name.endswith(SCENARIO_SUFFIX) else pytest.mark.e2e
        )
        for role in journey.roles():
            item.add_marker(getattr(pytest.mark, f"journey_{role}"))
        if journey.critical:
            item.add_marker(pytest.mark.critical)
        item.extra_keyword_matches.update(journey.tags)  # `-k handoff` selects by tag
        yield item


class JourneyItem(pytest.Item):
    """Runs one journey; its failure report is the failing step, what arrived, and every actor's turns."""

    def __init__(self, *, journey: Journey, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.journey = journey

    def runtest(self) -> None:
        runner = self.config.stash[RUNNER_FACTORY_KEY](self)
        missing = [c for c in self.journey.requires if not runner.target.has(c)]
        if missing:
            pytest.skip(
                f"not covered: environment {runner.target.env_name!r} lacks the {missing[0]!r} capability"
            )
        transcript = Transcript()
        self.stash[TRANSCRIPT_KEY] = transcript  # the plugin attaches it to the report
        with seeded_actor_locks(self.journey, runner.target.webhook_url):
            runner.run(self.journey, transcript)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, JourneyStepFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.journey.steps[0].line - 1 if self.journey.steps else 0
        return self.path, line, f"journey: {self.journey.journey} ({self.journey.title})"


def is_journey_file(path: Path) -> bool:
    return path.name.endswith((JOURNEY_SUFFIX, SCENARIO_SUFFIX))
