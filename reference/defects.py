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
