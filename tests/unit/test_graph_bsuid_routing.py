"""Messages the SUT addresses to a business-scoped user id reach the simulated user behind it
(easymo_qa.simulators.graph_send, graph_recipients): filed under his phone, faulted like his phone,
found by his phone or his BSUID, and refused when the BSUID is nobody's."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from starlette.applications import Starlette
from test_graph_simulator import AUTH, OTHER, SEND, USER, WEBHOOK, config, run, text

from easymo_qa.simulators.graph_api import create_graph_app
from easymo_qa.simulators.server import BackgroundServer
from easymo_qa.target import Target
from easymo_qa.whatsapp.ids import bsuid_for, parse_wamid
from easymo_qa.whatsapp.user import WhatsAppUser

pytestmark = pytest.mark.unit

BSUID = bsuid_for(USER)
NOBODY = "RW.123456789"  # well-formed, but no user the harness made


def to_bsuid(bsuid: str = BSUID, body: str = "Muraho") -> dict[str, Any]:
    return {k: v for k, v in text(body=body).items() if k != "to"} | {"recipient": bsuid}


def test_a_bsuid_addressed_reply_reaches_the_username_only_user_on_a_real_socket() -> None:
    graph_app = create_graph_app(config())
    with BackgroundServer(graph_app) as graph, httpx.Client() as client:
        target = Target(
            env_name="unit",
            webhook_url="http://127.0.0.1:9/webhook",  # never posted to here
            app_secret="s",
            verify_token="v",
            phone_number_id="1",
            display_phone_number="250700000000",
            graph_api_url=graph.url,
            reply_seconds=3.0,
        )
        user = WhatsAppUser(target, client, USER, kind="username_only")
        body = to_bsuid(user.bsuid, "Your order is ready")
        sent = client.post(f"{graph.url}{SEND}", json=body, headers=AUTH)
        assert sent.status_code == 200
        reply = user.expect_reply(text="order is ready")
        assert reply.body["recipient"] == user.bsuid
        # The id names the chat as the SUT addressed it: the BSUID, never the withheld phone.
        assert parse_wamid(reply.wamid).phone == user.bsuid
        assert USER not in json.dumps(sent.json())


def test_the_record_keeps_how_the_user_was_addressed() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await client.post(SEND, json=to_bsuid(), headers=AUTH)
        await client.post(SEND, json=text(), headers=AUTH)
        records = (await client.get("/_sim/messages", params={"to": USER})).json()["messages"]
        assert [(r["to"], r["recipient"], r["addressed_by"]) for r in records] == [
            (USER, BSUID, "bsuid"),
            (USER, None, "phone"),
        ]
        # The user's BSUID in the query string finds the same records as his phone.
        by_bsuid = (await client.get("/_sim/messages", params={"to": BSUID})).json()["messages"]
        assert by_bsuid == records

    run(scenario)


def test_a_renewed_bsuid_still_reaches_the_same_user() -> None:
    renewed = bsuid_for(USER, generation=1)

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        assert (await client.post(SEND, json=to_bsuid(renewed), headers=AUTH)).status_code == 200
        [record] = (await client.get("/_sim/messages", params={"to": USER})).json()["messages"]
        assert record["recipient"] == renewed

    run(scenario)


def test_a_bsuid_of_nobody_is_refused_naming_the_recipient() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.post(SEND, json=to_bsuid(NOBODY), headers=AUTH)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == 131026
        assert error["message"] == "(#131026) Message undeliverable"
        assert "recipient" in error["error_data"]["details"]
        assert NOBODY in error["error_data"]["details"]
        assert (await client.get("/_sim/messages")).json()["messages"] == []
        [rejection] = (await client.get("/_sim/rejections")).json()["rejections"]
        assert (rejection["to"], rejection["recipient"], rejection["http_status"]) == ("", NOBODY, 400)

    run(scenario)


def test_both_to_and_recipient_go_to_the_phone() -> None:
    # "If both to and recipient are present, to takes precedence" (dualhook.com, Meta's Messages API):
    # even a BSUID of someone else, or of nobody, is then not where the message goes.
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        for recipient in (bsuid_for(OTHER), NOBODY):
            response = await client.post(SEND, json=text(USER) | {"recipient": recipient}, headers=AUTH)
            assert response.status_code == 200
            assert response.json()["contacts"] == [{"input": USER, "wa_id": USER}]
        records = (await client.get("/_sim/messages")).json()["messages"]
        assert [(r["to"], r["addressed_by"]) for r in records] == [(USER, "phone"), (USER, "phone")]
        assert (await client.get("/_sim/messages", params={"to": OTHER})).json()["messages"] == []

    run(scenario)


@pytest.mark.parametrize("key", [USER, "+" + USER, BSUID], ids=["phone", "plus-phone", "bsuid"])
def test_a_fault_rule_for_a_user_hits_both_ways_of_addressing_him(key: str) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule = {"scope": "t", "action": "status", "status": 503, "key": key, "times": 2}
        assert (await client.post("/_sim/faults", json=rule)).status_code == 201
        assert (await client.post(SEND, json=text(OTHER), headers=AUTH)).status_code == 200  # not his
        assert (await client.post(SEND, json=to_bsuid(), headers=AUTH)).status_code == 503
        assert (await client.post(SEND, json=text(USER), headers=AUTH)).status_code == 503
        assert (await client.post(SEND, json=to_bsuid(), headers=AUTH)).status_code == 200  # rule spent
        for spelling in (USER, BSUID):
            refused = (await client.get("/_sim/rejections", params={"to": spelling})).json()["rejections"]
            assert [(r["http_status"], r.get("recipient")) for r in refused] == [(503, BSUID), (503, None)]
            assert all(r["fault"] for r in refused)

    run(scenario)


def test_a_dropped_bsuid_message_answers_like_a_delivered_one() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule = {"scope": "t", "action": "drop", "key": BSUID, "times": 1}
        assert (await client.post("/_sim/faults", json=rule)).status_code == 201
        response = await client.post(SEND, json=to_bsuid(), headers=AUTH)
        assert response.status_code == 200
        assert response.json()["contacts"] == [{"input": BSUID, "user_id": BSUID}]
        assert (await client.get("/_sim/messages")).json()["messages"] == []

    run(scenario)


def test_a_fault_rule_keyed_by_a_bsuid_of_nobody_is_refused() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        rule = {"scope": "t", "action": "status", "status": 503, "key": NOBODY}
        response = await client.post("/_sim/faults", json=rule)
        assert response.status_code == 400
        assert NOBODY in response.text

    run(scenario)


@pytest.mark.parametrize("path", ["/_sim/messages", "/_sim/rejections"])
def test_a_query_for_a_bsuid_of_nobody_is_400(path: str) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.get(path, params={"to": NOBODY})
        assert response.status_code == 400
        assert NOBODY in response.json()["error"]

    run(scenario)


@pytest.mark.parametrize("state", ["sent", "delivered", "read", "failed"])
def test_a_status_for_a_bsuid_is_about_a_username_only_user(state: str) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        with respx.mock(assert_all_called=True) as router:
            route = router.post(WEBHOOK).mock(return_value=httpx.Response(200))
            response = await client.post(
                "/_sim/statuses", json={"wamid": "wamid.out1", "recipient_id": BSUID, "status": state}
            )
        assert response.json() == {"sut_status": 200}
        value = json.loads(route.calls.last.request.content)["entry"][0]["changes"][0]["value"]
        [status] = value["statuses"]
        assert "recipient_id" not in status  # the phone is withheld
        assert status["recipient_user_id"] == BSUID
        assert USER not in json.dumps(value)
        if state == "failed":
            assert "contacts" not in value
        else:
            [contact] = value["contacts"]
            assert contact["user_id"] == BSUID
            assert "wa_id" not in contact
            assert ("username" in contact.get("profile", {})) == (state != "sent")

    run(scenario)


def test_a_status_for_a_phone_still_names_the_phone() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        with respx.mock(assert_all_called=True) as router:
            route = router.post(WEBHOOK).mock(return_value=httpx.Response(200))
            await client.post(
                "/_sim/statuses", json={"wamid": "wamid.out1", "recipient_id": USER, "status": "read"}
            )
        [status] = json.loads(route.calls.last.request.content)["entry"][0]["changes"][0]["value"]["statuses"]
        assert (status["recipient_id"], status["recipient_user_id"]) == (USER, BSUID)

    run(scenario)
