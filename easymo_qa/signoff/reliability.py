"""The reliability stage's evidence: ``reports/reliability.json``, written by the webhook reliability test.

The test (``tests/reliability``, marker ``reliability``) sends 1000+ signed messages from 50+ users, some
delivered twice (as Meta retries do), some in multi-message batches, some out of order, and then accounts
for every message through the SUT's observability events. The schema is in ``docs/signoff-schema.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from easymo_qa.gates import Measurement
from easymo_qa.result_file import Count, ResultFile

RELIABILITY_SCHEMA = "easymo-qa/reliability/v1"
RELIABILITY_FILE = "reliability.json"


class ReliabilityResultError(ValueError):
    """The reliability result cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class ReliabilityResult(ResultFile):
    SCHEMA, FILE, WHAT, ERROR = (
        RELIABILITY_SCHEMA,
        RELIABILITY_FILE,
        "reliability result",
        ReliabilityResultError,
    )

    users: Count
    sent: Count  # distinct messages (wamids) sent
    accepted: Count  # distinct messages at least one delivery of which was answered HTTP 200
    replied: Count  # distinct messages that got a reply
    no_reply_with_reason: Count  # distinct messages the SUT chose not to answer, with a recorded reason
    lost: Count  # distinct messages with no outcome at all: no reply and no recorded reason
    duplicates_sent: Count  # extra deliveries of an already delivered wamid (Meta-style retries)
    duplicates_suppressed: Count  # of those, recorded by the SUT as ignored duplicates
    duplicate_replies: Count  # replies beyond one per message, and messages processed more than once
    deliveries: Count = 0  # webhook POSTs
    batched: Count = 0  # messages sent inside multi-message webhooks
    out_of_order: Count = 0  # messages whose timestamp is older than the one sent before them
    orders_checked: Count = 0  # duplicated order / payment steps checked for their effects
    duplicate_effects: Count = 0  # extra orders, payment requests or ledger entries
    # Distinct messages whose handling failed (message_failed, reply_failed, job_failed), whatever was
    # sent after, plus failures in the purchase cohort's background work: failures, not "reasons".
    failed_handling: Count = 0
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)  # recorded reasons for no reply → count
    problems: list[str] = field(default_factory=list)  # the first few problems, one line each
    environment: str = ""
    measured_at: str = ""
    source: str = ""
    schema: str = RELIABILITY_SCHEMA

    def counts_line(self) -> str:
        return (
            f"{self.sent} sent, {self.accepted} accepted, {self.replied} replied, "
            f"{self.no_reply_with_reason} not answered with a reason, {self.failed_handling} failed, "
            f"{self.duplicates_suppressed} of "
            f"{self.duplicates_sent} duplicates suppressed, {self.duplicate_replies} duplicate replies, "
            f"{self.lost} lost"
        )

    def measurements(self) -> dict[str, Measurement]:
        src = f"{self.source or 'webhook reliability test'}: {self.counts_line()}"
        return {
            "reliability.lost": Measurement(float(self.lost), self.sent, src),
            "reliability.duplicate_replies": Measurement(float(self.duplicate_replies), self.sent, src),
            "reliability.duplicate_effects": Measurement(
                float(self.duplicate_effects),
                self.orders_checked,
                f"{self.source or 'webhook reliability test'}: {self.orders_checked} duplicated order and "
                f"payment steps, {self.duplicate_effects} extra orders, payment requests or ledger entries",
            ),
            "reliability.failed_handling": Measurement(float(self.failed_handling), self.sent, src),
        }
