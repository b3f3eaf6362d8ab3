"""The Graph API simulator accepts every outbound message Meta documents and refuses every broken one as
Meta does: each body of outbound-valid.yaml / outbound-invalid.yaml is POSTed to the real simulator app
(in-process, httpx.ASGITransport) and its answer compared with the corpus; the rules themselves
(validate_outbound) must name the same code at the same dotted path.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from shapes import load

from easymo_qa.simulators.graph_api import GraphSimConfig, create_graph_app
from easymo_qa.whatsapp.rules.request import validate_outbound

pytestmark = pytest.mark.unit

VALID = load("outbound-valid.yaml")["entries"]
INVALID = load("outbound-invalid.yaml")["entries"]
TOKEN = "EAAG-conformance"
PHONE_ID = "106540352242922"
SEND = f"/v25.0/{PHONE_ID}/messages"


def post_all(bodies: list[Any]) -> list[httpx.Response]:
    """POST each body to one fresh simulator app, in order."""
    app = create_graph_app(
        GraphSimConfig(access_token=TOKEN, phone_number_id=PHONE_ID, display_phone_number="15550783881")
    )

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://graph.test") as client:
            return [await client.post(SEND, json=body, headers=headers) for body in bodies]

    return asyncio.run(main())


@pytest.fixture(scope="module")
def answers() -> dict[str, httpx.Response]:
    """The simulator's answer to every body of the corpus, by entry id (one app, one event loop)."""
    entries = [*VALID, *INVALID]
    return dict(zip([e["id"] for e in entries], post_all([e["body"] for e in entries]), strict=True))


def named(entry: dict[str, Any]) -> str:
    """What the error message must say: ``names``, or the field's last segment (``title`` for
    ``interactive.action.buttons[0].reply.title``)."""
    return entry.get("names") or re.sub(r"\[\d+\]$", "", entry["field"].rsplit(".", 1)[-1])


@pytest.mark.parametrize("entry", VALID, ids=[e["id"] for e in VALID])
def test_documented_message_is_accepted(entry: dict[str, Any], answers: dict[str, httpx.Response]) -> None:
    response = answers[entry["id"]]
    assert response.status_code == 200, response.text
    answer = response.json()
    if entry["answer"] == "success":
        assert answer == {"success": True}
        return
    assert answer["messaging_product"] == "whatsapp"
    assert answer["messages"][0]["id"].startswith("wamid.")
    contact = answer["contacts"][0]
    expected = entry.get("contact")
    if expected is not None:
        assert contact == expected
    else:
        assert set(contact) == {"input", "wa_id"}, contact


@pytest.mark.parametrize("entry", INVALID, ids=[e["id"] for e in INVALID])
def test_broken_message_is_refused_naming_the_field(
    entry: dict[str, Any], answers: dict[str, httpx.Response]
) -> None:
    response = answers[entry["id"]]
    meta_status = entry.get("http_status", 400)
    gap = entry.get("simulator_gap", {})
    assert response.status_code == gap.get("http_status", meta_status), response.text
    error = response.json()["error"]
    assert error["code"] == entry["code"], error
    assert error["message"].startswith(f"(#{entry['code']}) "), error
    assert named(entry).lower() in error["message"].lower(), error["message"]


@pytest.mark.parametrize("entry", INVALID, ids=[e["id"] for e in INVALID])
def test_rules_report_the_code_at_the_field(entry: dict[str, Any]) -> None:
    violations = validate_outbound(entry["body"])
    assert violations, "the rules accept it"
    assert violations[0].code == entry["code"], violations
    assert any(v.path == entry["field"] and v.code == entry["code"] for v in violations), violations
    assert violations[0].http_status == entry.get("http_status", 400)


def test_corpus_ids_are_unique() -> None:
    ids = [e["id"] for e in [*VALID, *INVALID]]
    assert len(ids) == len(set(ids))


def test_corpus_entries_cite_meta() -> None:
    for entry in [*VALID, *INVALID]:
        assert entry["checked"], entry["id"]
        assert entry["source"], entry["id"]
        meta = "https://developers.facebook.com/documentation/business-messaging/whatsapp/"
        assert all(s.startswith(meta) for s in entry["source"]), entry["id"]
        assert len(entry["page_updated"]) == len(entry["source"]), entry["id"]
