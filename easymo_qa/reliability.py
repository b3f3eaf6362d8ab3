"""Webhook reliability: a storm of signed messages the way Meta delivers them, and an account of each one.

- :func:`build_plan`: every user sends home-menu words (``hi``, ``menu``, ``home``…), each of which gets
  exactly one reply (the home menu). About 10 % of the messages go out inside multi-message webhooks
  (several users in one POST), about 10 % are delivered twice with the same wamid (right after the first
  delivery so both race, later on, or twice inside one payload), and about 10 % carry a timestamp older
  than the message before them. The plan is seeded, so a failing run can be replayed.
- :func:`send_plan`: POSTs every delivery, signed, on a bounded thread pool, within a time limit.
- :func:`account`: after the SUT settles, each distinct message must have exactly one outcome, read from
  the SUT's observability events (its contract, ``GET /admin/events``): ``message_received`` (wamid →
  correlation id), then ``reply_sent`` with that correlation id, or a recorded reason for no reply
  (``reply_suppressed``, ``opted_out``…); every extra delivery a ``duplicate_ignored``. A message whose
  handling failed (``message_failed``, ``reply_failed``, ``job_failed``, the names the reference service
  logs in ``reference/observability.py``) is a failure, never a "reason", even when an apology went out.
  The replies the Graph API simulator recorded per user are counted too, so a reply sent without an event
  still shows.

The storm's users are of every kind Meta shows a business since 2026 (:data:`STORM_KINDS`, see
``easymo_qa/whatsapp/identity.py``): phone users, phone users with a username, and username-only users, whose
webhooks carry no ``from`` / ``wa_id`` (only ``from_user_id`` / ``user_id``, their BSUID) and whose events are
read by ``GET /admin/events?user_id=<BSUID>`` (a phone user's by ``?phone=``).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, cast

import httpx

from easymo_qa.target import Target
from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.identity import USER_KINDS, Identity, UserKind
from easymo_qa.whatsapp.signing import encode_body, signed_headers

HOME_WORDS = ("hi", "menu", "home", "hello", "Menu", "HOME", "hey", "muraho", "bonjour")
# Events that explain why a message got no reply, on purpose.
NO_REPLY_REASONS = frozenset({"reply_suppressed", "reaction_ignored", "opted_out"})
# Events that say the SUT failed to handle a message (or its background work): failures, not reasons.
FAILURE_EVENTS = frozenset({"message_failed", "reply_failed", "job_failed"})
TERMINAL_EVENTS = frozenset({"message_handled", "message_failed"})
EVENTS_PAGE = 1000
MAX_PROBLEMS = 20
# What share of the storm's users is of each kind (each user keeps one kind for the whole storm).
STORM_KINDS: dict[str, float] = {"phone": 0.6, "phone_and_username": 0.2, "username_only": 0.2}


@dataclass(frozen=True)
class Delivery:
    """One webhook POST: the messages it carries (a wamid twice in one payload is a duplicate too)."""

    messages: tuple[dict[str, Any], ...]
    kind: str  # single | batch | retry | retry_same_payload


@dataclass
class Plan:
    """The storm. Users are keyed by their phone digits inside the harness (the Graph API simulator files a
    user's replies under it); a message item keeps its sender's phone in ``from`` here, and
    :func:`send_plan` shapes each webhook for the sender's kind (a username-only sender's loses it)."""

    users: list[str]
    messages: dict[str, dict[str, Any]]  # wamid → the message item
    deliveries: list[Delivery]
    out_of_order: int = 0
    seed: int = 0
    identities: dict[str, Identity] = field(default_factory=dict)  # phone → who the business sees

    def identity(self, phone: str) -> Identity:
        return self.identities.get(phone) or Identity(phone)

    def label(self, phone: str) -> str:
        """How a problem names the user: the phone, or the BSUID when the business sees no phone."""
        who = self.identity(phone)
        return phone if who.phone_visible else who.bsuid

    def kinds(self) -> Counter[str]:
        """How many users of each kind."""
        return Counter(self.identity(p).kind for p in self.users)

    def copies(self) -> Counter[str]:
        """How many times each wamid is delivered in all."""
        return Counter(m["id"] for d in self.deliveries for m in d.messages)

    @property
    def batched(self) -> int:
        return sum(len(d.messages) for d in self.deliveries if d.kind == "batch")

    def wamids_of(self, phone: str) -> list[str]:
        return [w for w, m in self.messages.items() if m["from"] == phone]

    def webhook(self, business: payloads.BusinessPhone, delivery: Delivery) -> dict[str, Any]:
        """The payload of one delivery, each message shaped for its sender's kind (copies: the plan's
        items keep their ``from``, and threads never share a dict)."""
        names = {phone: f"Reliability {i}" for i, phone in enumerate(self.users)}
        senders = {self.identity(m["from"]) for m in delivery.messages}
        return payloads.webhook(
            business, [dict(m) for m in delivery.messages], profile_names=names, identities=senders
        )


def users_needed(min_messages: int, min_users: int, rate_limit: int) -> tuple[int, int]:
    """(users, messages per user): enough users that nobody goes over the SUT's per-user rate limit."""
    per_user_cap = max(1, int(rate_limit / 1.3)) if rate_limit > 0 else 10**6  # room for the retries
    users = max(min_users, math.ceil(min_messages / per_user_cap))
    return users, math.ceil(min_messages / users)


def kind_counts(users: int, shares: Mapping[str, float]) -> dict[str, int]:
    """How many of ``users`` are of each kind: the shares' largest remainders, so the counts add up."""
    unknown = sorted(set(shares) - set(USER_KINDS))
    total = sum(shares.values())
    if unknown or total <= 0 or any(v < 0 for v in shares.values()):
        raise ValueError(f"shares of {', '.join(USER_KINDS)} (>= 0, not all 0), got {dict(shares)}")
    exact = {kind: users * shares.get(kind, 0.0) / total for kind in USER_KINDS}
    counts = {kind: int(value) for kind, value in exact.items()}
    by_remainder = sorted(USER_KINDS, key=lambda k: (-(exact[k] - counts[k]), USER_KINDS.index(k)))
    for kind in by_remainder[: users - sum(counts.values())]:
        counts[kind] += 1
    return counts


def build_plan(
    phones: Sequence[str],
    per_user: int,
    *,
    seed: int,
    retry_share: float = 0.10,
    batch_share: float = 0.10,
    out_of_order_share: float = 0.10,
    kinds: Mapping[str, float] = STORM_KINDS,
) -> Plan:
    rng = random.Random(seed)
    base = int(time.time()) - 600
    drawn = [cast(UserKind, kind) for kind, n in kind_counts(len(phones), kinds).items() for _ in range(n)]
    rng.shuffle(drawn)
    identities = {phone: Identity(phone, kind) for phone, kind in zip(phones, drawn, strict=True)}
    messages: dict[str, dict[str, Any]] = {}
    out_of_order = 0
    for phone in phones:
        stamp = base
        wamid = identities[phone].new_wamid  # a username-only user's ids never carry the withheld phone
        for k in range(per_user):
            word = HOME_WORDS[(k + rng.randrange(3)) % len(HOME_WORDS)]
            message = payloads.text(phone, word, wamid=wamid())
            if k and rng.random() < out_of_order_share:
                stamp -= rng.randint(1, 300)  # older than the message before it
                out_of_order += 1
            else:
                stamp += rng.randint(1, 5)
            message["timestamp"] = str(stamp)
            messages[message["id"]] = message
    wamids = list(messages)
    rng.shuffle(wamids)
    n_batched = int(len(wamids) * batch_share)
    batched, single = wamids[:n_batched], wamids[n_batched:]
    deliveries: list[Delivery] = []
    while batched:
        size = min(len(batched), rng.randint(2, 5))
        group, batched = batched[:size], batched[size:]
        deliveries.append(Delivery(tuple(messages[w] for w in group), "batch"))
    deliveries += [Delivery((messages[w],), "single") for w in single]
    rng.shuffle(deliveries)
    retried = rng.sample(wamids, int(len(wamids) * retry_share))
    for i, wamid in enumerate(retried):
        again = dict(messages[wamid])
        where = next(j for j, d in enumerate(deliveries) if any(m["id"] == wamid for m in d.messages))
        if i % 5 == 4:  # the same wamid twice in one payload
            deliveries.insert(where + 1, Delivery((again, dict(again)), "retry_same_payload"))
            continue
        if i % 2:  # right after the first delivery: both are in flight at once
            deliveries.insert(where + 1, Delivery((again,), "retry"))
        else:  # later on, as Meta retries after a timeout
            deliveries.insert(rng.randint(where + 1, len(deliveries)), Delivery((again,), "retry"))
    return Plan(list(phones), messages, deliveries, out_of_order, seed, identities)


@dataclass
class SendResult:
    delivery: Delivery
    status: int | None
    error: str = ""


def send_plan(
    plan: Plan,
    client: httpx.Client,
    target: Target,
    *,
    concurrency: int = 16,
    time_limit: float = 120.0,
) -> list[SendResult]:
    """POST every delivery (signed with the target's app secret); stops starting new ones at the limit."""
    business = payloads.BusinessPhone(target.phone_number_id, target.display_phone_number)
    deadline = time.monotonic() + time_limit

    def post(delivery: Delivery) -> SendResult:
        if time.monotonic() > deadline:
            return SendResult(delivery, None, "not sent: time limit reached")
        body = encode_body(plan.webhook(business, delivery))
        try:
            response = client.post(
                target.webhook_url, content=body, headers=signed_headers(body, target.app_secret)
            )
        except httpx.HTTPError as exc:
            return SendResult(delivery, None, f"{type(exc).__name__}: {exc}")
        return SendResult(delivery, response.status_code)

    with ThreadPoolExecutor(concurrency, thread_name_prefix="reliability") as pool:
        futures = [pool.submit(post, d) for d in plan.deliveries]
        return [f.result() for f in as_completed(futures)]


class EventReader:
    """Reads a user's events from ``GET /admin/events`` incrementally (``after_id`` cursors), filed under
    the user's phone: by ``?phone=`` while the business sees the phone, else by ``?user_id=<BSUID>``."""

    def __init__(
        self, client: httpx.Client, target: Target, identities: Mapping[str, Identity] | None = None
    ) -> None:
        if not target.admin_url or not target.admin_token:
            raise ValueError(f"environment {target.env_name!r} has no observability read API")
        self._client = client
        self._url = target.admin_url.rstrip("/") + "/admin/events"
        self._headers = {"X-Admin-Token": target.admin_token}
        self._identities = dict(identities or {})
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._cursor: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def _who(self, phone: str) -> dict[str, str]:
        who = self._identities.get(phone)
        return {"phone": phone} if who is None or who.phone_visible else {"user_id": who.bsuid}

    def refresh(self, phone: str) -> list[dict[str, Any]]:
        while True:
            params = {**self._who(phone), "after_id": self._cursor[phone], "limit": EVENTS_PAGE}
            response = self._client.get(self._url, params=params, headers=self._headers)
            response.raise_for_status()
            page = response.json()["events"]
            with self._lock:
                self.events[phone] += page
                if page:
                    self._cursor[phone] = page[-1]["id"]
            if len(page) < EVENTS_PAGE:
                return self.events[phone]

    def refresh_all(self, phones: Iterable[str], pool: ThreadPoolExecutor) -> None:
        list(pool.map(self.refresh, phones))


def settled(plan: Plan, phone: str, events: list[dict[str, Any]]) -> bool:
    """Has every message of ``phone`` reached an end (handled or failed)?"""
    done = {e["data"].get("wamid") for e in events if e["name"] in TERMINAL_EVENTS}
    return all(w in done for w in plan.wamids_of(phone))


def wait_until_settled(
    plan: Plan, reader: EventReader, *, timeout: float, quiet: float, poll: float = 0.3
) -> bool:
    """Poll until every message reached an end (or ``timeout``), then wait ``quiet`` s for stragglers."""
    pending = set(plan.users)
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(8, thread_name_prefix="events") as pool:
        while pending and time.monotonic() < deadline:
            reader.refresh_all(sorted(pending), pool)
            pending = {p for p in pending if not settled(plan, p, reader.events[p])}
            if pending:
                time.sleep(poll)
        time.sleep(quiet)
        reader.refresh_all(plan.users, pool)
    return not pending


@dataclass
class Accounting:
    sent: int = 0
    accepted: int = 0
    replied: int = 0
    no_reply_with_reason: int = 0
    lost: int = 0
    failed_handling: int = 0
    duplicates_sent: int = 0
    duplicates_suppressed: int = 0
    duplicate_replies: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # failure event → messages it hit
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


def account(
    plan: Plan,
    results: Sequence[SendResult],
    events: dict[str, list[dict[str, Any]]],
    recorded_replies: dict[str, int],
) -> Accounting:
    """Each distinct message's outcome; ``recorded_replies``: replies the Graph simulator saw per user."""
    acc = Accounting(sent=len(plan.messages))
    copies = plan.copies()
    acc.duplicates_sent = sum(n - 1 for n in copies.values())
    ok: set[str] = {m["id"] for r in results if r.status == 200 for m in r.delivery.messages}
    acc.accepted = len(ok & set(plan.messages))
    for phone in plan.users:
        who = plan.label(phone)
        evs = events.get(phone, [])
        by_wamid: dict[str, list[dict[str, Any]]] = defaultdict(list)
        by_corr: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in evs:
            if e["data"].get("wamid") and e["name"] != "reply_sent":
                by_wamid[e["data"]["wamid"]].append(e)
            by_corr[e["correlation_id"]].append(e)
        event_replies = 0
        for wamid in plan.wamids_of(phone):
            mine = by_wamid.get(wamid, [])
            received = [e for e in mine if e["name"] == "message_received"]
            ignored = sum(1 for e in mine if e["name"] == "duplicate_ignored")
            acc.duplicates_suppressed += min(copies[wamid] - 1, ignored)
            if len(received) > 1:
                acc.problem(f"{who} {wamid[:24]}…: processed {len(received)} times")
            related = [e for r in received for e in by_corr[r["correlation_id"]]]
            replies = sum(1 for e in related if e["name"] == "reply_sent")
            notices = sum(1 for e in related if e["name"] == "rate_limited")  # a notice is a reply too
            reasons = sorted({e["name"] for e in related if e["name"] in NO_REPLY_REASONS})
            failures = sorted({e["name"] for e in [*mine, *related] if e["name"] in FAILURE_EVENTS})
            event_replies += replies
            extra = max(0, replies - 1 - notices)
            if extra:
                acc.duplicate_replies += extra
                acc.problem(f"{who} {wamid[:24]}…: {replies} replies to one message")
            if failures:  # even when an apology (a reply) went out after the failure
                acc.failed_handling += 1
                acc.failures.update(failures)
                acc.problem(f"{who} {wamid[:24]}… handling failed: {', '.join(failures)}")
            elif replies:
                acc.replied += 1
            elif reasons:
                acc.no_reply_with_reason += 1
                acc.reasons.update(reasons)
            else:
                acc.lost += 1
                names = ", ".join(sorted({e["name"] for e in mine})) or "no event at all"
                acc.problem(f"{who} {wamid[:24]}… lost: {names}")
        # Black box: replies the simulator recorded beyond what the events explain are duplicates too.
        seen = recorded_replies.get(phone, 0)
        unexplained = seen - event_replies
        if unexplained > 0:
            acc.duplicate_replies += unexplained
            acc.problem(f"{who}: the simulator recorded {seen} replies, the events explain {event_replies}")
    return acc


def failure_events(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The failure events among ``events`` (say, a buyer's whole purchase)."""
    return [e for e in events if e["name"] in FAILURE_EVENTS]
