"""Strict conversations: every message any actor receives must be expected, allowed, or someone else's.

The functional suites run strict; the load test does not (seeded staff are shared by every user there).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from easymo_qa.conversation.checks import CheckContext, CheckFailed
from easymo_qa.conversation.model import Journey, Step
from easymo_qa.conversation.variables import Variables
from easymo_qa.whatsapp.expect import ReplyError
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.user import WhatsAppUser

# Ids a conversation is about (ORD-7F3K2Q, QR-…): a message to shared seeded staff that names only other
# conversations' ids belongs to another test running at the same time.
REFERENCE_ID = re.compile(r"\b[A-Z]{1,4}-[A-Z0-9]{4,}\b")
# What a happy path must never record: fallbacks, re-dispatches, retries and failures of any kind.
TROUBLE_EVENTS = (
    "fallback_triggered",
    "driver_redispatched",
    "message_failed",
    "job_failed",
    "reply_failed",
    "notification_failed",
    "payment_request_failed",
    "checkout_failed",
    "station_unreachable",
    "payment_pending_notified",
    "duplicate_ignored",
)


class Strictness:
    """The strict checks of one journey run: strays, Graph refusals and a happy path's trouble events."""

    def __init__(self, journey: Journey, pinned: set[str], variables: Variables) -> None:
        self.journey, self.pinned, self.variables = journey, pinned, variables
        self.start_seq: dict[str, int] = {}

    def skipper(self, actor: str, step: Step) -> Callable[[OutboundMessage], str | None]:
        allowed = [i for i in (*self.journey.ignore, *step.ignore) if i.to in (None, actor)]
        patterns = [
            (i, re.compile(self.variables.pattern(i.text), re.I | re.S) if i.text is not None else None)
            for i in allowed
        ]

        def skip(message: OutboundMessage) -> str | None:
            for rule, pattern in patterns:
                if (rule.kind is None or rule.kind == message.kind) and (
                    pattern is None or pattern.search(message.visible_text)
                ):
                    return "allowed by the journey's ignore"
            if actor in self.pinned:
                said = " ".join((message.visible_text, *message.button_ids, *message.row_ids))
                ids = set(REFERENCE_ID.findall(said))
                ours = set(self.variables.values.values())
                if ids and not ids & ours and self.variables.values["run_id"] not in said.lower():
                    return f"another conversation's ({', '.join(sorted(ids))})"
            return None

        return skip

    def no_strays(self, users: dict[str, WhatsAppUser], step: Step, wait: float) -> None:
        """Fail on any message an actor received that no expectation claimed (waiting ``wait`` s first)."""
        deadline = time.monotonic() + wait
        for name, user in users.items():
            user.expect_nothing_unclaimed(
                max(0.0, deadline - time.monotonic()),
                self.skipper(name, step),
                title="the bot sent a message nobody expected",
                expected="nothing (every expected message had already arrived)",
            )

    def no_refusals(self, users: dict[str, WhatsAppUser]) -> None:
        """Fail when the Graph API refused a message the bot sent an actor (bad format, over a limit)."""
        for user in users.values():
            refused = user.refused_since(self.start_seq.get(user.phone, 0))
            if refused:
                raise ReplyError(
                    "the Graph API refused a message the bot sent",
                    actor=user.label,
                    expected=["every message valid for the Cloud API"],
                    arrived=[],
                    transcript=user.transcript.render(),
                    rejected=refused,
                )

    def no_trouble_events(self, context: CheckContext, users: dict[str, WhatsAppUser]) -> None:
        """A happy path records no fallback, retry, re-dispatch or failure for its own users and orders."""
        # A username-only user's phone is withheld from the SUT: its events are read by its BSUID.
        who = [
            ("phone", u.phone) if u.identity.phone_visible else ("user_id", u.bsuid)
            for name, u in users.items()
            if name not in self.pinned
        ]
        orders = sorted({v for v in self.variables.values.values() if REFERENCE_ID.fullmatch(v)})
        found: list[str] = []
        for key, value in who + [("order_id", o) for o in orders]:
            body = context.admin("/admin/events", **{key: value}, limit=1000) or {}
            for event in body.get("events", []):
                name = event.get("name", "")
                if name in TROUBLE_EVENTS and name not in self.journey.allow_events:
                    found.append(f"{name} ({key} {value}): {event.get('data', {})}")
        if found:
            listed = "\n".join(f"    - {line}" for line in dict.fromkeys(found))
            raise CheckFailed(
                "a happy-path journey recorded trouble events (list them under allow_events if intended):\n"
                + listed
            )
