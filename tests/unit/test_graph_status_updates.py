"""The Graph API simulator's answers to what is not a message to a phone: mark as read, the typing
indicator, and a message addressed to a business-scoped user id (easymo_qa.simulators.graph_api)."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from test_graph_simulator import AUTH, SEND, USER, run, text

pytestmark = pytest.mark.unit

READ = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.HBgMMjUwNzg4"}


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
    body = {k: v for k, v in text().items() if k != "to"} | {"recipient": "RW.123456789"}

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(SEND, json=body, headers=AUTH)
        assert response.status_code == 200
        assert response.json()["contacts"] == [{"input": "RW.123456789", "user_id": "RW.123456789"}]
        # Not delivered to anyone until issue 12 routes BSUIDs to simulated users.
        assert (await client.get("/_sim/messages")).json()["messages"] == []

    run(scenario)


def test_message_to_both_a_phone_and_a_bsuid_is_refused() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(SEND, json=text(USER) | {"recipient": "RW.123456789"}, headers=AUTH)
        assert response.status_code == 400
        assert "got both" in response.json()["error"]["message"]

    run(scenario)
