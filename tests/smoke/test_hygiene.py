"""Message hygiene of the menus everyone sees: every home-menu option, help and escalation, unknown taps.

Every reply goes through the rules of ``easymo_qa/hygiene/`` (raw translation keys, unfilled
placeholders, stack traces, JSON dumps, bad ids, emoji rules, a way back home); these tests walk the
screens a new user can reach and assert that none broke a rule. The reference's ``raw_i18n_key`` and
``stack_trace_leak`` defect switches must make them fail (fixtures/sensitivity/hygiene.yaml).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from easymo_qa.hygiene.conventions import offers_a_way_home
from easymo_qa.hygiene.log import HygieneLog
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.user import WhatsAppUser

pytestmark = [pytest.mark.smoke, pytest.mark.easymo, pytest.mark.needs("easymo")]

BACK_HOME = "back_home"


@pytest.fixture
def hygiene(request: pytest.FixtureRequest, message_hygiene: HygieneLog) -> HygieneLog:
    if request.config.getoption("easymo_hygiene") == "off":
        pytest.skip("not covered: message hygiene is off (--hygiene=off)")
    return message_hygiene


def assert_clean(hygiene: HygieneLog, user: WhatsAppUser) -> None:
    assert hygiene.checked, "no reply was checked"
    assert not hygiene.violations, f"{hygiene.render()}\n  transcript:\n{user.transcript.render()}"


def open_home(user: WhatsAppUser) -> OutboundMessage:
    user.send_text("hi")
    return user.expect_reply("list", rows=["support_help"])


@pytest.mark.rule("R-MSG-1", "R-HOME-1")
def test_every_home_menu_option_answers_cleanly(
    new_user: Callable[..., WhatsAppUser], hygiene: HygieneLog
) -> None:
    user = new_user(name="Hygiene Walk")
    menu = open_home(user)
    visited = {BACK_HOME, *menu.row_ids}
    for row_id, title in zip(menu.row_ids, menu.row_titles, strict=True):
        user.choose_row(row_id, title)
        reply = user.expect_reply()
        # One level deeper: the buttons each screen offers (lists of offers / amounts start real orders).
        for button_id, button_title in zip(reply.button_ids, reply.button_titles, strict=True):
            if button_id in visited:
                continue
            visited.add(button_id)
            user.tap_button(button_id, button_title)
            user.expect_reply()
        user.tap_button(BACK_HOME, "🏠 Home")
        user.expect_reply("list", rows=["support_help"])
    assert_clean(hygiene, user)


@pytest.mark.rule("R-MSG-1", "R-SUP-1")
def test_help_and_escalation_answer_cleanly(
    new_user: Callable[..., WhatsAppUser], hygiene: HygieneLog
) -> None:
    user = new_user(role="support", name="Hygiene Help")
    user.send_text("help")
    help_reply = user.expect_reply("buttons", buttons=["sup_human", BACK_HOME])
    user.tap_button("sup_human", "🙋 Talk to a person")
    ticket = user.expect_reply()
    assert offers_a_way_home(ticket), f"the ticket confirmation offers no way home: {ticket.summary()}"
    user.tap_button(BACK_HOME, "🏠 Home")
    user.expect_reply("list", rows=["support_help"])
    assert help_reply.text, "the help reply has no text"
    assert_clean(hygiene, user)


@pytest.mark.parametrize("kind", ["button", "row"])
@pytest.mark.rule("R-MSG-1")
def test_unknown_tap_answers_cleanly(
    new_user: Callable[..., WhatsAppUser], hygiene: HygieneLog, kind: str
) -> None:
    user = new_user(name="Hygiene Unknown")
    open_home(user)
    if kind == "button":
        user.tap_button("qa_no_such_option", "Nothing")
    else:
        user.choose_row("qa_no_such_row", "Nothing")
    reply = user.expect_reply()
    assert offers_a_way_home(reply), f"an unknown {kind} got a dead end: {reply.summary()}"
    assert_clean(hygiene, user)
