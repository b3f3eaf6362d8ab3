"""The journey language's small pieces: ${var} substitution and filters, duration and count expressions."""

from __future__ import annotations

import re

import pytest

from easymo_qa.conversation.expr import count_value, duration_seconds
from easymo_qa.conversation.runner import new_run_id
from easymo_qa.conversation.variables import Variables
from easymo_qa.whatsapp.expect import Expectation
from easymo_qa.whatsapp.outbound import OutboundMessage
from reference.textsearch import singular, words


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(2, 2.0), ("400ms + 1500ms", 1.9), ("1.5s", 1.5), ("3 + 250ms", 3.25), ("3s - 300ms", 2.7)],
)
def test_durations(text: float | str, seconds: float) -> None:
    assert duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "1h", "-1s", "0ms", "1s - 2s", "1s -"])
def test_bad_durations_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        duration_seconds(text)


def test_counts() -> None:
    assert count_value("1 + 5") == 6
    assert count_value(3) == 3
    with pytest.raises(ValueError, match="whole numbers"):
        count_value("six")


def test_variables_escape_in_patterns_and_filters() -> None:
    variables = Variables({"order_id": "ORD-A1.B", "code": "0919"})
    assert variables.text("tap st_accept:${order_id}") == "tap st_accept:ORD-A1.B"
    assert re.fullmatch(variables.pattern("Order ${order_id}"), "Order ORD-A1.B")
    assert not re.fullmatch(variables.pattern("Order ${order_id}"), "Order ORD-A1xB")
    wrong = variables.text("${code|wrong}")
    assert wrong == "1020"
    assert all(a != b for a, b in zip(wrong, "0919", strict=True))
    with pytest.raises(KeyError, match=r"unknown variable \$\{nope\}"):
        variables.text("${nope}")
    with pytest.raises(KeyError, match="unknown filter"):
        variables.text("${code|upper}")


def _message(**fields: object) -> OutboundMessage:
    base = {"seq": 1, "wamid": "w", "to": "250790000001", "kind": "buttons", "text": "", "received_at": 0.0}
    return OutboundMessage(**{**base, **fields})  # type: ignore[arg-type]


def test_expectation_prefix_ids_and_forbidden_text() -> None:
    message = _message(text="Order ORD-1 total 3,500 RWF", button_ids=("pay_momo:ORD-1", "back_home"))
    assert Expectation(kind="buttons", buttons=("pay_momo:*",)).matches(message)
    assert not Expectation(buttons=("pay_wallet:*",)).matches(message)
    assert Expectation(text="total", not_text="traceback").matches(message)
    assert not Expectation(text="total", not_text=r"\d,\d{3}").matches(message)
    assert "NOT matching" in Expectation(not_text="x").describe()


def test_a_run_id_survives_a_bots_search_normalisation() -> None:
    # The bot echoes a search query as it understood it ("No offers for \"honey abcde\""): a run id the
    # bot singularises ("...s" → "...") would fail the journey's regex on a healthy bot (seen in CI).
    run_ids = [new_run_id() for _ in range(3000)]
    assert all(re.fullmatch(r"[a-z]{6}", r) for r in run_ids)
    assert all(words(r) == [r] and singular(r) == r for r in run_ids)
    assert len(set(run_ids)) > 2900
