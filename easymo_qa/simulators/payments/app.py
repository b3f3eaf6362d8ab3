"""The payments simulator's routes: MoMo's collection API and the harness API (``/_sim/...``).

Harness API: ``GET /_sim/payments?msisdn=&external_id=``, ``POST /_sim/payments/{referenceId}/redeliver``
(send the last callback again, byte for byte), ``DELETE /_sim/payments``, ``GET /_sim/rejections``
(requests refused with a 4xx or answered by a fault rule, with ``fault``), ``/_sim/faults``,
``GET /_sim/health``.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from easymo_qa.simulators.faults import SHARED_ACTIONS, fault_routes, invalid_json, shared_answer
from easymo_qa.simulators.outbox import normalise_recipient
from easymo_qa.simulators.payments.callbacks import check_callback_url
from easymo_qa.simulators.payments.model import (
    BodyError,
    Payment,
    PaymentsSimConfig,
    canonical_reference_id,
    parse_request_to_pay,
)
from easymo_qa.simulators.payments.outcomes import (
    MomoReply,
    fault_error,
    momo_error,
    momo_error_for,
    outcome_for,
)
from easymo_qa.simulators.payments.simulator import PaymentsSimulator

_PAY_GARBAGE = invalid_json({"status": "PENDING", "referenceId": "00000000-0000-0000-0000-000000000000"})
_POLL_GARBAGE = invalid_json({"status": "PENDING", "externalId": "ORD-000000"})


def _sim(request: Request) -> PaymentsSimulator:
    return request.app.state.payments


def _reply(reply: MomoReply) -> Response:
    if reply.response is not None:
        return reply.response
    if reply.payload is None:
        return Response(status_code=reply.status)
    return JSONResponse(reply.payload, status_code=reply.status)


def _auth_error(request: Request, api_key: str) -> MomoReply | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token = value.strip()
    if scheme.lower() != "bearer" or not token:
        return momo_error(401, "UNAUTHORIZED", "Access denied: a Bearer access token is required.")
    if api_key and not hmac.compare_digest(token.encode(), api_key.encode()):
        return momo_error_for(401)
    return None


def _payer_number(body: Any) -> str | None:
    """The fault key of a request, read before validation so a rule can answer even a bad body."""
    payer = body.get("payer") if isinstance(body, dict) else None
    return normalise_recipient(payer.get("partyId") if isinstance(payer, dict) else None) or None


async def request_to_pay(
    sim: PaymentsSimulator,
    reference_id: str,
    body: Any,
    callback_url: str | None,
    target_environment: str | None,
) -> MomoReply:
    """A checked request's answer: the fault rule that matches it decides, else validate, store, approve."""
    rule = sim.fault_plane.take("requesttopay", _payer_number(body))
    if rule is not None and rule.action in SHARED_ACTIONS:
        answer = await shared_answer(rule, fault_error, _PAY_GARBAGE)
        if answer is not None:  # None: delayed, then handled as usual
            return MomoReply(answer.status, answer.payload, fault=rule.id, response=answer.response)
    try:
        parsed = parse_request_to_pay(body)
    except BodyError as exc:
        return momo_error(400, exc.code, str(exc))
    if sim.find(reference_id) is not None:
        return momo_error_for(409)
    payment = Payment(
        reference_id=reference_id,
        request=parsed,
        callback_url=callback_url,
        target_environment=target_environment,
    )
    if rule is not None:
        payment.faults.append(rule.id or "")
    sim.add(payment)
    sim.schedule(payment, outcome_for(rule, sim.config))
    return MomoReply(202)


async def post_request_to_pay(request: Request) -> Response:
    sim = _sim(request)
    raw_reference = request.headers.get("x-reference-id")
    reference_id = canonical_reference_id(raw_reference)
    callback_url = request.headers.get("x-callback-url") or None
    raw = await request.body()
    body: Any = None

    reply = _auth_error(request, sim.config.api_key)
    if reply is None and reference_id is None:
        reply = momo_error(400, "INVALID_REFERENCE_ID", "X-Reference-Id must be a UUID.")
    if reply is None and callback_url is not None:
        # Refused before any fault rule runs: no rule can make the simulator call off-machine.
        problem = check_callback_url(callback_url, sim.config.callbacks_off_machine)
        if problem is not None:
            reply = momo_error(400, "INVALID_CALLBACK_URL_HOST", problem)
    if reply is None:
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            reply = momo_error(400, "INVALID_REQUEST_BODY", f"the request body is not valid JSON: {exc}")
    if reply is None:
        assert raw_reference is not None
        target_environment = request.headers.get("x-target-environment")
        reply = await request_to_pay(sim, raw_reference.strip(), body, callback_url, target_environment)
    if 400 <= reply.status < 500 or (reply.fault is not None and reply.status != 202):
        sim.rejections.append(
            {
                "at": time.time(),
                "reference_id": raw_reference,
                "http_status": reply.status,
                "error": reply.payload,
                "body": body if isinstance(body, dict) else None,
                "raw_body": None if isinstance(body, dict) else raw.decode("utf-8", "replace"),
                **({"fault": reply.fault} if reply.fault is not None else {}),
            }
        )
    return _reply(reply)


async def get_request_to_pay(request: Request) -> Response:
    sim = _sim(request)
    reply = _auth_error(request, sim.config.api_key) or await poll(sim, request.path_params["reference_id"])
    return _reply(reply)


async def poll(sim: PaymentsSimulator, reference_id: str) -> MomoReply:
    """The status query's answer, counted on the payment; a ``poll`` fault rule may answer instead."""
    payment = sim.find(reference_id)
    if payment is None:
        return momo_error_for(404)
    payment.polls += 1
    rule = sim.fault_plane.take("poll", payment.msisdn)
    if rule is None:
        return MomoReply(200, payment.status_body())
    payment.faults.append(rule.id or "")
    answer = await shared_answer(rule, fault_error, _POLL_GARBAGE)
    if answer is None:  # delayed: the status as it is now
        return MomoReply(200, payment.status_body())
    return MomoReply(answer.status, answer.payload, fault=rule.id, response=answer.response)


# --- the harness API (/_sim/...) -------------------------------------------------------------------------


async def list_payments(request: Request) -> JSONResponse:
    params = request.query_params
    found = _sim(request).select(msisdn=params.get("msisdn"), external_id=params.get("external_id"))
    return JSONResponse({"payments": [p.record() for p in found]})


async def delete_payments(request: Request) -> JSONResponse:
    _sim(request).clear()
    return JSONResponse({"cleared": True})


async def redeliver(request: Request) -> JSONResponse:
    sim = _sim(request)
    payment = sim.find(request.path_params["reference_id"])
    if payment is None:
        return JSONResponse({"error": "no such payment"}, status_code=404)
    if payment.last_callback is None:
        return JSONResponse(
            {"error": "no callback was sent for this payment yet (still pending, or no callback URL)"},
            status_code=409,
        )
    attempt = await sim.callbacks.deliver(payment, payment.last_callback)
    if "status_code" not in attempt:
        return JSONResponse({"sut_status": None, "error": attempt["error"]}, status_code=502)
    return JSONResponse({"sut_status": attempt["status_code"]})


async def list_rejections(request: Request) -> JSONResponse:
    return JSONResponse({"rejections": list(_sim(request).rejections)})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_payments_app(
    config: PaymentsSimConfig, *, callback_transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """A Starlette app playing MoMo's collection API; its state is ``app.state.payments``.

    Its fault plane is ``app.state.faults``, served at ``/_sim/faults``.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Only runs when the server enables lifespan; without it the client is simply dropped at exit.
        yield
        await app.state.payments.aclose()

    app = Starlette(
        routes=[
            Route("/_sim/health", health, methods=["GET"]),
            Route("/_sim/payments", list_payments, methods=["GET"]),
            Route("/_sim/payments", delete_payments, methods=["DELETE"]),
            Route("/_sim/payments/{reference_id}/redeliver", redeliver, methods=["POST"]),
            Route("/_sim/rejections", list_rejections, methods=["GET"]),
            *fault_routes(),
            Route("/collection/v1_0/requesttopay", post_request_to_pay, methods=["POST"]),
            Route("/collection/v1_0/requesttopay/{reference_id}", get_request_to_pay, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    sim = PaymentsSimulator(config, callback_transport=callback_transport)
    app.state.faults = sim.fault_plane
    app.state.payments = sim
    return app
