"""In-process fakes of the reference service's upstreams, and a driver for whole conversations.

The service runs through ``httpx.ASGITransport`` with its real lifespan; the Graph API, the LLM, the
payment provider and the maps service are small Starlette apps in the same event loop. A test sends
webhook messages, then ``settle()``s (waits until every queued message and callback job is done), then
reads what each phone received. Nothing sleeps for a fixed time. Other ``test_reference_*`` files import
this module; its own tests check the fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reference.app import create_app
from reference.config import Settings

SECRET, PHONE_ID, TOKEN, ADMIN = "app-secret", "123456789", "graph-token", "admin-token"
LLM_KEY, PAY_KEY, CALLBACK_SECRET = "llm-key", "pay-key", "callback-secret"
BUYER, BUYER2 = "250790000001", "250790000002"
# Seeded actors (fixtures/seed/marketplace.yaml).
KIM_OWNER, REM_OWNER = "250788100001", "250788100002"
KIM_STAFF, KIM_STAFF2, REM_STAFF, NYA_STAFF = "250788200001", "250788200002", "250788200003", "250788200004"
DRIVER1, DRIVER2, DRIVER3 = "250788300001", "250788300002", "250788300003"
ADMIN_PHONE = "250788400001"
KIMIRONKO = {"latitude": -1.9500, "longitude": 30.1000}
_ids = itertools.count(1)


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), timeout=30))

    return wrapper


@dataclass(frozen=True)
class WaUser:
    """A WhatsApp user as Meta names them since April 2026: a BSUID always, the phone only while it is
    shown (``None``: a username-only user), a username when they have one."""

    user_id: str
    phone: str | None = None
    username: str | None = None

    @property
    def address(self) -> str:
        """What the bot's replies to this user are filed under in the fake Graph API."""
        return self.phone or self.user_id


# -- what the SUT sent --------------------------------------------------------------------------------


def body_text(message: dict[str, Any]) -> str:
    if message["type"] == "text":
        return str(message["text"]["body"])
    if message["type"] == "interactive":
        return str(message["interactive"]["body"]["text"])
    return ""


def choice_ids(message: dict[str, Any]) -> list[str]:
    """Button ids of a buttons message, row ids of a list."""
    if message["type"] != "interactive":
        return []
    action = message["interactive"]["action"]
    if "buttons" in action:
        return [b["reply"]["id"] for b in action["buttons"]]
    return [row["id"] for section in action["sections"] for row in section["rows"]]


def row_titles(message: dict[str, Any]) -> list[str]:
    return [
        row["title"] for section in message["interactive"]["action"]["sections"] for row in section["rows"]
    ]


# -- the fakes ------------------------------------------------------------------------------------------


class FakeGraph:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_to: dict[str, int] = {}  # recipient -> status answered to every message for them
        self.fail_next: list[tuple[int, int]] = []  # (status, Graph error code) answered first, any recipient
        self.attempts = 0
        self.app = Starlette(routes=[Route("/{version}/{phone_id}/messages", self._post, methods=["POST"])])

    async def _post(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.attempts += 1
        if self.fail_next:
            status, code = self.fail_next.pop(0)
            return JSONResponse({"error": {"message": "slow down", "code": code}}, status)
        to = body.get("to") or body.get("recipient")  # a username-only user is addressed by BSUID
        if to in self.fail_to:
            return JSONResponse({"error": {"message": "boom", "code": 131026}}, self.fail_to[to])
        self.sent.append(body)
        return JSONResponse({"messages": [{"id": f"wamid.out.{len(self.sent)}"}]})

    def to(self, phone: str) -> list[dict[str, Any]]:
        """Messages sent to ``phone`` (``to``), or to this BSUID (``recipient``)."""
        return [m for m in self.sent if m.get("to", m.get("recipient")) == phone]


def tool_call(
    query: str, quantity: Any = 1, area: Any = None, *, name: str = "search_offers"
) -> dict[str, Any]:
    arguments = json.dumps({"query": query, "quantity": quantity, "area": area})
    call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
    return _completion({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls")


def chat_text(text: str) -> dict[str, Any]:
    return _completion({"role": "assistant", "content": text}, "stop")


def _completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }


class FakeLlm:
    """Answers from ``replies`` (status, payload) in order, then ``default``; ``hang`` never answers."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self.replies: list[tuple[int, Any]] = []
        self.default: tuple[int, Any] = (200, chat_text("What would you like to order?"))
        self.hang = False
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._post, methods=["POST"])])

    async def _post(self, request: Request) -> Response:
        self.calls.append(await request.json())
        self.auth.append(request.headers.get("authorization", ""))
        if self.hang:
            await asyncio.Event().wait()
        status, payload = self.replies.pop(0) if self.replies else self.default
        if isinstance(payload, str):
            return Response(payload, status, media_type="application/json")
        return JSONResponse(payload, status)


class FakePayments:
    """Records request-to-pay calls; answers 202 unless ``fail_next`` holds statuses to answer first.

    A status poll answers ``statuses[reference_id]`` (the status body), else 404; ``polls`` counts them.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.fail_next: list[int] = []
        self.before_answer: Callable[[str], Awaitable[Any]] | None = None  # e.g. call back at once
        self.statuses: dict[str, dict[str, Any]] = {}
        self.polls: list[str] = []
        self.app = Starlette(
            routes=[
                Route("/collection/v1_0/requesttopay", self._post, methods=["POST"]),
                Route("/collection/v1_0/requesttopay/{reference_id}", self._status, methods=["GET"]),
            ]
        )

    async def _status(self, request: Request) -> JSONResponse:
        reference_id = request.path_params["reference_id"]
        self.polls.append(reference_id)
        if reference_id not in self.statuses:
            return JSONResponse({"code": "RESOURCE_NOT_FOUND"}, 404)
        return JSONResponse(self.statuses[reference_id])

    async def _post(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), await request.json()))
        if self.before_answer is not None:
            await self.before_answer(request.headers["x-reference-id"])
        if self.fail_next:
            return JSONResponse({"code": "INTERNAL"}, self.fail_next.pop(0))
        return Response(status_code=202)

    def last(self) -> tuple[dict[str, str], dict[str, Any]]:
        return self.requests[-1]

    def last_reference(self) -> str:
        """The X-Reference-Id of the last request to pay: what a callback about it names."""
        return self.last()[0]["x-reference-id"]


class FakeMaps:
    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []
        self.status = 200
        self.app = Starlette(routes=[Route("/v1/route", self._get, methods=["GET"])])

    async def _get(self, request: Request) -> JSONResponse:
        self.calls.append(dict(request.query_params))
        if self.status != 200:
            return JSONResponse({"error": "down"}, self.status)
        return JSONResponse({"distance_m": 3240, "duration_s": 610, "url": "https://maps.test/r/1"})


# -- the running service ------------------------------------------------------------------------------


class Service:
    """The fakes, then (once the lifespan runs) the app and a client for it."""

    app: Starlette
    client: httpx.AsyncClient

    def __init__(self) -> None:
        self.graph, self.llm, self.payments, self.maps = FakeGraph(), FakeLlm(), FakePayments(), FakeMaps()

    # sending -------------------------------------------------------------------------------------
    async def post(self, sender: str | WaUser, message: dict[str, Any], name: str = "Aline") -> None:
        """One message from ``sender``: a phone (the 2025 shape: ``from`` and ``wa_id`` only), or a
        :class:`WaUser` (the 2026 shape: ``from_user_id`` / ``user_id``, the phone fields while shown)."""
        item: dict[str, Any] = {
            "id": f"wamid.in.{next(_ids)}.{uuid.uuid4().hex[:6]}",
            "timestamp": "1700000000",
        }
        contact: dict[str, Any] = {"profile": {"name": name}}
        if isinstance(sender, WaUser):
            if sender.phone:
                item["from"] = contact["wa_id"] = sender.phone
            item["from_user_id"] = contact["user_id"] = sender.user_id
            if sender.username:
                contact["profile"]["username"] = sender.username
        else:
            item["from"] = contact["wa_id"] = sender
        await self.post_value({"contacts": [contact], "messages": [{**item, **message}]})

    async def post_value(self, value: dict[str, Any]) -> None:
        """A signed webhook whose change value holds ``value`` (messages, statuses...), then settle."""
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "250700000001", "phone_number_id": PHONE_ID},
            **value,
        }
        payload = {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}],
        }
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        response = await self.client.post(
            "/wa-webhook", content=body, headers={"X-Hub-Signature-256": signature}
        )
        assert response.status_code == 200, response.text
        await self.settle()

    async def text(self, sender: str | WaUser, body: str) -> None:
        await self.post(sender, {"type": "text", "text": {"body": body}})

    async def tap(self, sender: str | WaUser, reply_id: str, kind: str = "button_reply") -> None:
        await self.post(
            sender,
            {"type": "interactive", "interactive": {"type": kind, kind: {"id": reply_id, "title": "x"}}},
        )

    async def pay_momo(self, buyer: str | WaUser, order_id: str) -> str:
        """The buyer taps "Pay with MoMo"; returns the reference id of the request to pay it made."""
        await self.tap(buyer, f"pay_momo:{order_id}")
        return self.payments.last_reference()

    async def location(self, sender: str | WaUser, place: dict[str, float] = KIMIRONKO) -> None:
        await self.post(sender, {"type": "location", "location": place})

    async def settle(self) -> None:
        await self.app.state.processor.idle()

    # the payment provider calling back ---------------------------------------------------------------
    async def callback(
        self,
        reference_id: str,
        status: str = "SUCCESSFUL",
        *,
        secret: str = CALLBACK_SECRET,
        settle: bool = True,
        **override: Any,
    ) -> httpx.Response:
        _, request = next((h, b) for h, b in self.payments.requests if h["x-reference-id"] == reference_id)
        body = {
            "referenceId": reference_id,
            "externalId": request["externalId"],
            "amount": request["amount"],
            "currency": "RWF",
            "financialTransactionId": "FT-1",
            "status": status,
            **override,
        }
        if status == "FAILED":
            body.setdefault("reason", "LOW_BALANCE_OR_PAYEE_LIMIT_REACHED_OR_NOT_ALLOWED")
        raw = json.dumps(body).encode()
        signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        response = await self.client.post(
            "/payments/callback", content=raw, headers={"X-Callback-Signature": signature}
        )
        if settle:
            await self.settle()
        return response

    # reading ---------------------------------------------------------------------------------------
    def inbox(self, phone: str | WaUser) -> list[dict[str, Any]]:
        return self.graph.to(phone.address if isinstance(phone, WaUser) else phone)

    def last(self, phone: str | WaUser) -> dict[str, Any]:
        return self.inbox(phone)[-1]

    def texts(self, phone: str | WaUser) -> list[str]:
        return [body_text(m) for m in self.inbox(phone)]

    async def events(self, **query: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/admin/events", params=query, headers={"X-Admin-Token": ADMIN})
        assert response.status_code == 200, response.text
        return list(response.json()["events"])

    async def order(self, order_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/admin/orders/{order_id}", headers={"X-Admin-Token": ADMIN})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wallet(self, phone: str) -> dict[str, Any]:
        response = await self.client.get(f"/admin/wallets/{phone}", headers={"X-Admin-Token": ADMIN})
        assert response.status_code == 200, response.text
        return dict(response.json())


def settings_for(tmp_path: Path, *switches: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_secret": SECRET,
        "verify_token": "verify",
        "phone_id": PHONE_ID,
        "token": TOKEN,
        "graph_base_url": "http://graph.test",
        "db_path": str(tmp_path / "ref.sqlite3"),
        "admin_token": ADMIN,
        "defects": frozenset(switches),
        "llm_base_url": "http://llm.test",
        "llm_api_key": LLM_KEY,
        "payments_base_url": "http://pay.test",
        "payments_api_key": PAY_KEY,
        "payments_callback_secret": CALLBACK_SECRET,
        "maps_base_url": "http://maps.test",
        "public_url": "http://sut.test",
        "agent_timeout_ms": 2000,
        "agent_retry_base_ms": 0,
    }
    return Settings(**{**values, **overrides})


@contextlib.asynccontextmanager
async def service(tmp_path: Path, *switches: str, **overrides: Any) -> AsyncIterator[Service]:
    fakes = Service()
    app = create_app(
        settings_for(tmp_path, *switches, **overrides),
        graph_transport=httpx.ASGITransport(fakes.graph.app),
        llm_transport=httpx.ASGITransport(fakes.llm.app),
        payments_transport=httpx.ASGITransport(fakes.payments.app),
        maps_transport=httpx.ASGITransport(fakes.maps.app),
    )
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sut") as client:
            fakes.app, fakes.client = app, client
            yield fakes


async def order_to_checkout(
    svc: Service, buyer: str | WaUser = BUYER, item: str = "kim-water-20l", quantity: int = 2
) -> str:
    """Search (the LLM asks for ``quantity`` water), pick ``item``, share a location; return the order id."""
    svc.llm.replies.append((200, tool_call("water jerrycan", quantity, "Kimironko")))
    await svc.text(buyer, f"{quantity} jerrycans of water near Kimironko")
    await svc.tap(buyer, f"offer:{item}", "list_reply")
    await svc.location(buyer)
    checkout = svc.last(buyer)
    return choice_ids(checkout)[0].partition(":")[2]


async def paid_order(svc: Service, buyer: str = BUYER, quantity: int = 1) -> str:
    """An order paid by MoMo (the payment callback delivered); returns its id."""
    order_id = await order_to_checkout(svc, buyer=buyer, quantity=quantity)
    await svc.callback(await svc.pay_momo(buyer, order_id))
    return order_id


async def ready_order(svc: Service) -> str:
    """A paid order the Kimironko station accepted, prepared and marked ready; returns its id."""
    order_id = await paid_order(svc)
    for step in ("st_accept", "st_preparing", "st_ready"):
        await svc.tap(KIM_STAFF, f"{step}:{order_id}")
    return order_id


# -- the fakes' own checks ------------------------------------------------------------------------------


@pytest.mark.unit
@run_async
async def test_fakes_answer_in_process(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        await svc.text(BUYER, "hi")
        [menu] = svc.inbox(BUYER)
        assert choice_ids(menu)[0] == "buyer_search"
        svc.llm.replies.append((503, {"error": {"message": "down"}}))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(svc.llm.app), base_url="http://llm") as c:
            assert (await c.post("/v1/chat/completions", json={})).status_code == 503
            assert (await c.post("/v1/chat/completions", json={})).json()["choices"][0][
                "finish_reason"
            ] == "stop"
