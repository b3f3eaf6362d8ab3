"""The Graph API simulator: plays ``graph.facebook.com`` for the SUT, and lets the harness see what it sent.

The SUT posts replies to ``/{version}/{phone_number_id}/messages`` exactly as it would to Meta; the
simulator answers with Meta's success or error shapes, checks each message against
:mod:`easymo_qa.whatsapp.rules`, and records it in an :class:`~easymo_qa.simulators.outbox.Outbox`.
The harness reads that record through ``/_sim/...`` (see ARCHITECTURE.md, "Graph API simulator").

The route does what Meta does before a message is considered at all (auth, phone-number id, JSON), then
hands the body to :attr:`GraphSimulator.send`, a plain ``async (body) -> GraphReply`` function that a
fault layer wraps; any non-200 reply, or one a fault rule decided, is recorded as a rejection by the route.

:func:`create_graph_app` installs the fault plane (:mod:`easymo_qa.simulators.faults`) that way: op
``messages``, key the recipient's digits. A message answered by a rule (anything but ``delay``, which only
postpones the normal answer) is recorded as a rejection with the status answered and ``fault: <rule id>``;
``drop`` answers a normal 200 with a wamid but records no message (lost in transit).
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from easymo_qa.simulators.faults import FaultPlane, FaultRule, fault_routes, invalid_json, shared_answer
from easymo_qa.simulators.outbox import Outbox, normalise_recipient
from easymo_qa.whatsapp import payloads, signing
from easymo_qa.whatsapp.rules.base import RuleViolation
from easymo_qa.whatsapp.rules.request import is_status_update, validate_outbound

MAX_WAIT_SECONDS = 30.0
STATUS_NAMES = ("sent", "delivered", "read", "failed")
WEBHOOK_TIMEOUT_SECONDS = 10.0

_VERSION = re.compile(r"v\d+\.\d+")
# Meta's subcode on message-validation errors from the messages endpoint.
_MESSAGE_ERROR_SUBCODE = 2494010


@dataclass
class GraphSimConfig:
    """Who the simulator pretends to be, and where the SUT's webhook lives (for status callbacks)."""

    access_token: str  # "" accepts any bearer token (a third-party bot whose token we don't know)
    phone_number_id: str
    display_phone_number: str
    webhook_url: str | None = None
    app_secret: str | None = None


@dataclass(frozen=True)
class GraphReply:
    """What the messages endpoint answers: an HTTP status and Meta's JSON body.

    ``fault`` is the id of the fault rule that decided the answer; ``response``, when set, is sent as is
    instead of ``payload`` (a fault's malformed body or reset).
    """

    status: int
    payload: dict[str, Any]
    fault: str | None = None
    response: Response | None = None


SendHandler = Callable[[dict[str, Any]], Awaitable[GraphReply]]


def new_fbtrace_id() -> str:
    """An ``fbtrace_id`` in Meta's style: ``A`` followed by 22 URL-safe characters."""
    return "A" + secrets.token_urlsafe(17)[:22]


def graph_error(
    message: str,
    *,
    code: int,
    error_type: str = "OAuthException",
    subcode: int | None = None,
    error_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Graph API error body: ``{"error": {message, type, code, ..., fbtrace_id}}``."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if error_data is not None:
        error["error_data"] = error_data
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = new_fbtrace_id()
    return {"error": error}


def violations_error(violations: list[RuleViolation]) -> dict[str, Any]:
    """Meta's answer to an invalid message: the first violation headlines, all of them are in the details."""
    first = violations[0]
    return graph_error(
        f"(#{first.code}) {first.message}",
        code=first.code,
        subcode=_MESSAGE_ERROR_SUBCODE,
        error_data={
            "messaging_product": "whatsapp",
            "details": "; ".join(v.message for v in violations),
        },
    )


def accepted(to: str, wamid: str, *, bsuid: bool = False) -> dict[str, Any]:
    """Meta's 200 answer to a sent message; one sent to a BSUID names its ``user_id`` (no ``wa_id``)."""
    contact = {"input": to, "user_id": to} if bsuid else {"input": to, "wa_id": normalise_recipient(to)}
    return {"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": wamid}]}


def make_send_handler(outbox: Outbox) -> SendHandler:
    """The fault-free handler: validate the message, then record it and answer like Meta."""

    async def send(body: dict[str, Any]) -> GraphReply:
        violations = validate_outbound(body)
        if violations:
            return GraphReply(400, violations_error(violations))
        if is_status_update(body):  # mark as read / typing: the user's chat gets nothing
            return GraphReply(200, {"success": True})  # TODO(issue 12): record read / typing events
        if "to" not in body:
            # TODO(issue 12): deliver to the BSUID's simulated user; the outbox keys on phone digits.
            return GraphReply(200, accepted(body["recipient"], payloads.new_wamid(outbound=True), bsuid=True))
        to = body["to"]
        wamid = payloads.new_wamid(to, outbound=True)
        outbox.record_message(wamid=wamid, to=to, kind=body.get("type") or "text", body=body)
        return GraphReply(200, accepted(to, wamid))

    return send


# --- faults ------------------------------------------------------------------------------------------------

FAULT_OPS = {"messages": ("status", "delay", "hang", "malformed", "reset", "drop")}
# Meta's code and message for the errors a fault may answer (graph_code picks one; others: a generic one).
GRAPH_CODES: dict[int, str] = {
    1: "(#1) An unknown error occurred",
    2: "(#2) Service temporarily unavailable",
    4: "(#4) Application request limit reached",
    10: "(#10) Application does not have permission for this action",
    100: "(#100) Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    130429: "(#130429) Rate limit hit",
    131000: "(#131000) Something went wrong",
    131026: "(#131026) Message undeliverable",
    131048: "(#131048) Spam rate limit hit",
    131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
}
_CODE_BY_STATUS = {401: 190, 403: 10, 429: 130429, 500: 131000, 502: 2, 503: 2, 504: 2}


def fault_error(status: int, rule: FaultRule) -> dict[str, Any]:
    """The Graph error a fault answers with ``status``: 429 is code 130429, 503 code 2, and so on."""
    code = rule.graph_code or _CODE_BY_STATUS.get(status, 100 if status < 500 else 1)
    message = GRAPH_CODES.get(code, f"(#{code}) Simulated error")
    error_data = {"messaging_product": "whatsapp", "details": f"simulated by fault rule {rule.id}"}
    return graph_error(message, code=code, error_data=error_data)


def with_faults(send: SendHandler, plane: FaultPlane) -> SendHandler:
    """``send`` behind the fault plane (op ``messages``, key the recipient's digits)."""
    garbage = invalid_json(accepted("250700000000", "wamid.simulated"))

    async def faulted_send(body: dict[str, Any]) -> GraphReply:
        to = body.get("to") if isinstance(body, dict) else None
        rule = plane.take("messages", normalise_recipient(to) or None)
        if rule is None:
            return await send(body)
        if rule.action == "drop":
            wamid = payloads.new_wamid(str(to or ""), outbound=True)
            return GraphReply(200, accepted(str(to or ""), wamid), fault=rule.id)
        answer = await shared_answer(rule, fault_error, garbage)
        if answer is None:  # delayed; the message then goes through as usual
            return await send(body)
        return GraphReply(answer.status, answer.payload or {}, fault=rule.id, response=answer.response)

    return faulted_send


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
        to = body.get("to") if isinstance(body, dict) else None
        error = reply.payload.get("error", reply.payload)
        if reply.fault is not None and reply.status == 200:
            error = {"message": f"answered 200 by fault rule {reply.fault}, the message was not delivered"}
        record = sim.outbox.record_rejection(
            to=to, body=body, error=error, http_status=reply.status, raw_body=raw.decode("utf-8", "replace")
        )
        if reply.fault is not None:
            record["fault"] = reply.fault
    if reply.response is not None:
        return reply.response
    return JSONResponse(reply.payload, status_code=reply.status)


# --- the harness API (/_sim/...) -------------------------------------------------------------------------


def _cursor(request: Request) -> tuple[str | None, int, float]:
    """``to``, ``after`` and ``wait`` from the query string; raises ValueError with a readable reason."""
    params = request.query_params
    to = params.get("to")
    if to is not None and not normalise_recipient(to):
        raise ValueError(f"to must be a phone number, got {to!r}")
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
    messages = await sim.outbox.wait_for_messages(to, after, wait)
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


def _status_request(data: Any) -> tuple[str, str, payloads.StatusName]:
    """Validated ``(wamid, recipient_id, status)``; raises ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object with wamid, recipient_id and status")
    wamid, recipient, state = data.get("wamid"), data.get("recipient_id"), data.get("status")
    if not isinstance(wamid, str) or not wamid:
        raise ValueError("wamid is required")
    if not normalise_recipient(recipient):
        raise ValueError("recipient_id must be a phone number")
    if state not in STATUS_NAMES:
        raise ValueError(f"status must be one of {', '.join(STATUS_NAMES)}, got {state!r}")
    return wamid, normalise_recipient(recipient), state


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
    webhook = payloads.webhook(business, statuses=[payloads.status(recipient, wamid, state)])
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
    faults = FaultPlane("graph", FAULT_OPS, normalise_key=normalise_recipient)
    app = Starlette(
        routes=[
            Route("/_sim/health", health, methods=["GET"]),
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
