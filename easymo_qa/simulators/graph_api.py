"""The Graph API simulator: plays ``graph.facebook.com`` for the SUT, and lets the harness see what it sent.

The SUT posts replies to ``/{version}/{phone_number_id}/messages`` exactly as it would to Meta; the
simulator answers with Meta's success or error shapes, checks each message against
:mod:`easymo_qa.whatsapp.rules`, and records it in an :class:`~easymo_qa.simulators.outbox.Outbox`.
The harness reads that record through ``/_sim/...`` (see ARCHITECTURE.md, "Graph API simulator").

The route does what Meta does before a message is considered at all (auth, phone-number id, JSON), then
hands the body to :attr:`GraphSimulator.send` (:mod:`~easymo_qa.simulators.graph_send`), a plain
``async (body) -> GraphReply`` function that a fault layer wraps; any non-200 reply, or one a fault rule
decided, is recorded as a rejection by the route.

Everything is filed under the simulated user's phone digits, whether the SUT addressed him by phone or by
BSUID (:mod:`~easymo_qa.simulators.graph_recipients`); mark-as-read and typing requests are recorded as
*events* of the user whose message they name, left out of ``/_sim/messages`` unless ``events=1``.

:func:`create_graph_app` installs the fault plane (:mod:`easymo_qa.simulators.faults`) that way: op
``messages``, key the recipient's phone digits (a rule's key may be a phone or a user's BSUID). A message
answered by a rule (anything but ``delay``, which only postpones the normal answer) is recorded as a
rejection with the status answered and ``fault: <rule id>``; ``drop`` answers a normal 200 with a wamid
but records no message (lost in transit).
"""

from __future__ import annotations

import hmac
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from easymo_qa.simulators.faults import FaultPlane, fault_routes
from easymo_qa.simulators.graph_errors import graph_error, new_fbtrace_id
from easymo_qa.simulators.graph_recipients import address_of, is_bsuid, user_key
from easymo_qa.simulators.graph_send import FAULT_OPS, GraphReply, SendHandler, make_send_handler, with_faults
from easymo_qa.simulators.outbox import Outbox
from easymo_qa.whatsapp import ids, payloads, signing
from easymo_qa.whatsapp.identity import Identity

__all__ = [
    "GraphReply",
    "GraphSimConfig",
    "GraphSimulator",
    "SendHandler",
    "create_graph_app",
    "graph_error",
    "new_fbtrace_id",
]

MAX_WAIT_SECONDS = 30.0
STATUS_NAMES = ("sent", "delivered", "read", "failed")
WEBHOOK_TIMEOUT_SECONDS = 10.0

_VERSION = re.compile(r"v\d+\.\d+")


@dataclass
class GraphSimConfig:
    """Who the simulator pretends to be, and where the SUT's webhook lives (for status callbacks)."""

    access_token: str  # "" accepts any bearer token (a third-party bot whose token we don't know)
    phone_number_id: str
    display_phone_number: str
    webhook_url: str | None = None
    app_secret: str | None = None


@dataclass
class GraphSimulator:
    """State behind one simulator app; reachable as ``app.state.graph``."""

    config: GraphSimConfig
    outbox: Outbox
    send: SendHandler
    # Lets tests (or the stack) deliver status webhooks without a socket; None = real network.
    webhook_transport: httpx.AsyncBaseTransport | None = None


def _sim(request: Request) -> GraphSimulator:
    return request.app.state.graph


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


# --- the Graph API itself ------------------------------------------------------------------------------


def _parse_json(raw: bytes) -> tuple[Any, str | None]:
    """The parsed body and ``None``, or ``None`` and why it is not JSON."""
    try:
        return json.loads(raw), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, str(exc)


def _bearer_ok(request: Request, token: str) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return False
    # No configured token (a third-party bot whose token we don't know): any bearer token is accepted.
    return not token or hmac.compare_digest(value.strip().encode(), token.encode())


def _precheck(request: Request, sim: GraphSimulator, json_error: str | None) -> GraphReply | None:
    """Meta's checks before a message is looked at, in Meta's order; ``None`` when all pass."""
    version = request.path_params["version"]
    phone_number_id = request.path_params["phone_number_id"]
    if not _VERSION.fullmatch(version):
        message = f"Unknown path components: /{version}/{phone_number_id}/messages"
        return GraphReply(400, graph_error(message, code=2500))
    if not _bearer_ok(request, sim.config.access_token):
        return GraphReply(
            401, graph_error("Invalid OAuth access token - Cannot parse access token", code=190)
        )
    if phone_number_id != sim.config.phone_number_id:
        message = (
            f"Unsupported post request. Object with ID '{phone_number_id}' does not exist, cannot be loaded "
            "due to missing permissions, or does not support this operation. Please read the Graph API "
            "documentation at https://developers.facebook.com/docs/graph-api"
        )
        return GraphReply(400, graph_error(message, code=100, error_type="GraphMethodException", subcode=33))
    if json_error is not None:
        return GraphReply(
            400,
            graph_error(
                "(#100) The request body is not valid JSON",
                code=100,
                error_data={"messaging_product": "whatsapp", "details": json_error},
            ),
        )
    return None


async def post_message(request: Request) -> JSONResponse:
    sim = _sim(request)
    raw = await request.body()
    body, json_error = _parse_json(raw)
    reply = _precheck(request, sim, json_error)
    if reply is None:
        reply = await sim.send(body)
    if reply.status != 200 or reply.fault is not None:
        address = address_of(body)
        error = reply.payload.get("error", reply.payload)
        if reply.fault is not None and reply.status == 200:
            error = {"message": f"answered 200 by fault rule {reply.fault}, the message was not delivered"}
        record = sim.outbox.record_rejection(
            to=address.phone,
            body=body,
            error=error,
            http_status=reply.status,
            raw_body=raw.decode("utf-8", "replace"),
            recipient=address.recipient,
        )
        if reply.fault is not None:
            record["fault"] = reply.fault
    if reply.response is not None:
        return reply.response
    return JSONResponse(reply.payload, status_code=reply.status)


# --- the harness API (/_sim/...) -------------------------------------------------------------------------


def _cursor(request: Request) -> tuple[str | None, int, float]:
    """``to`` (a phone or a user's BSUID, as the user's phone digits), ``after`` and ``wait`` from the query
    string; raises ValueError with a readable reason."""
    params = request.query_params
    to = params.get("to")
    if to is not None:
        key = user_key(to)
        if not key:
            raise ValueError(f"to must be a phone number or a user's BSUID, got {to!r}")
        to = key
    try:
        after = int(params.get("after", "0"))
        wait = float(params.get("wait", "0"))
    except ValueError:
        raise ValueError("after must be an integer and wait a number of seconds") from None
    if wait != wait:  # NaN would make every deadline comparison false
        raise ValueError("wait must be a number of seconds")
    return to, after, min(max(wait, 0.0), MAX_WAIT_SECONDS)


async def get_messages(request: Request) -> JSONResponse:
    sim = _sim(request)
    try:
        to, after, wait = _cursor(request)
    except ValueError as exc:
        return _bad_request(str(exc))
    # Read / typing events only when asked: they are no replies, and most readers count replies.
    events = request.query_params.get("events", "").lower() in ("1", "true", "yes")
    messages = await sim.outbox.wait_for_messages(to, after, wait, events=events)
    return JSONResponse({"messages": messages, "last_seq": sim.outbox.last_seq})


async def delete_messages(request: Request) -> JSONResponse:
    _sim(request).outbox.clear()
    return JSONResponse({"cleared": True})


async def get_rejections(request: Request) -> JSONResponse:
    sim = _sim(request)
    try:
        to, after, _wait = _cursor(request)
    except ValueError as exc:
        return _bad_request(str(exc))
    return JSONResponse({"rejections": sim.outbox.rejections(to, after), "last_seq": sim.outbox.last_seq})


def _status_request(data: Any) -> tuple[str, Identity, payloads.StatusName]:
    """Validated ``(wamid, recipient, status)``; raises ValueError naming what is wrong.

    ``recipient_id`` is a phone number (a user whose phone the SUT sees) or the BSUID of a simulated user:
    then the status is one about a username-only user (no ``recipient_id``, only ``recipient_user_id``).
    """
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object with wamid, recipient_id and status")
    wamid, recipient, state = data.get("wamid"), data.get("recipient_id"), data.get("status")
    if not isinstance(wamid, str) or not wamid:
        raise ValueError("wamid is required")
    try:
        phone = user_key(recipient)
    except ValueError as exc:
        raise ValueError(f"recipient_id: {exc}") from None
    if not phone:
        raise ValueError("recipient_id must be a phone number or a user's BSUID")
    if state not in STATUS_NAMES:
        raise ValueError(f"status must be one of {', '.join(STATUS_NAMES)}, got {state!r}")
    if is_bsuid(recipient):
        generation = (ids.user_for_bsuid(recipient) or (phone, 0))[1]
        return wamid, Identity(phone, "username_only", generation), state
    return wamid, Identity(phone), state


async def post_status(request: Request) -> JSONResponse:
    sim = _sim(request)
    config = sim.config
    if not config.webhook_url or not config.app_secret:
        return JSONResponse(
            {"error": "status webhooks need webhook_url and app_secret in the simulator config"},
            status_code=409,
        )
    data, json_error = _parse_json(await request.body())
    try:
        if json_error is not None:
            raise ValueError(f"request body is not valid JSON: {json_error}")
        wamid, recipient, state = _status_request(data)
    except ValueError as exc:
        return _bad_request(str(exc))

    business = payloads.BusinessPhone(config.phone_number_id, config.display_phone_number)
    item = payloads.status(recipient, wamid, state)
    webhook = payloads.webhook(business, statuses=[item], identities=[recipient])
    body = signing.encode_body(webhook)
    headers = signing.signed_headers(body, config.app_secret)
    try:
        async with httpx.AsyncClient(
            transport=sim.webhook_transport, timeout=WEBHOOK_TIMEOUT_SECONDS
        ) as client:
            response = await client.post(config.webhook_url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return JSONResponse(
            {"sut_status": None, "error": f"could not deliver the webhook: {exc!r}"}, status_code=502
        )
    return JSONResponse({"sut_status": response.status_code})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def clock(request: Request) -> JSONResponse:
    """This machine's wall clock (Unix seconds): the load test estimates its offset to the harness from it."""
    return JSONResponse({"now": time.time()})


def create_graph_app(
    config: GraphSimConfig,
    *,
    outbox: Outbox | None = None,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """A Starlette app playing graph.facebook.com; its state is ``app.state.graph`` (a GraphSimulator).

    Its fault plane is ``app.state.faults``, served at ``/_sim/faults``.
    """
    box = outbox if outbox is not None else Outbox()
    faults = FaultPlane("graph", FAULT_OPS, normalise_key=user_key)
    app = Starlette(
        routes=[
            Route("/_sim/health", health, methods=["GET"]),
            Route("/_sim/clock", clock, methods=["GET"]),
            Route("/_sim/messages", get_messages, methods=["GET"]),
            Route("/_sim/messages", delete_messages, methods=["DELETE"]),
            Route("/_sim/rejections", get_rejections, methods=["GET"]),
            Route("/_sim/statuses", post_status, methods=["POST"]),
            *fault_routes(),
            Route("/{version}/{phone_number_id}/messages", post_message, methods=["POST"]),
        ]
    )
    app.state.faults = faults
    app.state.graph = GraphSimulator(
        config=config,
        outbox=box,
        send=with_faults(make_send_handler(box), faults),
        webhook_transport=webhook_transport,
    )
    return app
