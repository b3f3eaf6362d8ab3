"""The pytest plugin (entry point ``easymo_qa``), one module per concern; pytest loads them all from here,
each before the modules that import it (so that pytest can rewrite their asserts)."""

import pytest

from easymo_qa.envs import Environment

pytest_plugins = [
    "easymo_qa.pytest_plugin.options",  # --env, --reports-dir, the sign-off's inputs
    "easymo_qa.pytest_plugin.markers",  # every marker the suites use, declared once
    "easymo_qa.pytest_plugin.selection",  # journey / scenario items, needs(capability), the production guard
    "easymo_qa.pytest_plugin.outcomes",  # each test's outcome, transcript and latencies, for the sign-off
    "easymo_qa.pytest_hygiene",  # message hygiene: --hygiene, the per-test check
    "easymo_qa.pytest_messages",  # the inventory of the bot's messages and their approval
    "easymo_qa.pytest_plugin.session",  # the environment, the stack, xdist, the sign-off
    "easymo_qa.pytest_plugin.fixtures",  # target, users, transcripts, reports_dir
]

# What the modules keep in pytest's stash, here so that they need not import each other.
ENV_KEY = pytest.StashKey[Environment]()
STATE_KEY = pytest.StashKey["SessionState"]()
CALL_FAILED_KEY = pytest.StashKey[bool]()  # on an item: its call phase failed
