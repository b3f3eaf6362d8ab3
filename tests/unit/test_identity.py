"""The three kinds of WhatsApp user (easymo_qa/whatsapp/identity.py) and the webhooks shaped for each.

Shapes from Meta's "Business-scoped user IDs" page (2026-03-31) and "System messages webhook reference"
(2026-08-11): a username-only user has no ``from`` and no ``wa_id``, every message names ``from_user_id``.
"""

from __future__ import annotations

import random
from typing import Any, get_args

import pytest

from easymo_qa.conversation.model import Actor
from easymo_qa.whatsapp import ids, payloads
from easymo_qa.whatsapp.identity import USER_KINDS, Identity, username_for

pytestmark = pytest.mark.unit

BUSINESS = payloads.BusinessPhone(phone_number_id="106540352242922", display_phone_number="15550783881")
PHONE = "250788123456"


def _value(payload: dict[str, Any]) -> dict[str, Any]:
    [entry] = payload["entry"]
    [change] = entry["changes"]
    assert change["field"] == "messages"
    return change["value"]


def test_a_bsuid_turns_back_into_its_user_and_generation() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        phone = str(rng.randrange(10**10, 10**15))
        generation = rng.randrange(0, 5)
        bsuid = ids.bsuid_for(phone, generation=generation)
        assert ids.BSUID.fullmatch(bsuid)
        assert ids.user_for_bsuid(bsuid) == (phone, generation)


def test_bsuids_show_nothing_of_the_phone_and_neighbours_look_unrelated() -> None:
    first, second = ids.bsuid_for("250788000001"), ids.bsuid_for("250788000002")
    assert "250788" not in first
    # Consecutive numbers (how the harness hands them out) share no tail and no head worth the name.
    tail = next(i for i in range(1, 21) if first[-i:] != second[-i:])
    head = next(i for i in range(3, 24) if first[:i] != second[:i])
    assert tail <= 3
    assert head <= 6
    renewed = ids.bsuid_for("250788000001", generation=1)
    assert renewed != first
    assert renewed[-6:] != first[-6:]


def test_ids_nobody_made_here_are_not_taken_for_a_user() -> None:
    rng = random.Random(11)
    made_elsewhere = [f"RW.{rng.randrange(10**19, 10**20)}" for _ in range(5000)]
    resolved = [b for b in made_elsewhere if ids.user_for_bsuid(b) is not None]
    assert len(resolved) < 25  # about 1 in 1000 by chance
    assert ids.user_for_bsuid("US.ENT.11815799212886844830") is None
    assert ids.user_for_bsuid("250788123456") is None


@pytest.mark.parametrize("bad", ["", "0788123456", "1234567890123456", "abc"])
def test_a_bsuid_needs_an_e164_phone(bad: str) -> None:
    with pytest.raises(ValueError):
        ids.bsuid_for(bad)


def test_journey_actors_offer_the_same_kinds() -> None:
    assert get_args(Actor.model_fields["identity"].annotation) == USER_KINDS
    with pytest.raises(ValueError):
        Identity(PHONE, "email")  # type: ignore[arg-type]


def test_usernames_are_stable_and_show_no_digits_of_the_phone() -> None:
    assert username_for(PHONE) == username_for(PHONE)
    assert username_for(PHONE) != username_for("250788123457")
    assert PHONE[-4:] not in username_for(PHONE)
    assert Identity(PHONE).username is None
    assert Identity(PHONE, "phone_and_username").username == username_for(PHONE)


@pytest.mark.parametrize("kind", USER_KINDS)
def test_message_webhooks_are_shaped_for_each_kind_of_user(kind: Any) -> None:
    person = Identity(PHONE, kind)
    message = payloads.text(PHONE, "hello", wamid=person.new_wamid())
    value = _value(payloads.webhook(BUSINESS, [message], profile_names={PHONE: "Aline"}, identities=[person]))
    [contact] = value["contacts"]
    [sent] = value["messages"]
    assert contact["user_id"] == sent["from_user_id"] == person.bsuid
    assert contact["profile"]["name"] == "Aline"
    if kind == "username_only":
        assert "wa_id" not in contact
        assert "from" not in sent
        assert PHONE not in str(value)  # not in an id either: the phone is withheld everywhere
        assert ids.parse_wamid(sent["id"]).phone == person.bsuid
    else:
        assert contact["wa_id"] == sent["from"] == PHONE
    if kind == "phone":
        assert "username" not in contact["profile"]
    else:
        assert contact["profile"]["username"] == person.username


@pytest.mark.parametrize("kind", USER_KINDS)
@pytest.mark.parametrize("state", ["sent", "delivered", "read", "failed"])
def test_status_webhooks_are_shaped_for_each_kind_of_user(kind: Any, state: payloads.StatusName) -> None:
    person = Identity(PHONE, kind)
    item = payloads.status(person, "wamid.out", state)
    value = _value(payloads.webhook(BUSINESS, statuses=[item], identities=[person]))
    [status] = value["statuses"]
    assert ("recipient_id" in status) == person.phone_visible
    if person.phone_visible:
        assert status["recipient_id"] == PHONE
    if state == "failed":
        assert "contacts" not in value  # Meta sends no contacts with failed statuses
        # a username-only recipient has nothing but its BSUID to be named by
        assert ("recipient_user_id" in status) == (not person.phone_visible)
        return
    assert status["recipient_user_id"] == person.bsuid
    [contact] = value["contacts"]
    assert contact["user_id"] == person.bsuid
    assert ("wa_id" in contact) == person.phone_visible
    # the username rides on delivered and read statuses, never on sent ones
    has_username = kind != "phone" and state != "sent"
    assert contact["profile"].get("username") == (person.username if has_username else None)
    assert contact["profile"]["name"]


@pytest.mark.parametrize("kind", USER_KINDS)
def test_a_reissued_bsuid_comes_as_a_system_message_without_contacts(kind: Any) -> None:
    old = Identity(PHONE, kind)
    new = old.renumbered()
    assert new.bsuid != old.bsuid
    assert new.phone == old.phone
    change = payloads.user_id_changed(old, new, "Aline")
    value = _value(payloads.webhook(BUSINESS, [change], identities=[new]))
    assert "contacts" not in value
    [message] = value["messages"]
    assert message["type"] == "system"
    assert message["from_user_id"] == old.bsuid
    system = message["system"]
    assert system["type"] == "user_changed_user_id"
    assert system["user_id"] == new.bsuid
    assert system["previous_user_id"] == old.bsuid
    assert old.bsuid in system["body"]
    assert new.bsuid in system["body"]
    assert ("from" in message) == ("wa_id" in system) == old.phone_visible
