"""Ids in Meta's shapes: wamids that embed the chat's phone number, and BSUIDs.

A system under test that dedupes on part of a wamid must fail against these ids as it would against
Meta's: every id of one chat shares its head, so only the whole id (or its key, near the end) tells two
messages apart.
"""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from easymo_qa.simulators.graph_api import GraphSimConfig, create_graph_app
from easymo_qa.whatsapp import ids, payloads

# Public examples (see easymo_qa/whatsapp/ids.py for the sources): (wamid, phone, sent by the business).
META_EXAMPLES = [
    ("wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA", "16505076520", True),
    ("wamid.HBgMOTE3ODYxMDE5MDIxFQIAERgSQTMwM0E0M0E2QzFBQjM4QzBEAA==", "917861019021", True),
    ("wamid.HBgMNTUzMTcxNzIzOTg5FQIAEhggOURERTIzMjlCMkM4MjcxMEVBODEwNTdCOTU1MDVEQ0IA", "553171723989", False),
]
HEAD = 30  # "wamid." + the base64 of the chat struct up to the key: the same for a whole chat
TAIL = 20  # the last characters carry the key
PHONE_ID = "106540352242922"

phones = st.from_regex(r"[1-9][0-9]{7,14}", fullmatch=True)


@pytest.mark.parametrize(("wamid", "phone", "outbound"), META_EXAMPLES)
def test_meta_examples_parse(wamid: str, phone: str, outbound: bool) -> None:
    parts = ids.parse_wamid(wamid)
    assert (parts.phone, parts.outbound) == (phone, outbound)
    assert parts.key.isalnum()
    assert parts.key == parts.key.upper()


@pytest.mark.parametrize(("wamid", "phone", "outbound"), META_EXAMPLES)
def test_ours_have_the_head_meta_gives_the_same_chat(wamid: str, phone: str, outbound: bool) -> None:
    ours = ids.new_wamid(phone, outbound=outbound)
    meta_key = ids.parse_wamid(wamid).key
    # Same chat, same direction, same key length: the same bytes up to the key.
    while len(ids.parse_wamid(ours).key) != len(meta_key):
        ours = ids.new_wamid(phone, outbound=outbound)
    raw, theirs = (base64.b64decode(w.removeprefix("wamid.")) for w in (ours, wamid))
    head = len(raw) - len(meta_key) - 1
    assert raw[:head] == theirs[:head]


@settings(max_examples=40, deadline=None, database=None)
@given(phone=phones, outbound=st.booleans())
def test_round_trip(phone: str, outbound: bool) -> None:
    wamid = ids.new_wamid("+" + phone, outbound=outbound)
    parts = ids.parse_wamid(wamid)
    assert (parts.phone, parts.outbound) == (phone, outbound)
    assert len(parts.key) == 18 if outbound else len(parts.key) in (20, 32)
    assert all(ch in "0123456789ABCDEF" for ch in parts.key)


@settings(max_examples=25, deadline=None, database=None)
@given(phone=st.from_regex(r"2507[0-9]{8}", fullmatch=True), outbound=st.booleans())
def test_one_chat_shares_the_head_and_only_the_tail_is_unique(phone: str, outbound: bool) -> None:
    made = [ids.new_wamid(phone, outbound=outbound) for _ in range(400)]
    assert len(set(made)) == len(made)
    assert len({ids.parse_wamid(w).key for w in made}) == len(made)
    # A key made of the head (a cut column, a prefix index) names the whole chat, not a message...
    assert len({w[:HEAD] for w in made}) == 1
    # ...while the tail, where the key sits, is different for every message.
    assert len({w[-TAIL:] for w in made}) == len(made)


@settings(max_examples=25, deadline=None, database=None)
@given(first=phones, second=phones)
def test_no_header_is_common_to_every_chat(first: str, second: str) -> None:
    a, b = ids.new_wamid(first), ids.new_wamid(second)
    if first != second:
        assert a[:HEAD] != b[:HEAD]
        assert ids.parse_wamid(a).phone != ids.parse_wamid(b).phone


def test_inbound_messages_carry_their_senders_chat() -> None:
    message = payloads.text("250799000123", "hi")
    parts = ids.parse_wamid(message["id"])
    assert (parts.phone, parts.outbound) == ("250799000123", False)


@pytest.mark.parametrize(
    "bad",
    [
        "HBgMNTUzMTcxNzIzOTg5FQIA",  # no prefix
        "wamid.!!!",  # not base64
        "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18" + bytes(20)).decode(),  # the old fixed header
        META_EXAMPLES[0][0][:-8],  # cut short
    ],
)
def test_parse_refuses_other_shapes(bad: str) -> None:
    with pytest.raises(ValueError):
        ids.parse_wamid(bad)


@settings(max_examples=50, deadline=None, database=None)
@given(country=st.sampled_from(["RW", "US", "BR", "KE"]))
def test_bsuids_have_metas_shape(country: str) -> None:
    made = [ids.new_bsuid(country) for _ in range(200)]
    assert len(set(made)) == len(made)
    for bsuid in made:
        assert ids.BSUID.fullmatch(bsuid)
        code, _, rest = bsuid.partition(".")
        assert code == country
        assert rest.isdigit()
        assert 16 <= len(rest) <= 20
    parent = ids.new_parent_bsuid(country)
    assert ids.BSUID.fullmatch(parent)
    assert parent.startswith(f"{country}.ENT.")


def test_bsuid_needs_a_country_code() -> None:
    with pytest.raises(ValueError):
        ids.new_bsuid("rw")


def test_the_graph_simulator_answers_with_ids_of_the_recipients_chat() -> None:
    config = GraphSimConfig(access_token="t", phone_number_id=PHONE_ID, display_phone_number="15550783881")
    app = create_graph_app(config)
    recipients = ["250788123456", "+250722000111"] * 25

    async def send_all() -> list[tuple[str, str]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://graph.test") as client:
            answered = []
            for to in recipients:
                body = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "hi"}}
                response = await client.post(
                    f"/v21.0/{PHONE_ID}/messages", json=body, headers={"Authorization": "Bearer t"}
                )
                answered.append((to, response.json()["messages"][0]["id"]))
            recorded = (await client.get("/_sim/messages")).json()["messages"]
        assert [m["wamid"] for m in recorded] == [wamid for _, wamid in answered]
        return answered

    answered = asyncio.run(send_all())
    assert len({wamid for _, wamid in answered}) == len(answered)
    for to, wamid in answered:
        parts = ids.parse_wamid(wamid)
        assert parts.phone == to.lstrip("+")
        assert parts.outbound
