"""Defect switches: deliberate, named bugs that prove a harness test can fail.

Each switch is off unless named in ``REFERENCE_DEFECTS``. The code checks them through
``Settings.has_defect(name)`` at the one place each bug lives, so a healthy run never pays for them.
"""

from __future__ import annotations

from collections.abc import Iterable

NO_SIGNATURE_CHECK = "no_signature_check"
NO_DEDUPE = "no_dedupe"
VERIFY_ANY_TOKEN = "verify_any_token"
REPLY_TO_STATUSES = "reply_to_statuses"
NO_PHONE_ID_FILTER = "no_phone_id_filter"
SIGNATURE_OVER_REENCODED_JSON = "signature_over_reencoded_json"
NO_BODY_LIMIT = "no_body_limit"
BAD_JSON_500 = "bad_json_500"
OPTOUT_IGNORED = "optout_ignored"
SLOW_REPLY = "slow_reply"
STATION_NOT_NOTIFIED = "station_not_notified"
DELIVERY_CODE_NOT_CHECKED = "delivery_code_not_checked"
AVAILABILITY_IGNORED = "availability_ignored"
DRIVER_NOT_NOTIFIED = "driver_not_notified"
BUYER_NOT_TOLD_OF_REJECTION = "buyer_not_told_of_rejection"
WALLET_DOUBLE_DEBIT = "wallet_double_debit"
PRICE_CHANGE_IGNORED = "price_change_ignored"
TICKET_NOT_CREATED = "ticket_not_created"
MARKETPLACE_AGENT_ON = "marketplace_agent_on"

# name -> one line on what it breaks (printed by ``python -m reference --list-defects``).
DEFECTS: dict[str, str] = {
    NO_SIGNATURE_CHECK: "POST /wa-webhook accepts a missing or wrong X-Hub-Signature-256",
    NO_DEDUPE: "a redelivered message id (wamid) is processed and answered again",
    VERIFY_ANY_TOKEN: "GET /wa-webhook verification answers 200 + challenge whatever the verify token",
    REPLY_TO_STATUSES: "every delivery/read status callback makes the bot send 'Thanks!' to the recipient",
    NO_PHONE_ID_FILTER: "changes addressed to another phone_number_id are processed instead of ignored",
    SIGNATURE_OVER_REENCODED_JSON: (
        "the HMAC is computed over re-encoded JSON, not the raw body: non-ASCII messages get 401"
    ),
    NO_BODY_LIMIT: "bodies above WA_WEBHOOK_MAX_BYTES are accepted instead of 413",
    BAD_JSON_500: "a validly signed body that is not JSON gets 500 instead of 400",
    OPTOUT_IGNORED: "after STOP the user is still answered",
    SLOW_REPLY: "every outbound reply waits 600 ms before it is sent",
    STATION_NOT_NOTIFIED: "paid orders are never announced to the station staff",
    DELIVERY_CODE_NOT_CHECKED: "any code the driver types confirms the delivery",
    AVAILABILITY_IGNORED: "items a vendor paused are still offered to buyers",
    DRIVER_NOT_NOTIFIED: "orders marked ready are never offered to drivers",
    BUYER_NOT_TOLD_OF_REJECTION: "a rejected order is refunded silently: the buyer hears nothing",
    WALLET_DOUBLE_DEBIT: "paying by wallet debits the buyer twice",
    PRICE_CHANGE_IGNORED: "a vendor's price update is confirmed but never reaches the offers",
    TICKET_NOT_CREATED: "escalating to a person answers '🎫 Ticket created' without creating a ticket",
    MARKETPLACE_AGENT_ON: "the marketplace agent answers although FEATURE_MARKETPLACE_AGENT is off",
}


class UnknownDefectError(ValueError):
    """``REFERENCE_DEFECTS`` named a switch that does not exist."""


def parse_defects(raw: str | None) -> frozenset[str]:
    """Parse a comma-separated list; blanks are ignored, unknown names are an error listing valid ones."""
    names = [part.strip() for part in (raw or "").split(",")]
    chosen = frozenset(name for name in names if name)
    unknown = sorted(chosen - DEFECTS.keys())
    if unknown:
        raise UnknownDefectError(
            f"unknown defect switch(es) {', '.join(unknown)}; valid names: {', '.join(sorted(DEFECTS))}"
        )
    return chosen


def describe(names: Iterable[str] | None = None) -> str:
    """``name<TAB>description`` lines, in registry order."""
    wanted = DEFECTS.keys() if names is None else [n for n in DEFECTS if n in set(names)]
    return "".join(f"{name}\t{DEFECTS[name]}\n" for name in wanted)
