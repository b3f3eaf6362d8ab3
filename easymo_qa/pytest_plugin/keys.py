"""What the plugin's modules keep in pytest's stash, shared here so they need not import each other."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from easymo_qa.envs import Environment

if TYPE_CHECKING:
    pass

ENV_KEY = pytest.StashKey[Environment]()
STATE_KEY = pytest.StashKey["SessionState"]()
CALL_FAILED_KEY = pytest.StashKey[bool]()  # on an item: its call phase failed
