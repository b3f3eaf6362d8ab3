"""The Graph API's error objects, as the simulator answers them: ``{"error": {message, type, code, ...}}``.

Meta's table of Cloud API error codes: https://developers.facebook.com/documentation/business-messaging/
whatsapp/support/error-codes (formerly /docs/whatsapp/cloud-api/support/error-codes; its message errors are
mirrored word for word at https://docs.yaeris.com/software/waba-multichat-user/message-errors).
"""

from __future__ import annotations

import secrets
from typing import Any

from easymo_qa.simulators.faults import FaultRule
from easymo_qa.whatsapp.rules.base import RuleViolation

# Meta's subcode on message-validation errors from the messages endpoint.
MESSAGE_ERROR_SUBCODE = 2494010
# "Message undeliverable", HTTP 400: "Unable to deliver message. Reasons can include: the recipient phone
# number is not a WhatsApp phone number ..." (Meta's error-code table, above).
UNDELIVERABLE = 131026


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
        subcode=MESSAGE_ERROR_SUBCODE,
        error_data={
            "messaging_product": "whatsapp",
            "details": "; ".join(v.message for v in violations),
        },
    )


def unknown_recipient_error(recipient: str) -> dict[str, Any]:
    """The answer to a well-formed BSUID that names no user the simulator plays.

    Meta documents no error for "no such BSUID". The closest documented code is 131026 (Message
    undeliverable, HTTP 400): its first reason is a recipient that is no WhatsApp user, which is what a
    BSUID naming nobody is to this business. Code 100 (Invalid parameter) is for values of the wrong
    shape, and this one is well-formed.
    """
    return graph_error(
        f"(#{UNDELIVERABLE}) Message undeliverable",
        code=UNDELIVERABLE,
        error_data={
            "messaging_product": "whatsapp",
            "details": f"recipient {recipient!r} is not a WhatsApp user this business can reach",
        },
    )


# --- the errors a fault rule answers ---------------------------------------------------------------------

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
