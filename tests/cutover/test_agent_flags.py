"""Per-agent flags: an agent turned off hands its users to the legacy flow; the marketplace stays off.

Each test flips one flag through the environment's flag control and back (the ``flags`` fixture restores
what it found), and checks both sides from the replies alone, so a bot that ignores the flag fails.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from easymo_qa.cutover import AI, LEGACY, SEARCH_TEXT, served_by
from easymo_qa.flags import AI_AGENTS, BUYER_AGENT, MARKETPLACE_AGENT, ROLLOUT_PERCENTAGE, FlagClient
from easymo_qa.whatsapp.user import WhatsAppUser

pytestmark = [pytest.mark.rollout, pytest.mark.easymo, pytest.mark.needs("flags")]

NOT_AVAILABLE = "isn't available"


def search(user: WhatsAppUser) -> str:
    user.send_text(SEARCH_TEXT)
    return served_by(user.expect_reply())


@pytest.mark.rule("R-FLAG-1")
def test_buyer_agent_off_sends_free_text_to_the_legacy_flow(
    flags: FlagClient, new_user: Callable[..., WhatsAppUser]
) -> None:
    flags.set({AI_AGENTS: True, ROLLOUT_PERCENTAGE: 100, BUYER_AGENT: False})
    buyer = new_user(role="buyer", name="Flag Off")
    assert search(buyer) == LEGACY, "with FEATURE_BUYER_AGENT=false a free-text search must get the home menu"
    buyer.choose_row("buyer_search", "🛒 Order something")
    buyer.expect_reply("buttons", NOT_AVAILABLE, buttons=["back_home"])
    buyer.send_text("help")  # another agent (support) keeps answering
    buyer.expect_reply("buttons", buttons=["sup_human"])

    flags.set({BUYER_AGENT: True})
    assert search(buyer) == AI, "with FEATURE_BUYER_AGENT back on the same search must get offers"


@pytest.mark.rule("R-FLAG-2")
def test_ai_agents_off_sends_everyone_to_the_legacy_flow(
    flags: FlagClient, new_user: Callable[..., WhatsAppUser]
) -> None:
    flags.set({AI_AGENTS: False, ROLLOUT_PERCENTAGE: 100})
    user = new_user(role="buyer", name="All Off")
    assert search(user) == LEGACY
    user.send_text("help")
    user.expect_reply("list", rows=["buyer_search"])  # no agent answers: the keyword is free text


@pytest.mark.rule("R-FLAG-3")
def test_marketplace_agent_stays_off_unless_turned_on(
    flags: FlagClient, new_user: Callable[..., WhatsAppUser]
) -> None:
    assert flags.get().values[MARKETPLACE_AGENT] is False, "FEATURE_MARKETPLACE_AGENT must be off (seed §4.4)"
    user = new_user(role="buyer", name="Market")
    user.choose_row("marketplace", "Marketplace")
    user.expect_reply("buttons", NOT_AVAILABLE, buttons=["back_home"])

    flags.set({AI_AGENTS: True, ROLLOUT_PERCENTAGE: 100, MARKETPLACE_AGENT: True})
    user.choose_row("marketplace", "Marketplace")
    user.expect_reply("list", rows=["offer:*"])

    flags.set({MARKETPLACE_AGENT: False})
    user.choose_row("marketplace", "Marketplace")
    user.expect_reply("buttons", NOT_AVAILABLE, buttons=["back_home"])
