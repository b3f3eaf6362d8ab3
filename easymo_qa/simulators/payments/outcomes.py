"""How a request-to-pay ends, chosen by one switch (the fault rule that matched it), and MoMo's errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from easymo_qa.simulators.faults import DEFAULT_DUPLICATE_GAP_SECONDS, FaultRule
from easymo_qa.simulators.payments.model import PaymentsSimConfig, Status

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
_SHARED = ("status", "delay", "hang", "malformed", "reset")
FAULT_OPS = {
    "requesttopay": (*_SHARED, "drop", "decline", "slow_callback", "duplicate_callback"),
    "callback": ("delay", "drop", "malformed"),
    "poll": _SHARED,
}


@dataclass(frozen=True)
class Outcome:
    """How a request-to-pay ends: ``status`` after ``delay_seconds``; ``delay_seconds=None`` never ends.

    ``repeat_after``: send the callback a second time, byte for byte, this many seconds after the first.
    """

    status: Status
    delay_seconds: float | None
    reason: str | None = None
    repeat_after: float | None = None


def outcome_for(rule: FaultRule | None, config: PaymentsSimConfig) -> Outcome:
    """The outcome of a request-to-pay that ``rule`` matched; no rule (or a shared one): approved."""
    approved = Outcome("SUCCESSFUL", config.approve_delay_seconds)
    if rule is None:
        return approved
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
    return approved


def check_rule(rule: FaultRule) -> str | None:
    """Why this simulator cannot honour ``rule`` (an undocumented failure reason), else None."""
    if rule.reason is not None and rule.reason not in FAILURE_REASONS:
        valid = ", ".join(FAILURE_REASONS)
        return f"reason {rule.reason!r} is not a documented MoMo failure reason ({valid})"
    return None


@dataclass(frozen=True)
class MomoReply:
    """What a MoMo endpoint answers: an HTTP status and a JSON body (``None`` = empty body).

    ``fault`` is the fault rule that decided the answer; ``response``, when set, is sent as is.
    """

    status: int
    payload: dict[str, Any] | None = None
    fault: str | None = None
    response: Response | None = None


def momo_error(status: int, code: str, message: str) -> MomoReply:
    """MoMo's error shape: ``{"code", "message"}``."""
    return MomoReply(status, {"code": code, "message": message})


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


def momo_error_for(status: int) -> MomoReply:
    """MoMo's error for ``status``, as its gateway words it."""
    default = ("NOT_ALLOWED", "Not allowed.") if status < 500 else ("INTERNAL_PROCESSING_ERROR", "Error.")
    return momo_error(status, *_MOMO_ERRORS.get(status, default))


def fault_error(status: int, rule: FaultRule) -> dict[str, Any]:
    """The body a fault rule's ``status`` answers with (the fault plane's error-body hook)."""
    return momo_error_for(status).payload or {}
