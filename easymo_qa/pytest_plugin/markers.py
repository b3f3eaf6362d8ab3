"""Every marker of the harness, declared here once: it ships with the plugin, so a user's project has them."""

from __future__ import annotations

import pytest

from easymo_qa.conversation.model import ROLES
from easymo_qa.safety import READONLY_MARKER

MARKERS = (
    "smoke: fast checks of a deployed bot",
    "protocol: WhatsApp Cloud API rules any bot must follow",
    "easymo: the easyMO-specific contract",
    "e2e: end-to-end journeys (*.journey.yaml)",
    "synthetic: synthetic failure scenarios (*.scenario.yaml)",
    "critical: a failure here is a critical failure for sign-off",
    "needs(capability): skip unless the environment declares the capability",
    "rule(*ids): the contract rules (R-AREA-n, docs/*-contract.md) this test holds the SUT to",
    "rollout: feature-flag rollout shares and per-agent flags (changes the SUT's flags for everyone)",
    "rollback: the feature-flag rollback drill under load (changes the SUT's flags for everyone)",
    "dashboard: the admin dashboard in a real browser (Playwright, headless Chromium)",
    "reliability: webhook reliability: 1000+ messages with retries, batches and reordering",
    f"{READONLY_MARKER}: sends nothing that changes the SUT; the only tests run against production",
    *(f"journey_{role}: journeys with a {role} actor" for role in ROLES),
)


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
