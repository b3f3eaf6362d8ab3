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
# The synthetic failure scenarios (tests/synthetic), in scenario order.
FALLBACK_TIER_SKIPPED = "fallback_tier_skipped"
NO_LLM_TIMEOUT = "no_llm_timeout"
RAW_LLM_OUTPUT_SHOWN = "raw_llm_output_shown"
NO_LLM_RETRY = "no_llm_retry"
NO_RETRY_CAP = "no_retry_cap"
DATABASE_TIER_SKIPPED = "database_tier_skipped"
CURATED_TIER_SKIPPED = "curated_tier_skipped"
DEAD_END_APOLOGY = "dead_end_apology"
CHARGE_BEFORE_COMMIT = "charge_before_commit"
DECLINED_MARKED_PAID = "declined_marked_paid"
PAYMENT_PAID_TWICE = "payment_paid_twice"
CALLBACK_NOT_IDEMPOTENT = "callback_not_idempotent"
NOTIFY_FAILURE_IGNORED = "notify_failure_ignored"
NOTIFY_STOPS_AT_FIRST_FAILURE = "notify_stops_at_first_failure"
NO_QUOTE_DEADLINE = "no_quote_deadline"
PARTIAL_QUOTES_DROPPED = "partial_quotes_dropped"
AVAILABILITY_NOT_RECHECKED = "availability_not_rechecked"
NO_REDISPATCH = "no_redispatch"
MAPS_FAILURE_BREAKS_NAVIGATION = "maps_failure_breaks_navigation"
NO_INPUT_VALIDATION = "no_input_validation"
RATE_LIMIT_DROPS_MESSAGES = "rate_limit_drops_messages"
NO_GRAPH_BACKOFF = "no_graph_backoff"
# Webhook contract rules no journey walks through (tests/smoke/test_contract_edges.py).
ANY_OBJECT_PROCESSED = "any_object_processed"
BAD_MESSAGE_DROPS_BATCH = "bad_message_drops_batch"
# Contract rules whose tests had no defect to prove they can fail (easymo-qa contract-matrix: "weak").
ANY_METHOD_ACCEPTED = "any_method_accepted"
CHALLENGE_AS_JSON = "challenge_as_json"
KEYWORDS_CASE_SENSITIVE = "keywords_case_sensitive"
PROFILE_NAME_ASCII_ONLY = "profile_name_ascii_only"
ADMIN_CHECK_SKIPPED = "admin_check_skipped"
AGENT_FLAGS_IGNORED = "agent_flags_ignored"
AI_AGENTS_FLAG_IGNORED = "ai_agents_flag_ignored"
WALLET_OVERDRAFT = "wallet_overdraft"
VENDOR_HUB_FOR_ANYONE = "vendor_hub_for_anyone"
REACTION_ANSWERED = "reaction_answered"
ROLLOUT_HASH_UNSALTED = "rollout_hash_unsalted"
HEALTH_NOT_JSON = "health_not_json"
# Fault outcomes (tests/e2e/fault_*): every outcome the simulators can produce, handled.
NON_SUCCESSFUL_STATUS_PAID = "non_successful_status_paid"
NO_PAYMENT_POLLING = "no_payment_polling"
PAYMENT_POLL_UNBOUNDED = "payment_poll_unbounded"
POLL_STOPS_ON_ERROR = "poll_stops_on_error"
RAW_PAYMENT_REASON_SHOWN = "raw_payment_reason_shown"
ORDER_CALLBACK_NOT_IDEMPOTENT = "order_callback_not_idempotent"
RETRY_AFTER_IGNORED = "retry_after_ignored"
RETRY_AFTER_UNBOUNDED = "retry_after_unbounded"
RESET_RETRY_UNCAPPED = "reset_retry_uncapped"
MAPS_ZERO_RESULTS_CRASH = "maps_zero_results_crash"
# Cloud API boundaries and ids (tests/e2e/boundary_*): off-by-one slips at Meta's limits.
MENU_ROWS_OFF_BY_ONE = "menu_rows_off_by_one"
ROW_TITLE_CUT_AT_25 = "row_title_cut_at_25"
ROW_DESCRIPTION_CUT_AT_73 = "row_description_cut_at_73"
OFFERS_UNCAPPED = "offers_uncapped"
WAMID_KEY_TRUNCATED = "wamid_key_truncated"
DRIVER_JOBS_FOUR_BUTTONS = "driver_jobs_four_buttons"
CURATED_ROWS_OFF_BY_ONE = "curated_rows_off_by_one"
# Strict conversations: an extra message, the right message to the wrong actor, the right one late.
STATUS_UPDATE_TWICE = "status_update_twice"
RECEIPT_TO_STATION = "receipt_to_station"
LATE_BUYER_UPDATE = "late_buyer_update"
QUOTE_WRONG_PRICE = "quote_wrong_price"
MY_ORDERS_ALL_BUYERS = "my_orders_all_buyers"
GRAPH_RETRY_UNCAPPED = "graph_retry_uncapped"
GRAPH_RETRIES_CLIENT_ERRORS = "graph_retries_client_errors"
LATE_ACCEPT_REASSIGNS = "late_accept_reassigns"
DELIVERY_RADIUS_IGNORED = "delivery_radius_ignored"
SESSION_NEVER_EXPIRES = "session_never_expires"
SESSION_TTL_COUNTS_AGE = "session_ttl_counts_age"
ONE_PARCEL_AT_A_TIME = "one_parcel_at_a_time"
NOTICES_IGNORE_OPTOUT = "notices_ignore_optout"
# 2026 identities (tests/e2e/username-only-buyer.journey.yaml): the sender read from `from` alone, as in 2025.
PHONE_ONLY_IDENTITY = "phone_only_identity"
# Message hygiene (tests/smoke/test_hygiene.py): bugs the real easyMO shipped.
RAW_I18N_KEY = "raw_i18n_key"
STACK_TRACE_LEAK = "stack_trace_leak"
# Webhook reliability (tests/reliability): a failed reply must count as a failure, not as a "reason".
FRENCH_HEADER_TOO_LONG = "french_header_too_long"

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
    RAW_I18N_KEY: "the help reply shows the raw translation key 'agent.not_available' instead of its text",
    STACK_TRACE_LEAK: "a tap on an unknown button or row id answers with the Python traceback",
    FRENCH_HEADER_TOO_LONG: (
        "'bonjour' / 'salut' get a home menu whose French header passes 60 characters: Graph refuses it"
    ),
    PHONE_ONLY_IDENTITY: (
        "users are identified by `from` alone, as in 2025: a username-only user's messages (a BSUID and no"
        " phone) are dropped unanswered, and user_changed_user_id is not understood"
    ),
    FALLBACK_TIER_SKIPPED: "an LLM failure jumps straight to the graceful-failure apology (no ranked offers)",
    NO_LLM_TIMEOUT: "the LLM call waits with no deadline: a hanging LLM leaves the buyer waiting",
    RAW_LLM_OUTPUT_SHOWN: "a malformed LLM answer (raw tool call / content, parse error) reaches the buyer",
    NO_LLM_RETRY: "an LLM 429 / 5xx is not retried: search falls back at once",
    NO_RETRY_CAP: "LLM 429 / 5xx are retried 10 times instead of AGENT_MAX_RETRIES",
    DATABASE_TIER_SKIPPED: "when ranking fails, search skips the database tier (curated examples instead)",
    CURATED_TIER_SKIPPED: "when the database fails, search skips the curated examples (apology instead)",
    DEAD_END_APOLOGY: "the graceful-failure apology is plain text without buttons: a dead end",
    CHARGE_BEFORE_COMMIT: "a wallet payment debits the wallet before the order write, which may then fail",
    DECLINED_MARKED_PAID: "a declined MoMo payment (callback FAILED) marks the order paid",
    PAYMENT_PAID_TWICE: "after a 'still pending' notice, reconciliation and the callback both pay",
    CALLBACK_NOT_IDEMPOTENT: "a duplicate payment callback is processed again (credited twice)",
    NOTIFY_FAILURE_IGNORED: "when no station staff can be reached, the paid order just waits: buyer not told",
    NOTIFY_STOPS_AT_FIRST_FAILURE: "the new-order notice stops at the first staff phone that fails",
    NO_QUOTE_DEADLINE: "quote requests have no deadline: with no vendor answer the buyer hears nothing",
    PARTIAL_QUOTES_DROPPED: "only a complete set of quotes is shown: a partial set at the deadline is lost",
    AVAILABILITY_NOT_RECHECKED: "an item paused after the buyer chose it is still checked out",
    NO_REDISPATCH: "a ready order no driver accepts is never offered again; buyer and station not told",
    MAPS_FAILURE_BREAKS_NAVIGATION: "a maps failure at navigation gives the driver an apology and no pins",
    NO_INPUT_VALIDATION: "no input length check: a 5000-character text goes to the LLM instead of 'too long'",
    RATE_LIMIT_DROPS_MESSAGES: "messages over RATE_LIMIT_PER_USER are dropped instead of queued",
    NO_GRAPH_BACKOFF: "a Graph 429 / code 130429 is not retried: the reply is lost",
    ANY_OBJECT_PROCESSED: "a webhook whose object is not whatsapp_business_account is processed, answered",
    BAD_MESSAGE_DROPS_BATCH: "a message without id, from or type drops the rest of its webhook's messages",
    ANY_METHOD_ACCEPTED: "PUT, DELETE and other methods on /wa-webhook answer 200 instead of 405",
    CHALLENGE_AS_JSON: 'the verify handshake answers JSON {"hub.challenge": ...}, not the bare challenge',
    KEYWORDS_CASE_SENSITIVE: "keywords match only as typed in lower case: 'MENU' or 'STOP' starts a search",
    PROFILE_NAME_ASCII_ONLY: "profile names lose every non-ASCII character: 'Aimée' is greeted as 'Aime'",
    ADMIN_CHECK_SKIPPED: "/metrics answers anyone with today's figures, not only the admin numbers",
    AGENT_FLAGS_IGNORED: "per-agent flags (FEATURE_BUYER_AGENT...) are ignored: an agent turned off answers",
    AI_AGENTS_FLAG_IGNORED: "FEATURE_AI_AGENTS=false is ignored: the agents keep answering everyone",
    WALLET_OVERDRAFT: "a wallet payment above the balance goes through: the wallet goes negative",
    VENDOR_HUB_FOR_ANYONE: "vendor_hub shows the shop's buttons to users who own no shop",
    REACTION_ANSWERED: "a reaction (an emoji on a message) is answered: 'can't read that kind of message'",
    ROLLOUT_HASH_UNSALTED: "rollout buckets hash the phone, not '<phone>:ai_agents': the wrong users get AI",
    HEALTH_NOT_JSON: "GET /health answers a plain-text 'ok' instead of JSON with status ok",
    MENU_ROWS_OFF_BY_ONE: "a vendor with 10+ items gets 10 of them + Add item: an 11-row list Meta refuses",
    ROW_TITLE_CUT_AT_25: "list row titles are cut at 25 characters instead of 24: Meta refuses the list",
    ROW_DESCRIPTION_CUT_AT_73: "row descriptions are cut at 73 characters, not 72: Meta refuses the list",
    OFFERS_UNCAPPED: "a search shows every match: 11+ matches make a list Meta refuses (contract: at most 5)",
    WAMID_KEY_TRUNCATED: "message ids are deduped on their first 32 characters: a user's next messages drop",
    DRIVER_JOBS_FOUR_BUTTONS: "a driver's hub offers 4 waiting jobs as 4 buttons: Meta refuses the message",
    CURATED_ROWS_OFF_BY_ONE: "with 10+ vendors, 10 curated examples + Try again: an 11-row list Meta refuses",
    NON_SUCCESSFUL_STATUS_PAID: "a MoMo status other than FAILED (PENDING, unknown) counts as paid",
    NO_PAYMENT_POLLING: "a lost MoMo callback is never made up for: the payment status is not polled",
    PAYMENT_POLL_UNBOUNDED: "a payment left PENDING is polled for ever (PAYMENT_POLL_MAX_ATTEMPTS ignored)",
    POLL_STOPS_ON_ERROR: "a status poll MoMo answers with an error (500, a reset) ends the polling",
    RAW_PAYMENT_REASON_SHOWN: "a failed MoMo payment shows the provider's raw reason code, not what it means",
    ORDER_CALLBACK_NOT_IDEMPOTENT: "a repeated order-payment callback collects and sends the receipt again",
    RETRY_AFTER_IGNORED: "a 429's Retry-After is ignored: the retries follow the short backoff and fail",
    RETRY_AFTER_UNBOUNDED: "any Retry-After is waited out, however long (AGENT_RETRY_AFTER_MAX_MS ignored)",
    RESET_RETRY_UNCAPPED: "an LLM connection reset is retried 10 times, whatever AGENT_MAX_RETRIES says",
    MAPS_ZERO_RESULTS_CRASH: "maps ZERO_RESULTS crashes the driver's navigation: no Delivered button",
    STATUS_UPDATE_TWICE: "every order-status notice to the buyer (accepted, preparing...) is sent twice",
    RECEIPT_TO_STATION: "the buyer's receipt, delivery code included, also goes to the station's staff",
    LATE_BUYER_UPDATE: "order-status notices to the buyer go out 1 s late (a blocking call before sending)",
    QUOTE_WRONG_PRICE: "ordering a quote charges the highest quoted price, not the chosen vendor's",
    MY_ORDERS_ALL_BUYERS: "'My orders' lists the latest orders of every buyer, not only the user's own",
    GRAPH_RETRY_UNCAPPED: "a Graph 5xx is retried 10 times instead of twice",
    GRAPH_RETRIES_CLIENT_ERRORS: "a Graph 4xx (the message's own fault) is retried like a 5xx",
    LATE_ACCEPT_REASSIGNS: "a second driver's accept takes the job over from the driver already on the way",
    DELIVERY_RADIUS_IGNORED: "a drop-off outside Kigali (30 km) is accepted and charged",
    SESSION_NEVER_EXPIRES: "a conversation state never expires: a location days later still checks out",
    SESSION_TTL_COUNTS_AGE: "the session TTL counts from its start: an active user's state expires mid-way",
    ONE_PARCEL_AT_A_TIME: "a Delivered tap forgets the parcels tapped before it: their codes no longer work",
    NOTICES_IGNORE_OPTOUT: "order notices (not replies) still reach a user who sent STOP",
}


# The fault-outcome switches, each listed by a tests/e2e/fault_* journey (not a synthetic scenario).
FAULT_OUTCOMES: tuple[str, ...] = (
    NON_SUCCESSFUL_STATUS_PAID,
    NO_PAYMENT_POLLING,
    PAYMENT_POLL_UNBOUNDED,
    POLL_STOPS_ON_ERROR,
    RAW_PAYMENT_REASON_SHOWN,
    ORDER_CALLBACK_NOT_IDEMPOTENT,
    RETRY_AFTER_IGNORED,
    RETRY_AFTER_UNBOUNDED,
    RESET_RETRY_UNCAPPED,
    MAPS_ZERO_RESULTS_CRASH,
)


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
