"""Test items from journey and scenario files, and the ``needs(capability)`` skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from easymo_qa.conversation.pytest_items import JourneyFile, is_journey_file
from easymo_qa.pytest_plugin.keys import ENV_KEY


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_journey_file(file_path):
        return JourneyFile.from_parent(parent, path=file_path)
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    env = item.config.stash[ENV_KEY]
    for mark in item.iter_markers("needs"):
        for capability in mark.args:
            if not env.has(capability):
                pytest.skip(f"not covered: environment {env.name!r} lacks the {capability!r} capability")
