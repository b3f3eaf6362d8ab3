"""Fixtures of the webhook reliability test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def reports_dir(pytestconfig: pytest.Config) -> Path:
    """Where ``reliability.json`` goes (``--reports-dir``, default ``reports``)."""
    path = pytestconfig.rootpath / pytestconfig.getoption("easymo_reports")
    path.mkdir(parents=True, exist_ok=True)
    return path
