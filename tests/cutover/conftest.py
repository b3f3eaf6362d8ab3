"""Fixtures of the cutover checks: the flag control (restored after every test) and the browser.

These tests change the SUT's feature flags for every user, so they run in a session of their own
(``pytest tests/cutover``), never beside other suites on a shared stack.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from easymo_qa.flags import FlagClient
from easymo_qa.target import Target

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `make setup` and .ci/run install it when missing
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def flags(target: Target, http_client: httpx.Client, pytestconfig: pytest.Config) -> Iterator[FlagClient]:
    """The environment's flag control; whatever the test changed is put back, pass or fail."""
    if hasattr(pytestconfig, "workerinput"):
        pytest.skip(
            "not covered: this test changes the SUT's feature flags for every user and cannot share the "
            "stack with parallel tests; run it alone: pytest tests/cutover (without -n)"
        )
    client = FlagClient.for_target(target, http_client)
    before = client.get()
    yield client
    client.restore(before)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch options: Debian's Chromium, headless (unless --headed), no downloads."""
    if not Path(CHROMIUM).is_file() or shutil.which(CHROMIUM) is None:
        pytest.skip(
            f"not covered: no Chromium at {CHROMIUM} (install Debian's `chromium`, as `make setup` does)"
        )
    return {
        "headless": True,
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
    }
