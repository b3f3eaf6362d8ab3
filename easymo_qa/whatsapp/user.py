"""WhatsAppUser: a simulated person on WhatsApp who writes to the bot and waits for its replies."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Literal

import httpx

from easymo_qa.target import Target
from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.expect import Expectation, ReplyError, check_window
from easymo_qa.whatsapp.identity import Identity, UserKind
from easymo_qa.whatsapp.matching import match_events, match_loosely, match_strictly
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.replies import ReplyReader, ReplySource
from easymo_qa.whatsapp.signing import encode_body, signed_headers
from easymo_qa.whatsapp.transcript import Transcript, TranscriptEntry

MediaKind = Literal["image", "audio", "document", "sticker", "video"]


class WhatsAppUser:
    """Sends signed webhooks as one phone number; matches the bot's replies to expectations.

    Replies are matched order-insensitively among those that arrived since the user's last message;
    a reply already matched is consumed, so two expectations never claim the same message.

    Both ends are pluggable, for the load test: ``client`` is whatever posts the webhook (anything with
    ``post(url, content=..., headers=...)`` answering an object with ``status_code``; an ``httpx.Client``
    by default), and replies come from ``replies``, else from the client's own ``reply_source`` attribute
    when it has one, else from a :class:`ReplyReader` long-polling the Graph API simulator per user.
    ``on_reply`` sees every reply once, as it arrives (the pytest plugin checks message hygiene there).

    The bot's read / typing events on this user's messages (when the reply source reports them) are kept
    apart: a transcript line each, matched only by ``read`` / ``typing`` expectations, never a reply.
    """

    def __init__(
        self,
        target: Target,
        client: httpx.Client,
        phone: str,
        *,
        role: str = "user",
        name: str = "Test User",
        transcript: Transcript | None = None,
        replies: ReplySource | None = None,
        on_reply: Callable[[OutboundMessage], object] | None = None,
        kind: UserKind = "phone",
    ) -> None:
        if not target.graph_api_url:
            raise ValueError(
                f"environment {target.env_name!r} has no Graph API simulator to read replies from"
            )
        self.target = target
        self.phone = phone  # the key replies are filed under; withheld from the SUT when username-only
        self.identity = Identity("".join(ch for ch in phone if ch.isdigit()), kind)
        self.role = role
        self.name = name
        self.transcript = transcript if transcript is not None else Transcript()
        self._client = client
        self._replies: ReplySource = (
            replies or getattr(client, "reply_source", None) or ReplyReader(client, target.graph_api_url)
        )
        self._business = payloads.BusinessPhone(target.phone_number_id, target.display_phone_number)
        self._cursor = 0
        self._pending: list[OutboundMessage] = []
        self.unclaimed: list[OutboundMessage] = []  # replies no expectation matched before the next message
        self._events: deque[OutboundMessage] = deque(maxlen=256)  # read / typing events not yet claimed
        self._last_wamid: str | None = None  # the id of this user's last message (what a read names)
        self._last_sent_at = time.time()
        self.last_reply: OutboundMessage | None = None
        self.on_reply = on_reply

    @property
    def label(self) -> str:
        if self.identity.phone_visible:
            return f"{self.role} {self.phone}"
        return f"{self.role} @{self.identity.username} ({self.identity.bsuid})"

    @property
    def bsuid(self) -> str:
        return self.identity.bsuid

    def change_bsuid(self) -> dict[str, Any]:
        """Meta re-issues this user's BSUID and tells the business with a ``user_changed_user_id`` system
        message; from then on the user writes under the new id. Returns the system message."""
        old = self.identity
        self.identity = old.renumbered()
        return self._send_new(payloads.user_id_changed(old, self.identity, self.name))

    # --- sending -----------------------------------------------------------------------------------

    def post_raw(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST exactly these bytes to the webhook (for protocol tests: bad signatures, bad JSON...)."""
        return self._client.post(self.target.webhook_url, content=body, headers=headers)

    def post_payload(self, payload: dict[str, Any], app_secret: str | None = None) -> httpx.Response:
        """Encode and sign any webhook payload (with another secret, to test rejection) and POST it."""
        body = encode_body(payload)
        return self.post_raw(body, signed_headers(body, app_secret or self.target.app_secret))

    def send_status(self, wamid: str, state: payloads.StatusName) -> httpx.Response:
        """Deliver a ``statuses`` callback about a message the bot sent this user, as Meta would."""
        item = payloads.status(self.identity, wamid, state)
        payload = payloads.webhook(
            self._business,
            statuses=[item],
            profile_names={self.identity.phone: self.name},
            identities=[self.identity],
        )
        response = self.post_payload(payload)
        self.transcript.note(self.label, f"status {state} for {wamid[:24]}… → HTTP {response.status_code}")
        return response

    def webhook_for(
        self, messages: list[dict[str, Any]], phone_number_id: str | None = None
    ) -> dict[str, Any]:
        """A webhook payload from this user (optionally addressed to another business phone-number id)."""
        business = self._business
        if phone_number_id is not None:
            business = payloads.BusinessPhone(phone_number_id, business.display_phone_number)
        return payloads.webhook(
            business, messages, profile_names={self.identity.phone: self.name}, identities=[self.identity]
        )

    def send(
        self, message: dict[str, Any], *, summary: str | None = None, clear_pending: bool = True
    ) -> httpx.Response:
        """Wrap one ``messages[]`` item in a webhook, sign and POST it (a re-sent dict keeps its wamid)."""
        body = encode_body(self.webhook_for([message]))
        if clear_pending:
            # Expectations apply to replies to the latest message; what nobody claimed is kept, not lost.
            self.unclaimed.extend(self._pending)
            self._pending.clear()
        self._last_sent_at = time.time()
        self._last_wamid = message.get("id") or self._last_wamid
        started = time.perf_counter()
        response = self.post_raw(body, signed_headers(body, self.target.app_secret))
        self.transcript.add(
            TranscriptEntry(
                at=self._last_sent_at,
                actor=self.label,
                direction="in",
                summary=summary or _describe_inbound(message),
                ack_status=response.status_code,
                ack_ms=(time.perf_counter() - started) * 1000,
            )
        )
        return response

    def send_text(self, body: str) -> dict[str, Any]:
        return self._send_new(payloads.text(self.phone, body, wamid=self.identity.new_wamid()))

    def tap_button(self, button_id: str, title: str = "") -> dict[str, Any]:
        context = self.last_reply.wamid if self.last_reply else None
        message = payloads.button_reply(
            self.phone, button_id, title, context_id=context, wamid=self.identity.new_wamid()
        )
        return self._send_new(message)

    def choose_row(self, row_id: str, title: str = "") -> dict[str, Any]:
        context = self.last_reply.wamid if self.last_reply else None
        wamid = self.identity.new_wamid()
        message = payloads.list_reply(self.phone, row_id, title, context_id=context, wamid=wamid)
        return self._send_new(message)

    def share_location(self, latitude: float, longitude: float, name: str | None = None) -> dict[str, Any]:
        wamid = self.identity.new_wamid()
        message = payloads.location(self.phone, latitude, longitude, name=name, wamid=wamid)
        return self._send_new(message)

    def send_media(self, kind: MediaKind, caption: str | None = None) -> dict[str, Any]:
        wamid = self.identity.new_wamid()
        return self._send_new(payloads.media(self.phone, kind, caption=caption, wamid=wamid))

    def react(self, message_id: str, emoji: str) -> dict[str, Any]:
        wamid = self.identity.new_wamid()
        return self._send_new(payloads.reaction(self.phone, message_id, emoji, wamid=wamid))

    def _send_new(self, message: dict[str, Any]) -> dict[str, Any]:
        response = self.send(message)
        if response.status_code != 200:
            raise ReplyError(
                f"the webhook answered HTTP {response.status_code} to a correctly signed message",
                actor=self.label,
                expected=["HTTP 200"],
                arrived=[],
                transcript=self.transcript.render(),
            )
        return message

    # --- receiving ---------------------------------------------------------------------------------

    @property
    def cursor(self) -> int:
        """The sequence number of the last reply this user has read."""
        return self._cursor

    def refused_since(self, after: int) -> list[str]:
        """Messages to this user the Graph API simulator refused for what they were (not by a fault rule)."""
        refused = getattr(self._replies, "refused", None)
        return list(refused(self.phone, after)) if refused is not None else []

    def skip_history(self) -> None:
        """Ignore everything sent to this number so far (a seeded number shared with other conversations)."""
        self._cursor = self._replies.last_seq()
        self._pending.clear()

    @property
    def sees_events(self) -> bool:
        """Whether this user's reply source reports the bot's read / typing events (the load test's not)."""
        return bool(getattr(self._replies, "reports_events", False))

    def _fetch(self, wait: float) -> None:
        if self.sees_events:
            arrived = self._replies.poll(self.phone, self._cursor, wait, events=True)  # type: ignore[call-arg]
        else:
            arrived = self._replies.poll(self.phone, self._cursor, wait)
        for message in arrived:
            self._cursor = max(self._cursor, message.seq)
            if message.is_event:  # never a reply: no latency, no hygiene, never unexpected
                self._events.append(message)
                entry = TranscriptEntry(message.received_at, self.label, "event", message.summary())
                self.transcript.add(entry)
                continue
            self._pending.append(message)
            self.transcript.add(
                TranscriptEntry(
                    at=message.received_at,
                    actor=self.label,
                    direction="out",
                    summary=message.summary(),
                    reply_ms=max(0.0, (message.received_at - self._last_sent_at) * 1000),
                )
            )
            if self.on_reply is not None:
                self.on_reply(message)

    def expect_replies(
        self,
        expectations: Sequence[Expectation],
        within: float | None = None,
        *,
        ordered: bool = False,
        strict: bool = False,
        may_skip: Callable[[OutboundMessage], str | None] | None = None,
        record_latency: bool = True,
    ) -> list[OutboundMessage]:
        """Wait until every expectation is matched by a distinct reply (by default in any order).

        ``read`` / ``typing`` expectations are matched by the bot's events on this user's last message.
        ``ordered``: the replies must arrive in the expectations' order. ``strict``: every reply that
        arrives meanwhile must be expected, or skippable (``may_skip`` returns why, e.g. "ignored by the
        journey"); anything else fails at once as unexpected, without waiting out the time.
        ``record_latency``: log each reply's latency from this user's last message in the transcript
        (the journey runner logs its own, from the step's action).
        """
        # The latency budget of plain tests: the environment's, or a longer wait the test asked for.
        budget = self.target.reply_budget_seconds
        if within is not None:
            budget = max(within, budget)
        within = self.target.reply_seconds if within is None else within
        deadline = time.monotonic() + max(within, budget)
        matched: list[OutboundMessage | None] = [None] * len(expectations)
        while True:
            match_events(self._events, expectations, matched, self._last_wamid)
            if strict:
                match_strictly(
                    self._pending,
                    expectations,
                    matched,
                    ordered=ordered,
                    may_skip=may_skip,
                    actor=self.label,
                    transcript=self.transcript,
                )
            else:
                match_loosely(self._pending, expectations, matched)
            if all(m is not None for m in matched):
                found = [m for m in matched if m is not None]
                replies = [m for m in found if not m.is_event]
                if replies:
                    self.last_reply = max(replies, key=lambda m: m.seq)
                if record_latency:
                    for expectation, message in zip(expectations, found, strict=True):
                        if not message.is_event:
                            self.transcript.latency((message.received_at - self._last_sent_at) * 1000)
                        check_window(
                            expectation,
                            message,
                            self._last_sent_at,
                            (0.0, budget),
                            actor=self.label,
                            transcript=self.transcript,
                            since="the message",
                        )
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._fetch(remaining)
        unmet = [e for e, m in zip(expectations, matched, strict=True) if m is None]
        self.transcript.timed_out(sum(not e.is_event for e in unmet))  # events are no reply latency
        arrived = [m for m in matched if m is not None] + self._pending
        if any(e.is_event for e in unmet):
            arrived += list(self._events)  # events that named another message
        title = "no reply matching what was expected"
        if all(e.is_event for e in unmet):
            title = "the bot did not mark the message read or show typing as expected"
        raise ReplyError(
            f"{title} within {within:.1f} s",
            actor=self.label,
            expected=[e.describe() for e in unmet],
            arrived=arrived,
            transcript=self.transcript.render(),
            rejected=self._replies.rejections(self.phone),
        )

    def expect_nothing_unclaimed(
        self,
        settle: float,
        may_skip: Callable[[OutboundMessage], str | None] | None = None,
        *,
        title: str = "the bot sent messages no check of this test claimed",
        expected: str = "only the replies the test checked",
    ) -> None:
        """Fail when the bot sent this user anything no expectation claimed (waiting ``settle`` s first).

        The strict end of a test, or of a journey step: an extra message, or one meant for someone else,
        fails it. ``may_skip`` says why a message may go unclaimed (it is dropped, with a note).
        """
        self._fetch(settle)
        extra = []
        for message in sorted(self.unclaimed + self._pending, key=lambda m: m.seq):
            reason = may_skip(message) if may_skip is not None else None
            if reason is None:
                extra.append(message)
            else:
                self.transcript.note(self.label, f"skipped seq {message.seq}: {reason}")
        self.unclaimed.clear()
        self._pending[:] = extra
        if extra:
            raise ReplyError(
                title,
                actor=self.label,
                expected=[expected],
                arrived=extra,
                transcript=self.transcript.render(),
            )

    def expect_reply(
        self,
        kind: str | None = None,
        text: str | None = None,
        *,
        buttons: Sequence[str] = (),
        rows: Sequence[str] = (),
        within: float | None = None,
    ) -> OutboundMessage:
        """Wait for one reply of this kind / text pattern / button ids / row ids."""
        expectation = Expectation(kind=kind, text=text, buttons=tuple(buttons), rows=tuple(rows))
        return self.expect_replies([expectation], within)[0]

    def expect_no_reply(self, within: float | None = None) -> None:
        """Fail if the bot sends this user anything within ``within`` seconds."""
        within = self.target.no_reply_seconds if within is None else within
        deadline = time.monotonic() + within
        while not self._pending and (remaining := deadline - time.monotonic()) > 0:
            self._fetch(remaining)
        if self._pending:
            raise ReplyError(
                "the bot replied where no reply was expected",
                actor=self.label,
                expected=[f"no message within {within:.1f} s"],
                arrived=list(self._pending),
                transcript=self.transcript.render(),
            )


def _describe_inbound(message: dict[str, Any]) -> str:
    kind = message.get("type", "?")
    if kind == "text":
        return f'text "{message["text"]["body"][:80]}"'
    if kind == "interactive":
        reply = message["interactive"]
        sub = reply.get("type", "")
        return f"tap {sub.replace('_reply', '')} id={reply.get(sub, {}).get('id')}"
    if kind == "location":
        place = message["location"]
        return f"location {place['latitude']},{place['longitude']}"
    if kind == "reaction":
        return f"reaction {message['reaction']['emoji']}"
    return f"{kind} message"
