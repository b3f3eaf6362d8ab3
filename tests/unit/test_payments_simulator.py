"""The MoMo payments simulator (easymo_qa.simulators.payments), in-process and once on a loopback socket."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from easymo_qa.simulators.faults import FaultRule
from easymo_qa.simulators.payments.app import create_payments_app
from easymo_qa.simulators.payments.model import PaymentsSimConfig
from easymo_qa.simulators.server import BackgroundServer

pytestmark = pytest.mark.unit

KEY = "momo-access-token"
SECRET = "callback-secret-for-tests"
AUTH = {"Authorization": f"Bearer {KEY}", "X-Target-Environment": "sandbox"}
PAY = "/collection/v1_0/requesttopay"
CALLBACK = "http://127.0.0.1:8765/momo/callback"  # answered in-process by the Receiver's transport
PAYER = "250788123456"
WAIT_SECONDS = 5.0


class Receiver:
    """A stand-in for the SUT's callback endpoint: records each POST's raw body and headers."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self._lock = threading.Lock()  # also served from a uvicorn thread in one test
        self.app = Starlette(routes=[Route("/momo/callback", self._callback, methods=["POST"])])

    async def _callback(self, request: Request) -> JSONResponse:
        body = await request.body()
        with self._lock:
            self.received.append((body, dict(request.headers)))
        return JSONResponse({"ok": True}, status_code=self.status)

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for body, _ in self.received]


def config(**overrides: Any) -> PaymentsSimConfig:
    values: dict[str, Any] = {"callback_secret": SECRET, "api_key": KEY, "approve_delay_seconds": 0.01}
    return PaymentsSimConfig(**(values | overrides))


def pay_body(msisdn: str = PAYER, amount: Any = "3500", external_id: str = "order-1", **extra: Any) -> dict:
    body = {
        "amount": amount,
        "currency": "RWF",
        "externalId": external_id,
        "payer": {"partyIdType": "MSISDN", "partyId": msisdn},
        "payerMessage": "easyMO order",
        "payeeNote": "order-1",
    }
    return body | extra


def pay_headers(reference_id: str | None = None, callback: str | None = CALLBACK) -> dict[str, str]:
    headers = dict(AUTH)
    headers["X-Reference-Id"] = reference_id or str(uuid.uuid4())
    if callback is not None:
        headers["X-Callback-Url"] = callback
    return headers


async def wait_until(condition: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)


Scenario = Callable[[httpx.AsyncClient, Starlette, Receiver], Awaitable[None]]


def run(scenario: Scenario, cfg: PaymentsSimConfig | None = None, receiver: Receiver | None = None) -> None:
    """Run ``scenario`` in a fresh loop; callbacks go in-process to ``receiver``'s app."""
    receiver = receiver or Receiver()
    app = create_payments_app(cfg or config(), callback_transport=httpx.ASGITransport(app=receiver.app))

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://momo.test") as client:
            try:
                await scenario(client, app, receiver)
            finally:
                await app.state.payments.aclose()

    asyncio.run(main())


def expected_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


async def payments(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    return (await client.get("/_sim/payments", params=params)).json()["payments"]


def rule(app: Starlette, msisdn: str, action: str, **params: Any) -> None:
    """A fault rule for one payer: the only way to make a payment end other than approved."""
    app.state.faults.add(FaultRule(scope="test", key=msisdn, action=action, **params))


# --- outcomes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("msisdn", ["250788000099", "250788000098", "250788000097"])
def test_no_payer_number_is_magic(msisdn: str) -> None:
    """Without a fault rule every payment is approved: the old 97/98/99 endings mean nothing."""

    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        assert (await client.post(PAY, json=pay_body(msisdn), headers=pay_headers())).status_code == 202
        await wait_until(lambda: len(receiver.received) == 1)
        assert receiver.bodies()[0]["status"] == "SUCCESSFUL"

    run(scenario)


def test_accepted_then_successful_callback_is_signed() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        reference = str(uuid.uuid4())
        response = await client.post(PAY, json=pay_body(), headers=pay_headers(reference))
        assert response.status_code == 202
        assert response.content == b""
        [payment] = await payments(client)
        assert payment["status"] in ("PENDING", "SUCCESSFUL")

        await wait_until(lambda: len(receiver.received) == 1)
        raw, headers = receiver.received[0]
        assert headers["x-callback-signature"] == expected_signature(raw)
        assert headers["content-type"] == "application/json"
        callback = json.loads(raw)
        assert raw == json.dumps(callback, separators=(",", ":")).encode()  # compact
        assert list(callback) == [
            "referenceId",
            "externalId",
            "amount",
            "currency",
            "financialTransactionId",
            "status",
            "payer",
        ]
        assert callback["referenceId"] == reference
        assert callback["externalId"] == "order-1"
        assert (callback["amount"], callback["currency"]) == ("3500", "RWF")
        assert callback["financialTransactionId"].isdigit()
        assert callback["status"] == "SUCCESSFUL"
        assert callback["payer"] == {"partyIdType": "MSISDN", "partyId": PAYER}

        await wait_until(lambda: not app.state.payments._tasks)
        [payment] = await payments(client)
        assert payment["reference_id"] == reference
        assert payment["msisdn"] == PAYER
        assert payment["status"] == "SUCCESSFUL"
        assert payment["resolved_at"] >= payment["requested_at"]
        [attempt] = payment["callbacks"]
        assert attempt["url"] == CALLBACK
        assert attempt["status_code"] == 200
        assert "error" not in attempt

    run(scenario)


def test_declined_fails_with_approval_rejected() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        rule(app, PAYER, "decline")
        response = await client.post(PAY, json=pay_body(), headers=pay_headers())
        assert response.status_code == 202
        await wait_until(lambda: len(receiver.received) == 1)
        [callback] = receiver.bodies()
        assert callback["status"] == "FAILED"
        assert callback["reason"] == "APPROVAL_REJECTED"
        assert "financialTransactionId" not in callback
        raw, headers = receiver.received[0]
        assert headers["x-callback-signature"] == expected_signature(raw)

    run(scenario)


def test_dropped_stays_pending_without_callback() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        rule(app, "250788000097", "drop")
        pending = str(uuid.uuid4())
        await client.post(
            PAY, json=pay_body("250788000097", external_id="stuck"), headers=pay_headers(pending)
        )
        await client.post(PAY, json=pay_body(external_id="fine"), headers=pay_headers())
        # The ordinary payment, requested after, has resolved and called back; nothing is left scheduled.
        await wait_until(lambda: len(receiver.received) == 1 and not app.state.payments._tasks)
        assert [b["externalId"] for b in receiver.bodies()] == ["fine"]
        [stuck] = await payments(client, external_id="stuck")
        assert stuck["status"] == "PENDING"
        assert stuck["resolved_at"] is None
        assert stuck["callbacks"] == []
        status = (await client.get(f"{PAY}/{pending}", headers=AUTH)).json()
        assert status["status"] == "PENDING"

    run(scenario)


def test_slow_callback_comes_after_a_quicker_payment() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        rule(app, "250788000098", "slow_callback", seconds=0.3)
        await client.post(PAY, json=pay_body("250788000098", external_id="slow"), headers=pay_headers())
        await client.post(PAY, json=pay_body(external_id="quick"), headers=pay_headers())
        await wait_until(lambda: len(receiver.received) >= 1)
        assert [b["externalId"] for b in receiver.bodies()] == ["quick"]
        [slow] = await payments(client, external_id="slow")
        assert slow["status"] == "PENDING"
        await wait_until(lambda: len(receiver.received) == 2)
        late = receiver.bodies()[1]
        assert (late["externalId"], late["status"]) == ("slow", "SUCCESSFUL")

    run(scenario)


def test_status_get() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        unknown = await client.get(f"{PAY}/{uuid.uuid4()}", headers=AUTH)
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "RESOURCE_NOT_FOUND"

        reference = str(uuid.uuid4())
        await client.post(PAY, json=pay_body(), headers=pay_headers(reference, callback=None))
        await wait_until(lambda: not app.state.payments._tasks)
        response = await client.get(f"{PAY}/{reference}", headers=AUTH)
        assert response.status_code == 200
        status = response.json()
        assert status["status"] == "SUCCESSFUL"
        assert status["financialTransactionId"].isdigit()
        assert status["amount"] == "3500"
        assert status["currency"] == "RWF"
        assert status["externalId"] == "order-1"
        assert status["payer"] == {"partyIdType": "MSISDN", "partyId": PAYER}
        assert "reason" not in status
        # No callback URL, no callback.
        assert receiver.received == []
        [payment] = await payments(client)
        assert payment["callbacks"] == []
        # The reference id is a UUID: its upper-case spelling names the same payment.
        assert (await client.get(f"{PAY}/{reference.upper()}", headers=AUTH)).status_code == 200
        unauthorised = await client.get(f"{PAY}/{reference}", headers={"Authorization": "Bearer nope"})
        assert unauthorised.status_code == 401

    run(scenario)


def test_failed_status_has_reason() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        rule(app, PAYER, "decline")
        reference = str(uuid.uuid4())
        await client.post(PAY, json=pay_body(), headers=pay_headers(reference, callback=None))
        await wait_until(lambda: not app.state.payments._tasks)
        status = (await client.get(f"{PAY}/{reference}", headers=AUTH)).json()
        assert (status["status"], status["reason"]) == ("FAILED", "APPROVAL_REJECTED")
        assert "financialTransactionId" not in status

    run(scenario)


def test_reused_reference_id_is_409() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        reference = str(uuid.uuid4())
        assert (await client.post(PAY, json=pay_body(), headers=pay_headers(reference))).status_code == 202
        again = await client.post(PAY, json=pay_body(), headers=pay_headers(reference))
        assert again.status_code == 409
        assert again.json()["code"] == "RESOURCE_ALREADY_EXIST"
        assert len(await payments(client)) == 1
        [rejection] = (await client.get("/_sim/rejections")).json()["rejections"]
        assert rejection["http_status"] == 409

    run(scenario)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/momo/callback",
        "https://10.0.0.5/momo/callback",
        "http://169.254.169.254/latest",
        "http://localhost.example.com/cb",
        "ftp://127.0.0.1/cb",
        "not a url",
    ],
)
def test_non_loopback_callback_is_refused(url: str) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        response = await client.post(PAY, json=pay_body(), headers=pay_headers(callback=url))
        assert response.status_code == 400
        assert response.json()["code"] == "INVALID_CALLBACK_URL_HOST"
        assert await payments(client) == []

    run(scenario)


@pytest.mark.parametrize(
    "url", ["http://localhost:9/cb", "http://127.0.0.2:9/cb", "http://[::1]:9/cb", "https://127.0.0.1/cb"]
)
def test_loopback_callbacks_are_accepted(url: str) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        rule(app, PAYER, "drop")  # never resolved: nothing calls these ports
        response = await client.post(PAY, json=pay_body(), headers=pay_headers(callback=url))
        assert response.status_code == 202

    run(scenario)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 3500}, "INVALID_AMOUNT"),
        ({"amount": "35.50"}, "INVALID_AMOUNT"),
        ({"amount": "0"}, "INVALID_AMOUNT"),
        ({"currency": "EUR"}, "INVALID_CURRENCY"),
        ({"externalId": ""}, "INVALID_REQUEST_BODY"),
        ({"payer": {"partyIdType": "EMAIL", "partyId": "a@b.rw"}}, "INVALID_PAYER"),
        ({"payer": {"partyIdType": "MSISDN", "partyId": "+250788123456"}}, "INVALID_PAYER"),
        ({"payerMessage": 7}, "INVALID_REQUEST_BODY"),
    ],
)
def test_invalid_body_is_400(change: dict[str, Any], code: str) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        response = await client.post(PAY, json=pay_body() | change, headers=pay_headers())
        assert response.status_code == 400
        assert response.json()["code"] == code
        assert response.json()["message"]
        assert await payments(client) == []

    run(scenario)


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"X-Reference-Id": ""}, 400, "INVALID_REFERENCE_ID"),
        ({"X-Reference-Id": "order-1"}, 400, "INVALID_REFERENCE_ID"),
        ({"Authorization": "Bearer wrong"}, 401, "UNAUTHORIZED"),
        ({"Authorization": ""}, 401, "UNAUTHORIZED"),
    ],
    ids=["no-reference", "bad-reference", "wrong-token", "no-token"],
)
def test_bad_headers(headers: dict[str, str], status: int, code: str) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        response = await client.post(PAY, json=pay_body(), headers=pay_headers() | headers)
        assert response.status_code == status
        assert response.json()["code"] == code

    run(scenario)


def test_not_json_is_400() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        response = await client.post(PAY, content=b'{"amount": ', headers=pay_headers())
        assert response.status_code == 400
        assert response.json()["code"] == "INVALID_REQUEST_BODY"
        [rejection] = (await client.get("/_sim/rejections")).json()["rejections"]
        assert rejection["raw_body"] == '{"amount": '

    run(scenario)


def test_empty_api_key_accepts_any_bearer() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        headers = pay_headers(callback=None) | {"Authorization": "Bearer whatever"}
        assert (await client.post(PAY, json=pay_body(), headers=headers)).status_code == 202

    run(scenario, config(api_key=""))


def test_redeliver_sends_the_same_bytes_again() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        reference = str(uuid.uuid4())
        await client.post(PAY, json=pay_body(), headers=pay_headers(reference))
        await wait_until(lambda: len(receiver.received) == 1 and not app.state.payments._tasks)
        response = await client.post(f"/_sim/payments/{reference}/redeliver")
        assert response.status_code == 200
        assert response.json() == {"sut_status": 200}
        assert len(receiver.received) == 2
        (first, first_headers), (second, second_headers) = receiver.received
        assert second == first
        assert second_headers["x-callback-signature"] == first_headers["x-callback-signature"]
        [payment] = await payments(client)
        assert [a["status_code"] for a in payment["callbacks"]] == [200, 200]

    run(scenario)


def test_redeliver_before_any_callback_or_unknown_payment() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        rule(app, PAYER, "drop")
        reference = str(uuid.uuid4())
        await client.post(PAY, json=pay_body(), headers=pay_headers(reference))
        assert (await client.post(f"/_sim/payments/{reference}/redeliver")).status_code == 409
        assert (await client.post(f"/_sim/payments/{uuid.uuid4()}/redeliver")).status_code == 404

    run(scenario)


def test_sut_error_status_is_recorded() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        reference = str(uuid.uuid4())
        await client.post(PAY, json=pay_body(), headers=pay_headers(reference))
        await wait_until(lambda: len(receiver.received) == 1 and not app.state.payments._tasks)
        [payment] = await payments(client)
        assert payment["callbacks"][0]["status_code"] == 500
        assert (await client.post(f"/_sim/payments/{reference}/redeliver")).json() == {"sut_status": 500}

    run(scenario, receiver=Receiver(status=500))


def test_filters_and_delete() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        rule(app, "250722000097", "drop")
        rule(app, "250722000198", "slow_callback", seconds=2)
        await client.post(PAY, json=pay_body(PAYER, external_id="a"), headers=pay_headers())
        await client.post(PAY, json=pay_body("250722000097", external_id="b"), headers=pay_headers())
        await client.post(PAY, json=pay_body("250722000198", external_id="c"), headers=pay_headers())
        assert [p["external_id"] for p in await payments(client)] == ["a", "b", "c"]
        assert [p["external_id"] for p in await payments(client, msisdn="+" + PAYER)] == ["a"]
        assert [p["external_id"] for p in await payments(client, external_id="b")] == ["b"]
        assert (await client.delete("/_sim/payments")).status_code == 200
        assert await payments(client) == []
        # The slow payment's resolution was cancelled with the rest: nothing calls back after a reset.
        await wait_until(lambda: not app.state.payments._tasks)
        assert [b["externalId"] for b in receiver.bodies()] in ([], ["a"])

    run(scenario)


def test_a_rule_for_one_payer_leaves_the_others_approved() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette, receiver: Receiver) -> None:
        rule(app, PAYER, "decline", reason="NOT_ENOUGH_FUNDS")
        await client.post(PAY, json=pay_body(PAYER, external_id="declined"), headers=pay_headers())
        await client.post(PAY, json=pay_body("250722000111", external_id="fine"), headers=pay_headers())
        await wait_until(lambda: len(receiver.received) == 2)
        statuses = {b["externalId"]: (b["status"], b.get("reason")) for b in receiver.bodies()}
        assert statuses == {"declined": ("FAILED", "NOT_ENOUGH_FUNDS"), "fine": ("SUCCESSFUL", None)}

    run(scenario)


def test_callbacks_over_a_real_loopback_socket() -> None:
    receiver = Receiver()
    with BackgroundServer(receiver.app) as server:
        callback = f"{server.url}/momo/callback"
        app = create_payments_app(config())

        async def main() -> None:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://momo.test"
            ) as client:
                reference = str(uuid.uuid4())
                response = await client.post(PAY, json=pay_body(), headers=pay_headers(reference, callback))
                assert response.status_code == 202
                await wait_until(lambda: not app.state.payments._tasks)
                [payment] = await payments(client)
                assert payment["callbacks"][0]["status_code"] == 200
                redelivered = await client.post(f"/_sim/payments/{reference}/redeliver")
                assert redelivered.json() == {"sut_status": 200}
                await app.state.payments.aclose()

        asyncio.run(main())
    raw, headers = receiver.received[0]
    assert headers["x-callback-signature"] == expected_signature(raw)
    assert [body for body, _ in receiver.received] == [raw, raw]


def test_unreachable_callback_is_recorded_as_an_error() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_payments_app(config())

    async def main() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://momo.test"
        ) as client:
            reference = str(uuid.uuid4())
            callback = f"http://127.0.0.1:{port}/cb"
            await client.post(PAY, json=pay_body(), headers=pay_headers(reference, callback))
            await wait_until(lambda: not app.state.payments._tasks)
            [payment] = await payments(client)
            [attempt] = payment["callbacks"]
            assert "status_code" not in attempt
            assert "ConnectError" in attempt["error"]
            assert payment["status"] == "SUCCESSFUL"  # the payment resolved; only the callback failed
            redelivered = await client.post(f"/_sim/payments/{reference}/redeliver")
            assert redelivered.status_code == 502
            assert redelivered.json()["sut_status"] is None
            await app.state.payments.aclose()

    asyncio.run(main())
