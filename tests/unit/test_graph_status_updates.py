"""The Graph API simulator's answers to what is not a message to a phone: mark as read, the typing
indicator, and a message addressed to a business-scoped user id (easymo_qa.simulators.graph_api)."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from test_graph_simulator import AUTH, OTHER, SEND, USER, run, text

from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.ids import bsuid_for

pytestmark = pytest.mark.unit

READ = {"messaging_product": "whatsapp", "status": "read", "message_id": payloads.new_wamid("250788123456")}


@pytest.mark.parametrize(
    "body", [READ, {**READ, "typing_indicator": {"type": "text"}}], ids=["read", "typing"]
)
def test_read_and_typing_answer_success_and_reach_no_chat(body: dict) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(SEND, json=body, headers=AUTH)
        assert response.status_code == 200
        assert response.json() == {"success": True}
        assert (await client.get("/_sim/messages")).json()["messages"] == []
        assert (await client.get("/_sim/rejections")).json()["rejections"] == []
        # Kept as an event (see test_read_events.py), shown only when asked for.
        [event] = (await client.get("/_sim/messages", params={"events": 1})).json()["messages"]
        assert (event["type"], event["event"]) == ("typing" if "typing_indicator" in body else "read", True)

    run(scenario)


def test_read_without_message_id_is_refused() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(
            SEND, json={k: v for k, v in READ.items() if k != "message_id"}, headers=AUTH
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == 131008

    run(scenario)


def test_message_to_a_bsuid_answers_its_user_id() -> None:
    bsuid = bsuid_for(USER)
    body = {k: v for k, v in text().items() if k != "to"} | {"recipient": bsuid}

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(SEND, json=body, headers=AUTH)
        assert response.status_code == 200
        assert response.json()["contacts"] == [{"input": bsuid, "user_id": bsuid}]
        # Delivered to the user behind the BSUID, filed under his phone (the key he polls by).
        [record] = (await client.get("/_sim/messages", params={"to": USER})).json()["messages"]
        assert (record["recipient"], record["addressed_by"]) == (bsuid, "bsuid")

    run(scenario)


def test_message_to_both_a_phone_and_a_bsuid_follows_the_phone() -> None:
    # "If both to and recipient are present, to takes precedence" (dualhook.com, on Meta's Messages API).
    bsuid = bsuid_for(OTHER)

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(SEND, json=text(USER) | {"recipient": bsuid}, headers=AUTH)
        assert response.status_code == 200
        assert response.json()["contacts"] == [{"input": USER, "wa_id": USER}]
        [record] = (await client.get("/_sim/messages")).json()["messages"]
        assert (record["to"], record["addressed_by"], record["recipient"]) == (USER, "phone", bsuid)

    run(scenario)
