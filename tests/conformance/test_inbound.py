"""The harness's inbound webhooks have the shape Meta documents, for every kind of message and of user.

Each entry of inbound.yaml is a webhook as Meta's pages show it; the same webhook is built here the way a
simulated user builds it (easymo_qa/whatsapp/user.py: payloads.* with the identity's wamid, then
payloads.webhook with the identity) and the two are compared key by key with their JSON types
(tests/conformance/shapes.py), never by ids or timestamps. Documented gaps of the builders are listed in
the corpus and checked to still be gaps.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from shapes import covered, load, shape, under, values_at

from easymo_qa.whatsapp import ids, payloads
from easymo_qa.whatsapp.identity import Identity

pytestmark = pytest.mark.unit

CORPUS = load("inbound.yaml")
ENTRIES = CORPUS["entries"]
BUSINESS = payloads.BusinessPhone("106540352242922", "15550783881")
PHONE = "250788123456"
NAME = "Sheena Nelson"
MEDIA_KINDS = ("image", "audio", "document", "sticker", "video")
# Keys whose value is part of the shape: the message type, the status, the envelope's constants.
ENUM_KEYS = frozenset({"object", "field", "messaging_product", "type", "status"})


def documented(entry: dict[str, Any]) -> dict[str, Any]:
    webhook = copy.deepcopy(CORPUS["envelope"]["webhook"])
    webhook["entry"][0]["changes"][0]["value"] = copy.deepcopy(entry["value"])
    return webhook


def message(kind: str, me: Identity) -> dict[str, Any]:
    """One ``messages[]`` item, as a simulated user makes it (sender's phone, the identity's wamid)."""
    wamid = me.new_wamid()
    context = payloads.new_wamid(me.address, outbound=True)  # the business message being answered
    if kind == "text":
        return payloads.text(me.phone, "Does it come in another color?", wamid=wamid)
    if kind == "button_reply":
        return payloads.button_reply(me.phone, "change-button", "Change", wamid=wamid, context_id=context)
    if kind == "list_reply":
        return payloads.list_reply(me.phone, "row_1", "Express", "Next day", wamid=wamid, context_id=context)
    if kind == "location":
        return payloads.location(me.phone, -1.9441, 30.0619, name="Kigali", address="KN 3 Rd", wamid=wamid)
    if kind in MEDIA_KINDS:
        caption = "A caption" if kind in ("image", "video", "document") else None
        return payloads.media(me.phone, kind, caption=caption, wamid=wamid)
    if kind == "reaction":
        return payloads.reaction(me.phone, context, "\U0001f600", wamid=wamid)
    raise AssertionError(f"inbound.yaml names a kind the test cannot build: {kind}")


def built(entry: dict[str, Any]) -> tuple[dict[str, Any], Identity]:
    me = Identity(PHONE, entry["user"])
    kind = entry["kind"]
    if kind == "user_changed_user_id":
        return payloads.webhook(BUSINESS, [payloads.user_id_changed(me, me.renumbered(), NAME)]), me
    if kind.startswith("status_"):
        state = kind.removeprefix("status_")
        item = payloads.status(me, payloads.new_wamid(me.address, outbound=True), state)
        return payloads.webhook(BUSINESS, statuses=[item], identities=[me]), me
    names = {me.phone: NAME}
    return payloads.webhook(BUSINESS, [message(kind, me)], profile_names=names, identities=[me]), me


def value_of(webhook: dict[str, Any]) -> dict[str, Any]:
    return webhook["entry"][0]["changes"][0]["value"]


def envelope_of(webhook: dict[str, Any]) -> dict[str, Any]:
    outside = copy.deepcopy(webhook)
    outside["entry"][0]["changes"][0]["value"] = None
    return outside


def compare(entry: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """What differs between Meta's shape and ours, in words; empty when they agree. Paths are those of
    ``value``; the envelope around it is compared whole."""
    problems = []
    if shape(envelope_of(ours)) != shape(CORPUS["envelope"]["webhook"]):
        problems.append(f"the envelope differs: {sorted(shape(envelope_of(ours)))}")
    theirs_shape, ours_shape = shape(entry["value"]), shape(value_of(ours))
    for path in entry.get("unclear", []):
        theirs_shape -= under(theirs_shape, path)
        ours_shape -= under(ours_shape, path)
    for path in entry.get("optional", []):
        if not (under(theirs_shape, path) and under(ours_shape, path)):
            theirs_shape -= under(theirs_shape, path)
            ours_shape -= under(ours_shape, path)
    for path in entry.get("builder_gaps", []):
        if not under(theirs_shape, path):
            problems.append(f"builder_gaps names {path}, which Meta's shape does not have")
        if under(ours_shape, path):
            problems.append(f"the builder now produces {path}: delete it from builder_gaps")
        theirs_shape -= under(theirs_shape, path)
    for missing in sorted(theirs_shape - ours_shape):
        problems.append(f"Meta sends {missing}, the harness does not")
    for extra in sorted(ours_shape - theirs_shape):
        problems.append(f"the harness sends {extra}, Meta does not")
    skip = [*entry.get("unclear", []), *entry.get("optional", [])]
    theirs_values = {v for v in values_at(documented(entry), ENUM_KEYS) if not skipped(v[0], skip)}
    ours_values = {v for v in values_at(ours, ENUM_KEYS) if not skipped(v[0], skip)}
    for path, value in sorted(theirs_values - ours_values):
        problems.append(f"Meta's {path} is {value!r}, the harness's is not")
    return problems


def skipped(path: str, skip: list[str]) -> bool:
    inside = path.removeprefix("entry[].changes[].value.")
    return any(covered(f"{inside}:", p) for p in skip)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["id"] for e in ENTRIES])
def test_builders_match_metas_shape(entry: dict[str, Any]) -> None:
    ours, _ = built(entry)
    assert compare(entry, ours) == []


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["id"] for e in ENTRIES])
def test_identity_fields_name_the_same_user(entry: dict[str, Any]) -> None:
    """Every BSUID field names the user (the new one in a user_changed_user_id), every phone field his
    phone, and a username-only user's phone appears nowhere in the webhook, ids included."""
    ours, me = built(entry)
    value = value_of(ours)
    bsuids = {v for _, v in values_at(value, frozenset({"user_id", "from_user_id", "recipient_user_id"}))}
    # Only a failed status of a message sent to a phone names no BSUID ("recipient_user_id will be omitted
    # if the message was sent to the user's phone number", and no contacts on failed statuses).
    assert bsuids or (entry["kind"] == "status_failed" and me.phone_visible)
    assert all(ids.BSUID.fullmatch(b) for b in bsuids), bsuids
    expected = {me.renumbered().bsuid, me.bsuid} if entry["kind"] == "user_changed_user_id" else {me.bsuid}
    assert bsuids <= expected
    phones = {v for _, v in values_at(value, frozenset({"wa_id", "from", "recipient_id"}))}
    phones.discard(BUSINESS.display_phone_number)  # context.from is the business
    assert phones <= {me.phone}
    if not me.phone_visible:
        assert me.phone not in json.dumps(ours)


def test_corpus_covers_every_kind_for_every_user() -> None:
    kinds = {e["kind"] for e in ENTRIES}
    assert {(k, u) for k in kinds for u in ("phone", "phone_and_username", "username_only")} == {
        (e["kind"], e["user"]) for e in ENTRIES
    }
    assert kinds >= {
        "text",
        "button_reply",
        "list_reply",
        "location",
        *MEDIA_KINDS,
        "reaction",
        "user_changed_user_id",
        *(f"status_{s}" for s in ("sent", "delivered", "read", "failed")),
    }
    for entry in ENTRIES:
        assert entry["source"], entry["id"]
        assert entry["checked"], entry["id"]
        assert len(entry["page_updated"]) == len(entry["source"]), entry["id"]
        assert all(s.startswith("https://developers.facebook.com/documentation/") for s in entry["source"])
