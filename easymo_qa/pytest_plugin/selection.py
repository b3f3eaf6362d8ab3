"""Which tests run: items from journey and scenario files, the ``needs(capability)`` skip, and production
safety (refuse unsafe runs before anything is sent; keep only read-only tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from easymo_qa.conversation.pytest_items import JourneyFile, is_journey_file
from easymo_qa.envs import declares_production, environment_name
from easymo_qa.pytest_plugin import ENV_KEY
from easymo_qa.safety import READONLY_MARKER, refusal, unsafe_selection


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


def refuse_unsafe_production(config: pytest.Config, path: Path, selector: str) -> None:
    """Before anything is sent: a production environment refuses synthetic / reliability / cutover runs."""
    if config.getoption("easymo_allow_production") or not declares_production(path):
        return
    try:
        reason = unsafe_selection(config.option.markexpr or "", config.option.file_or_dir or [])
    except ValueError:
        reason = None  # pytest itself reports a malformed -m expression
    if reason is not None:
        raise pytest.UsageError(f"easymo-qa: {refusal(environment_name(path), reason, selector)}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a production environment (without --allow-production) only ``readonly`` tests stay selected."""
    env = config.stash[ENV_KEY]
    if not env.production or config.getoption("easymo_allow_production"):
        return
    kept = [item for item in items if item.get_closest_marker(READONLY_MARKER) is not None]
    dropped = [item for item in items if item.get_closest_marker(READONLY_MARKER) is None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
