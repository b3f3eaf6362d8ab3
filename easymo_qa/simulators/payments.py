"""The payments simulator: plays MTN MoMo's collection API (request-to-pay) for the SUT.

The SUT asks for a payment with ``POST /collection/v1_0/requesttopay`` (``X-Reference-Id`` names it),
gets ``202 Accepted``, and learns the outcome from a signed callback or by polling
``GET /collection/v1_0/requesttopay/{referenceId}``.

Outcome by payer number (``payer.partyId``), chosen by :func:`decide_outcome`:

============================  ==============================================================
payer number ends in          outcome
============================  ==============================================================
``99``                        FAILED, reason ``APPROVAL_REJECTED``, after ``approve_delay_seconds``
``98``                        SUCCESSFUL after ``slow_delay_seconds`` (the shopper is slow to approve)
``97``                        stays PENDING forever: no callback, ever
anything else                 SUCCESSFUL after ``approve_delay_seconds``
============================  ==============================================================

On resolution, when the request carried ``X-Callback-Url``, the simulator POSTs the compact JSON
``{"referenceId", "externalId", "amount", "currency", "financialTransactionId" (SUCCESSFUL only),
"status", "reason" (FAILED only), "payer"}`` with ``X-Callback-Signature: sha256=<hex HMAC-SHA256 of the
exact body bytes, keyed with callback_secret>``. Callback URLs must be loopback (127.0.0.0/8, ``::1``,
``localhost``); others are refused with 400 when the payment is requested: the harness never sends
traffic off the machine.

Two seams for the fault layer, both plain attributes of :class:`PaymentsSimulator`
(``app.state.payments``): :attr:`~PaymentsSimulator.request_to_pay` handles an authenticated, parsed
request (wrap it for delays, 500s, ...), and :attr:`~PaymentsSimulator.decide_outcome` maps a payer
number to an :class:`Outcome` (replace it to decline one MSISDN, slow everyone down, ...).

Every outcome MoMo documents can be produced: ``SUCCESSFUL``; ``FAILED`` with any reason of
:data:`FAILURE_REASONS`; ``PENDING`` for ever (the payer never approves); and a callback that never
comes. MTN sends the callback once and never retries it, so a partner must poll ``GET
/requesttopay/{referenceId}`` (https://momodeveloper.mtn.com/api-documentation/callback); each poll of a
payment is counted in its record (``polls``).

Fault rules (:mod:`easymo_qa.simulators.faults`, ``app.state.faults``, ``/_sim/faults``), key the payer
number: op ``requesttopay`` takes the shared actions (status, delay, hang, malformed, reset: no payment is
made unless delayed) and the outcome actions ``drop`` (202, then PENDING forever), ``decline`` (FAILED
with ``reason``, one of :data:`FAILURE_REASONS`, default ``APPROVAL_REJECTED``), ``slow_callback``
(SUCCESSFUL after ``seconds``) and ``duplicate_callback`` (SUCCESSFUL, the callback sent twice,
``seconds`` apart); op ``callback`` acts on the first callback of a resolved payment: ``delay`` it (a
callback arriving after the SUT polled, or after a later payment's: out of order), ``drop`` it (the SUT
must poll), or send it ``malformed`` (signed, not JSON); op ``poll`` takes the shared actions on the
status query (a 500, a hang, a reset while the SUT polls). A payment touched by a rule lists the rule ids
in ``faults``; a request answered by one is kept in ``/_sim/rejections`` with ``fault``.

Harness API: ``GET /_sim/payments?msisdn=&external_id=``, ``POST /_sim/payments/{referenceId}/redeliver``
(send the last callback again, byte for byte: the duplicate-callback scenario), ``DELETE /_sim/payments``,
``GET /_sim/rejections`` (requests refused with a 4xx or answered by a fault rule), ``GET /_sim/health``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from easymo_qa.simulators.faults import (
    DEFAULT_DUPLICATE_GAP_SECONDS,
    FaultPlane,
    FaultRule,
    fault_routes,
    invalid_json,
    shared_answer,
)
from easymo_qa.simulators.outbox import normalise_recipient
from easymo_qa.simulators.server import loopback_address

CURRENCY = "RWF"
CALLBACK_TIMEOUT_SECONDS = 10.0
SIGNATURE_HEADER = "X-Callback-Signature"
DEFAULT_MAX_PAYMENTS = 200_000
MAX_REJECTIONS = 10_000

Status = Literal["PENDING", "SUCCESSFUL", "FAILED"]
# The reasons a FAILED request-to-pay carries, as MTN documents them for Collections:
# https://momodeveloper.mtn.com/api-documentation/common-error (INTERNAL_PROCESSING_ERROR, PAYEE_NOT_FOUND,
# PAYER_NOT_FOUND, COULD_NOT_PERFORM_TRANSACTION: "not approved within 5 minutes"), the 2024 update
# https://momodevelopercommunity.mtn.com/product-updates/reason-for-some-failed-api-responses-updated-192
# (NOT_ENOUGH_FUNDS, PAYER_LIMIT_REACHED, SENDER_ACCOUNT_NOT_ACTIVE, NOT_ALLOWED) and the
# RequestToPayReason enum of the Open API (APPROVAL_REJECTED, EXPIRED, SERVICE_UNAVAILABLE, ...).
FAILURE_REASONS = (
    "APPROVAL_REJECTED",
    "EXPIRED",
    "NOT_ENOUGH_FUNDS",
    "PAYER_LIMIT_REACHED",
    "PAYER_NOT_FOUND",
    "PAYEE_NOT_FOUND",
    "PAYEE_NOT_ALLOWED_TO_RECEIVE",
    "SENDER_ACCOUNT_NOT_ACTIVE",
    "NOT_ALLOWED",
    "COULD_NOT_PERFORM_TRANSACTION",
    "INTERNAL_PROCESSING_ERROR",
    "SERVICE_UNAVAILABLE",
)

_DIGITS = re.compile(r"[0-9]+")
_MSISDN = re.compile(r"[0-9]{9,15}")


@dataclass
class PaymentsSimConfig:
    """Secrets and timings of the simulated MoMo account.

    ``callback_secret`` comes first because it has no default (a dataclass cannot put it after ``api_key``).
    """

    callback_secret: str
    api_key: str = ""  # "" accepts any bearer token
    approve_delay_seconds: float = 0.05
    slow_delay_seconds: float = 2.0


@dataclass(frozen=True)
class Outcome:
    """How a request-to-pay ends: ``status`` after ``delay_seconds``; ``delay_seconds=None`` never ends.

    ``repeat_after``: send the callback a second time, byte for byte, this many seconds after the first.
    """

    status: Status
    delay_seconds: float | None
    reason: str | None = None
    repeat_after: float | None = None


OutcomeDecider = Callable[[str], Outcome]


def decide_outcome(msisdn: str, config: PaymentsSimConfig) -> Outcome:
    """The fault-free outcome for a payer number (see the table in the module docstring)."""
    digits = normalise_recipient(msisdn)
    if digits.endswith("99"):
        return Outcome("FAILED", config.approve_delay_seconds, "APPROVAL_REJECTED")
    if digits.endswith("98"):
        return Outcome("SUCCESSFUL", config.slow_delay_seconds)
    if digits.endswith("97"):
        return Outcome("PENDING", None)
    return Outcome("SUCCESSFUL", config.approve_delay_seconds)


@dataclass(frozen=True)
class PayRequest:
    """An authenticated request-to-pay as the handler sees it; ``body`` is the parsed JSON, any shape."""

    reference_id: str
    body: Any
    callback_url: str | None
    target_environment: str | None
    outcome: Outcome | None = None  # decided in advance (by a fault rule); None: ask decide_outcome
    fault: str | None = None  # the fault rule that applied to this request


@dataclass(frozen=True)
class MomoReply:
    """What a MoMo endpoint answers: an HTTP status and a JSON body (``None`` = empty body).

    ``fault`` is the fault rule that decided the answer; ``response``, when set, is sent as is.
    """

    status: int
    payload: dict[str, Any] | None = None
    fault: str | None = None
    response: Response | None = None


RequestToPayHandler = Callable[[PayRequest], Awaitable[MomoReply]]


def momo_error(status: int, code: str, message: str) -> MomoReply:
    """MoMo's error shape: ``{"code", "message"}``."""
    return MomoReply(status, {"code": code, "message": message})


@dataclass
class Payment:
    """One request-to-pay and everything that happened to it."""

    reference_id: str
    external_id: str
    amount: str
    currency: str
    payer: dict[str, Any]
    payer_message: str | None
    payee_note: str | None
    callback_url: str | None
    target_environment: str | None
    requested_at: float
    status: Status = "PENDING"
    reason: str | None = None
    financial_transaction_id: str | None = None
    resolved_at: float | None = None
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    last_callback: bytes | None = None  # the exact bytes sent, so a redelivery is byte-identical
    faults: list[str] = field(default_factory=list)  # ids of the fault rules that touched this payment
    polls: int = 0  # GET requesttopay/{referenceId} calls the SUT made for this payment

    @property
    def msisdn(self) -> str:
        return str(self.payer.get("partyId", ""))

    def resolve(self, status: Status, reason: str | None) -> None:
        self.status = status
        self.reason = reason
        self.resolved_at = time.time()
        if status == "SUCCESSFUL":
            # MoMo's financial transaction ids are all digits; ten of them look the part.
            self.financial_transaction_id = str(1_000_000_000 + secrets.randbelow(9_000_000_000))

    def status_body(self) -> dict[str, Any]:
        """The ``GET /requesttopay/{referenceId}`` answer."""
        body: dict[str, Any] = {
            "amount": self.amount,
            "currency": self.currency,
            "externalId": self.external_id,
            "payer": self.payer,
            "status": self.status,
        }
        if self.reason is not None:
            body["reason"] = self.reason
        if self.financial_transaction_id is not None:
            body["financialTransactionId"] = self.financial_transaction_id
        return body

    def callback_body(self) -> dict[str, Any]:
        """The callback JSON, keys in the documented order."""
        body: dict[str, Any] = {
            "referenceId": self.reference_id,
            "externalId": self.external_id,
            "amount": self.amount,
            "currency": self.currency,
        }
        if self.financial_transaction_id is not None:
            body["financialTransactionId"] = self.financial_transaction_id
        body["status"] = self.status
        if self.reason is not None:
            body["reason"] = self.reason
        body["payer"] = self.payer
        return body

    def record(self) -> dict[str, Any]:
        """The harness view (``/_sim/payments``)."""
        return {
            "reference_id": self.reference_id,
            "external_id": self.external_id,
            "msisdn": self.msisdn,
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status,
            "reason": self.reason,
            "financial_transaction_id": self.financial_transaction_id,
            "callback_url": self.callback_url,
            "requested_at": self.requested_at,
            "resolved_at": self.resolved_at,
            "callbacks": list(self.callbacks),
            "faults": list(self.faults),
            "polls": self.polls,
        }


def sign_callback(body: bytes, secret: str) -> str:
    """The ``X-Callback-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode_callback(body: dict[str, Any]) -> bytes:
    """Compact JSON bytes; the signature covers exactly these."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_reference_id(value: str | None) -> str | None:
    """The lowercase canonical form of a UUID, or ``None`` when ``value`` is not one."""
    if not value:
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


def check_callback_url(url: str) -> str | None:
    """Why ``url`` may not receive callbacks, or ``None`` when it is an http(s) URL on loopback."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "the callback URL is not a valid URL"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return "the callback URL must be an http(s) URL"
    try:
        loopback_address(parsed.host)
    except ValueError:
        return f"the callback host {parsed.host!r} is not loopback: this simulator only calls back locally"
    return None


class BodyError(ValueError):
    """A request body MoMo would refuse; carries MoMo's error ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BodyError("INVALID_REQUEST_BODY", f"{key} must be a string")
    return value


def validate_body(body: Any) -> dict[str, Any]:
    """The request-to-pay fields, checked; raises BodyError naming the first problem."""
    if not isinstance(body, dict):
        raise BodyError("INVALID_REQUEST_BODY", "the request body must be a JSON object")
    amount = body.get("amount")
    # MoMo takes the amount as a string; a JSON number is a client bug worth catching.
    if not isinstance(amount, str) or not _DIGITS.fullmatch(amount) or int(amount) <= 0:
        raise BodyError("INVALID_AMOUNT", f"amount must be a string of digits above zero, got {amount!r}")
    currency = body.get("currency")
    if currency != CURRENCY:
        raise BodyError("INVALID_CURRENCY", f"currency must be {CURRENCY}, got {currency!r}")
    external_id = body.get("externalId")
    if not isinstance(external_id, str) or not external_id.strip():
        raise BodyError("INVALID_REQUEST_BODY", "externalId is required and must be a non-empty string")
    payer = body.get("payer")
    if not isinstance(payer, dict) or payer.get("partyIdType") != "MSISDN":
        raise BodyError("INVALID_PAYER", 'payer must be {"partyIdType": "MSISDN", "partyId": "<digits>"}')
    party_id = payer.get("partyId")
    if not isinstance(party_id, str) or not _MSISDN.fullmatch(party_id):
        raise BodyError("INVALID_PAYER", f"payer.partyId must be 9-15 digits, got {party_id!r}")
    return {
        "amount": amount,
        "currency": currency,
        "external_id": external_id,
        "payer": {"partyIdType": "MSISDN", "partyId": party_id},
        "payer_message": _optional_text(body, "payerMessage"),
        "payee_note": _optional_text(body, "payeeNote"),
    }


def make_request_to_pay_handler(sim: PaymentsSimulator) -> RequestToPayHandler:
    """The fault-free handler: validate, refuse a reused reference id, store PENDING, schedule the outcome."""

    async def request_to_pay(request: PayRequest) -> MomoReply:
        try:
            fields = validate_body(request.body)
        except BodyError as exc:
            return momo_error(400, exc.code, str(exc))
        if sim.find(request.reference_id) is not None:
            return momo_error(
                409, "RESOURCE_ALREADY_EXIST", "Duplicated reference id. Creation of resource failed."
            )
        payment = Payment(
            reference_id=request.reference_id,
            callback_url=request.callback_url,
            target_environment=request.target_environment,
            requested_at=time.time(),
            **fields,
        )
        if request.fault is not None:
            payment.faults.append(request.fault)
        sim.add(payment)
        # Looked up at call time, so a fault layer that replaced sim.decide_outcome is honoured.
        outcome = request.outcome if request.outcome is not None else sim.decide_outcome(payment.msisdn)
        sim.schedule(payment, outcome)
        return MomoReply(202)

    return request_to_pay


@dataclass
class PaymentsSimulator:
    """State behind one payments simulator app; reachable as ``app.state.payments``."""

    config: PaymentsSimConfig
    # Lets tests deliver callbacks without a socket; None = real (loopback) network.
    callback_transport: httpx.AsyncBaseTransport | None = None
    max_payments: int = DEFAULT_MAX_PAYMENTS
    # Consulted (op "callback") before a payment's first callback; None: no faults.
    fault_plane: FaultPlane | None = None
    request_to_pay: RequestToPayHandler = field(init=False)
    decide_outcome: OutcomeDecider = field(init=False)
    payments: dict[str, Payment] = field(default_factory=dict, init=False)
    rejections: deque[dict[str, Any]] = field(
        default_factory=lambda: deque(maxlen=MAX_REJECTIONS), init=False
    )
    _client: httpx.AsyncClient | None = field(default=None, init=False, repr=False)
    _client_loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self.request_to_pay = make_request_to_pay_handler(self)
        self.decide_outcome = lambda msisdn: decide_outcome(msisdn, self.config)

    # --- the store -----------------------------------------------------------------------------------

    def find(self, reference_id: str) -> Payment | None:
        key = canonical_reference_id(reference_id)
        return self.payments.get(key) if key else None

    def add(self, payment: Payment) -> None:
        key = canonical_reference_id(payment.reference_id)
        assert key is not None, "reference ids are validated before a payment is stored"
        self.payments[key] = payment
        while len(self.payments) > self.max_payments:
            # Dicts keep insertion order: the first key is the oldest payment.
            del self.payments[next(iter(self.payments))]

    def select(self, msisdn: str | None = None, external_id: str | None = None) -> list[Payment]:
        wanted = normalise_recipient(msisdn) if msisdn is not None else None
        return [
            p
            for p in self.payments.values()
            if (wanted is None or normalise_recipient(p.msisdn) == wanted)
            and (external_id is None or p.external_id == external_id)
        ]

    def clear(self) -> None:
        """Forget every payment and cancel pending resolutions, so none calls back into the next test."""
        for task in list(self._tasks):
            if not task.done() and not task.get_loop().is_closed():
                task.cancel()
        self._tasks.clear()
        self.payments.clear()
        self.rejections.clear()

    # --- resolution and callbacks --------------------------------------------------------------------

    def schedule(self, payment: Payment, outcome: Outcome) -> None:
        """Resolve ``payment`` as ``outcome`` says, in the background; PENDING or no delay = never."""
        if outcome.status == "PENDING" or outcome.delay_seconds is None:
            return
        task = asyncio.get_running_loop().create_task(self._resolve(payment, outcome))
        # The loop keeps only weak references to tasks; hold one until it finishes.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, payment: Payment, outcome: Outcome) -> None:
        await asyncio.sleep(max(outcome.delay_seconds or 0.0, 0.0))
        payment.resolve(outcome.status, outcome.reason)
        if not payment.callback_url:
            return
        body = encode_callback(payment.callback_body())
        rule = self.fault_plane.take("callback", payment.msisdn) if self.fault_plane else None
        if rule is not None:
            payment.faults.append(rule.id or "")
            if rule.action == "drop":
                return
            if rule.action == "delay":
                await asyncio.sleep(rule.seconds or 0.0)
            elif rule.action == "malformed":
                body = MALFORMED_CALLBACK
        payment.last_callback = body
        await self.deliver(payment, body)
        if outcome.repeat_after is not None:
            await asyncio.sleep(outcome.repeat_after)
            await self.deliver(payment, body)

    def client(self) -> httpx.AsyncClient:
        """The shared callback client, created on first use in the running loop.

        Tests run several ``asyncio.run`` calls against one app, and a client's connections belong to
        the loop that opened them; a client from a finished loop is abandoned and a new one made.
        """
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(
                transport=self.callback_transport, timeout=CALLBACK_TIMEOUT_SECONDS
            )
            self._client_loop = loop
        return self._client

    async def deliver(self, payment: Payment, body: bytes) -> dict[str, Any]:
        """POST ``body`` (signed) to the payment's callback URL and record the attempt; never raises."""
        url = payment.callback_url
        attempt: dict[str, Any] = {"at": time.time(), "url": url}
        problem = check_callback_url(url) if url else "the payment has no callback URL"
        if problem is not None:
            # Checked at request time already; checked again here because this is where traffic leaves.
            attempt["error"] = problem
        else:
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign_callback(body, self.config.callback_secret),
            }
            try:
                response = await self.client().post(url, content=body, headers=headers)
                attempt["status_code"] = response.status_code
            except Exception as exc:
                # A broken SUT (connection refused, or an in-process app raising) must end up in the
                # record, not kill the resolution task silently.
                attempt["error"] = repr(exc)
        payment.callbacks.append(attempt)
        return attempt

    async def aclose(self) -> None:
        """Close the shared callback client (if it belongs to the running loop)."""
        client, self._client = self._client, None
        if client is not None and self._client_loop is asyncio.get_running_loop():
            await client.aclose()
        self._client_loop = None


# --- faults ------------------------------------------------------------------------------------------------

_SHARED = ("status", "delay", "hang", "malformed", "reset")
FAULT_OPS = {
    "requesttopay": (*_SHARED, "drop", "decline", "slow_callback", "duplicate_callback"),
    "callback": ("delay", "drop", "malformed"),
    "poll": _SHARED,
}
MALFORMED_CALLBACK = b'{"referenceId": "'
_MOMO_ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_REQUEST_BODY", "The request is invalid."),
    401: ("UNAUTHORIZED", "Access denied: the access token is invalid or expired."),
    403: ("NOT_ALLOWED", "Authorization failed. User does not have permission."),
    404: ("RESOURCE_NOT_FOUND", "Requested resource was not found."),
    409: ("RESOURCE_ALREADY_EXIST", "Duplicated reference id. Creation of resource failed."),
    429: ("TOO_MANY_REQUESTS", "Rate limit exceeded, try again later."),
    500: ("INTERNAL_PROCESSING_ERROR", "An internal error occurred while processing."),
    502: ("SERVICE_UNAVAILABLE", "Service unavailable."),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable."),
    504: ("SERVICE_UNAVAILABLE", "Service unavailable: the request timed out."),
}


def fault_error(status: int, rule: FaultRule) -> dict[str, Any]:
    """MoMo's ``{"code", "message"}`` for ``status``."""
    default = ("NOT_ALLOWED", "Not allowed.") if status < 500 else ("INTERNAL_PROCESSING_ERROR", "Error.")
    code, message = _MOMO_ERRORS.get(status, default)
    return {"code": code, "message": message}


def check_rule(rule: FaultRule) -> str | None:
    """Why this simulator cannot honour ``rule`` (an undocumented failure reason), else None."""
    if rule.reason is not None and rule.reason not in FAILURE_REASONS:
        valid = ", ".join(FAILURE_REASONS)
        return f"reason {rule.reason!r} is not a documented MoMo failure reason ({valid})"
    return None


def fault_outcome(rule: FaultRule, config: PaymentsSimConfig) -> Outcome | None:
    """The outcome an outcome action imposes; ``None`` for the shared actions."""
    match rule.action:
        case "drop":
            return Outcome("PENDING", None)
        case "decline":
            return Outcome("FAILED", config.approve_delay_seconds, rule.reason or "APPROVAL_REJECTED")
        case "slow_callback":
            return Outcome("SUCCESSFUL", rule.seconds)
        case "duplicate_callback":
            gap = DEFAULT_DUPLICATE_GAP_SECONDS if rule.seconds is None else rule.seconds
            return Outcome("SUCCESSFUL", config.approve_delay_seconds, repeat_after=gap)
    return None


def _payer_number(body: Any) -> str | None:
    payer = body.get("payer") if isinstance(body, dict) else None
    party_id = payer.get("partyId") if isinstance(payer, dict) else None
    return normalise_recipient(party_id) or None


def with_faults(request_to_pay: RequestToPayHandler, sim: PaymentsSimulator) -> RequestToPayHandler:
    """``request_to_pay`` behind ``sim.fault_plane`` (op ``requesttopay``, key the payer number)."""
    garbage = invalid_json({"status": "PENDING", "referenceId": "00000000-0000-0000-0000-000000000000"})

    async def faulted_request_to_pay(request: PayRequest) -> MomoReply:
        plane = sim.fault_plane
        rule = plane.take("requesttopay", _payer_number(request.body)) if plane else None
        if rule is None:
            return await request_to_pay(request)
        outcome = fault_outcome(rule, sim.config)
        if outcome is not None:
            return await request_to_pay(replace(request, outcome=outcome, fault=rule.id))
        answer = await shared_answer(rule, fault_error, garbage)
        if answer is None:  # delayed, then handled as usual
            return await request_to_pay(replace(request, fault=rule.id))
        return MomoReply(answer.status, answer.payload, fault=rule.id, response=answer.response)

    return faulted_request_to_pay


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
        return momo_error(401, "UNAUTHORIZED", "Access denied: the access token is invalid or expired.")
    return None


# --- the MoMo collection API ---------------------------------------------------------------------------


async def post_request_to_pay(request: Request) -> Response:
    sim = _sim(request)
    headers = request.headers
    raw_reference = headers.get("x-reference-id")
    reference_id = canonical_reference_id(raw_reference)
    callback_url = headers.get("x-callback-url") or None
    raw = await request.body()
    body: Any = None

    reply = _auth_error(request, sim.config.api_key)
    if reply is None and reference_id is None:
        reply = momo_error(400, "INVALID_REFERENCE_ID", "X-Reference-Id must be a UUID.")
    if reply is None and callback_url is not None:
        # Refused here, before any fault layer runs: no wrapper can make the simulator call off-machine.
        problem = check_callback_url(callback_url)
        if problem is not None:
            reply = momo_error(400, "INVALID_CALLBACK_URL_HOST", problem)
    if reply is None:
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            reply = momo_error(400, "INVALID_REQUEST_BODY", f"the request body is not valid JSON: {exc}")
    if reply is None:
        assert reference_id is not None
        reply = await sim.request_to_pay(
            PayRequest(
                reference_id=raw_reference.strip() if raw_reference else reference_id,
                body=body,
                callback_url=callback_url,
                target_environment=headers.get("x-target-environment"),
            )
        )
    if 400 <= reply.status < 500 or (reply.fault is not None and reply.status != 202):
        rejection = {
            "at": time.time(),
            "reference_id": raw_reference,
            "http_status": reply.status,
            "error": reply.payload,
            "body": body if isinstance(body, dict) else None,
            "raw_body": None if isinstance(body, dict) else raw.decode("utf-8", "replace"),
        }
        if reply.fault is not None:
            rejection["fault"] = reply.fault
        sim.rejections.append(rejection)
    return _reply(reply)


_POLL_GARBAGE = invalid_json({"status": "PENDING", "externalId": "ORD-000000"})


async def get_request_to_pay(request: Request) -> Response:
    sim = _sim(request)
    reply = _auth_error(request, sim.config.api_key)
    if reply is None:
        payment = sim.find(request.path_params["reference_id"])
        if payment is None:
            reply = momo_error(404, "RESOURCE_NOT_FOUND", "Requested resource was not found.")
        else:
            payment.polls += 1
            rule = sim.fault_plane.take("poll", payment.msisdn) if sim.fault_plane else None
            answer = await shared_answer(rule, fault_error, _POLL_GARBAGE) if rule is not None else None
            if rule is not None:
                payment.faults.append(rule.id or "")
            if answer is not None:
                reply = MomoReply(answer.status, answer.payload, fault=rule.id, response=answer.response)
            else:  # no rule, or a delay: the status as it is now
                reply = MomoReply(200, payment.status_body())
    return _reply(reply)


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
    attempt = await sim.deliver(payment, payment.last_callback)
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
    faults = FaultPlane("payments", FAULT_OPS, normalise_key=normalise_recipient, check=check_rule)
    sim = PaymentsSimulator(config=config, callback_transport=callback_transport, fault_plane=faults)
    sim.request_to_pay = with_faults(sim.request_to_pay, sim)
    app.state.faults = faults
    app.state.payments = sim
    return app
