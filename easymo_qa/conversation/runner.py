"""Runs a journey against a target: each step's action, then its expectations, actors labelled.

No pytest in here: the e2e items and the load test both call :meth:`JourneyRunner.run`.
"""

from __future__ import annotations

import os
import random
import re
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

import httpx

from easymo_qa.conversation.checks import CheckContext, CheckFailed, run_check
from easymo_qa.conversation.expr import duration_seconds
from easymo_qa.conversation.faults import FaultInjector, InjectionError
from easymo_qa.conversation.model import Expect, Journey, Step
from easymo_qa.target import Target
from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.expect import Expectation, ReplyError, check_window
from easymo_qa.whatsapp.numbers import TestNumberPool
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.transcript import Transcript
from easymo_qa.whatsapp.user import WhatsAppUser

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)(?:\|([a-z]+))?\}")
# Filters: ``${code|wrong}`` is a value guaranteed to differ from ``${code}`` (every digit + 1 mod 10).
_FILTERS: dict[str, Callable[[str], str]] = {
    "wrong": lambda v: "".join(str((int(c) + 1) % 10) if c.isdigit() else c for c in v) if v else "x",
}


@dataclass(frozen=True)
class StepResult:
    """One step's measurements: webhook ACK and the slowest expected reply (reply latency)."""

    index: int
    line: int
    actor: str | None
    action: str
    ack_status: int | None
    ack_ms: float | None
    reply_ms: float | None
    ok: bool
    error: str = ""


@dataclass
class JourneyResult:
    journey: Journey
    steps: list[StepResult] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    transcript: Transcript = field(default_factory=Transcript)


class JourneyStepFailed(AssertionError):
    """A step failed: names the journey file and line, the step, and carries the whole conversation."""

    def __init__(
        self, journey: Journey, index: int, step: Step, detail: str, env_name: str = "local"
    ) -> None:
        self.journey, self.index, self.step, self.detail = journey, index, step, detail
        where = f"{journey.source}:{step.line}" if journey.source else f"step {index + 1}"
        self.location = where
        from easymo_qa.rerun import pytest_command  # the env file, defects and venv of this session

        super().__init__(
            f"journey '{journey.journey}' failed at step {index + 1} ({where})\n{detail}\n"
            f"Reproduce with: {pytest_command(journey.source or journey.journey, env_name=env_name)}"
        )


class _Variables:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def _lookup(self, match: re.Match[str]) -> str:
        name, flt = match.group(1), match.group(2)
        if name not in self.values:
            known = ", ".join(sorted(self.values)) or "none"
            raise KeyError(f"unknown variable ${{{name}}} (known: {known})")
        if flt is None:
            return self.values[name]
        if flt not in _FILTERS:
            raise KeyError(f"unknown filter |{flt} in ${{{name}|{flt}}} (known: {', '.join(_FILTERS)})")
        return _FILTERS[flt](self.values[name])

    def text(self, value: str) -> str:
        return _VAR.sub(self._lookup, value)

    def pattern(self, value: str) -> str:
        return _VAR.sub(lambda m: re.escape(self._lookup(m)), value)


# Run ids only need to differ between concurrent runs, not to be secret: a seeded PRNG, not the OS's
# (secrets.choice was 4 % of a load worker's CPU).
_RUN_IDS = random.Random(int.from_bytes(os.urandom(8), "big"))


class JourneyRunner:
    """Plays every actor of a journey as a :class:`WhatsAppUser` and checks every expectation."""

    def __init__(
        self,
        target: Target,
        client: httpx.Client,
        numbers: TestNumberPool,
        *,
        on_step: Callable[[StepResult], None] | None = None,
        on_reply: Callable[[OutboundMessage], object] | None = None,
        strict: bool = True,
    ) -> None:
        self.target = target
        self.client = client
        self.numbers = numbers
        self.on_step = on_step
        self.on_reply = on_reply  # sees every reply any actor receives (message hygiene)
        # Strict conversations (the functional suites): every message to any actor must be expected, in
        # order, within its latency budget. The load test runs loose: seeded staff are shared by every
        # concurrent user there, and latency has its own gates.
        self.strict = strict

    def run(self, journey: Journey, transcript: Transcript | None = None) -> JourneyResult:
        result = JourneyResult(journey, transcript=transcript if transcript is not None else Transcript())
        users: dict[str, WhatsAppUser] = {}
        pinned = {name for name, actor in journey.actors.items() if actor.phone}
        # Letters only: a run id inside a product name must never read as a quantity.
        values = {"run_id": "".join(_RUN_IDS.choices(string.ascii_lowercase, k=6))}
        for name, actor in journey.actors.items():
            phone = actor.phone or self.numbers.next(actor.phone_suffix or "")
            user = WhatsAppUser(
                self.target,
                self.client,
                phone,
                role=name,
                name=actor.name,
                transcript=result.transcript,
                on_reply=self.on_reply,
            )
            if actor.phone:
                user.skip_history()  # a seeded number: ignore other conversations' messages so far
            users[name] = user
            values[f"{name}.phone"] = phone
        values.update({f"setting.{k}": v for k, v in self.target.sut_settings.items()})
        variables = _Variables(values)
        result.variables = values
        guard = _Strictness(journey, pinned, variables) if self.strict else None
        if guard is not None:
            guard.start_seq = {user.phone: user.cursor for user in users.values()}
        # Faults are scoped to this run, so parallel journeys never see each other's; cleared even on failure.
        faults = FaultInjector(self.target, self.client, scope=f"{journey.journey}:{values['run_id']}")
        self._action_times: dict[str, float] = {}  # a named step's action time, for expectations' since
        self._last_action_at: float | None = None
        try:
            for index, step in enumerate(journey.steps):
                if guard is not None and index > 0:
                    previous = journey.steps[index - 1]
                    try:  # nothing unexpected since the last step's expectations were met
                        guard.no_strays(users, previous, 0.0)
                    except ReplyError as exc:
                        self._fail(result, index - 1, previous, exc)
                try:
                    step_result = self._run_step(index, step, users, variables, faults, guard)
                except (ReplyError, CheckFailed, InjectionError, KeyError, ValueError) as exc:
                    self._fail(result, index, step, exc)
                result.steps.append(step_result)
                if self.on_step:
                    self.on_step(step_result)
            if guard is not None:
                last = len(journey.steps) - 1
                try:
                    # Stragglers: an extra message often comes a moment after the expected one.
                    guard.no_strays(users, journey.steps[last], self.target.no_reply_seconds)
                    guard.no_refusals(users)
                    if journey.happy_path() and self.target.has("observability"):
                        guard.no_trouble_events(CheckContext(self.target, self.client, variables.text), users)
                except (ReplyError, CheckFailed) as exc:
                    self._fail(result, last, journey.steps[last], exc)
        finally:
            faults.clear()
        return result

    def _fail(self, result: JourneyResult, index: int, step: Step, exc: Exception) -> NoReturn:
        detail = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        failed = StepResult(index, step.line, step.actor, _describe(step), None, None, None, False, detail)
        if self.on_step:
            self.on_step(failed)
        if isinstance(exc, CheckFailed):
            detail += "\n  transcript:\n" + _indent_lines(result.transcript.render())
        detail = _indent(detail, step)
        raise JourneyStepFailed(result.journey, index, step, detail, self.target.env_name) from None

    def _run_step(
        self,
        index: int,
        step: Step,
        users: dict[str, WhatsAppUser],
        variables: _Variables,
        faults: FaultInjector,
        guard: _Strictness | None = None,
    ) -> StepResult:
        if step.pause is not None:
            time.sleep(duration_seconds(variables.text(str(step.pause))))
        for inject in step.inject:
            faults.add(inject, variables.text)
        ack_status = ack_ms = None
        # A step with no action waits for what the last action set off: its budgets count from there.
        sent_at = self._last_action_at or time.time()
        action = step.action()
        if action is not None and step.actor:
            user = users[step.actor]
            started = time.perf_counter()
            sent_at = time.time()
            self._last_action_at = sent_at
            response = self._act(user, action[0], action[1], variables)
            for _ in range(step.repeat - 1):  # later repeats keep the replies to the earlier ones
                if response.status_code != 200:
                    break
                response = self._act(user, action[0], action[1], variables, clear_pending=False)
            ack_ms = (time.perf_counter() - started) * 1000
            ack_status = response.status_code
            if response.status_code != 200:
                raise ReplyError(
                    f"the webhook answered HTTP {response.status_code} to a correctly signed message",
                    actor=user.label,
                    expected=["HTTP 200"],
                    arrived=[],
                    transcript=user.transcript.render(),
                )
        if action is not None and step.name is not None:
            self._action_times[step.name] = sent_at
        reply_ms = self._check(step, users, variables, sent_at, guard)
        for name in step.expect_silence:
            users[name].expect_no_reply()
        if step.check:
            context = CheckContext(self.target, self.client, variables.text)
            for check in step.check:
                run_check(check, context)
        return StepResult(index, step.line, step.actor, _describe(step), ack_status, ack_ms, reply_ms, True)

    def _act(
        self,
        user: WhatsAppUser,
        kind: str,
        value: object,
        variables: _Variables,
        *,
        clear_pending: bool = True,
    ) -> httpx.Response:
        if kind == "send":
            message = payloads.text(user.phone, variables.text(str(value)))
        elif kind == "tap":
            context = user.last_reply.wamid if user.last_reply else None
            message = payloads.button_reply(user.phone, variables.text(str(value)), context_id=context)
        elif kind == "choose":
            context = user.last_reply.wamid if user.last_reply else None
            message = payloads.list_reply(user.phone, variables.text(str(value)), context_id=context)
        elif kind == "share":
            place = value  # a Location model
            message = payloads.location(user.phone, place.latitude, place.longitude, name=place.name)  # type: ignore[attr-defined]
        elif kind == "send_media":
            message = payloads.media(user.phone, value)  # type: ignore[arg-type]
        else:  # react
            target_id = user.last_reply.wamid if user.last_reply else payloads.new_wamid()
            message = payloads.reaction(user.phone, target_id, str(value))
        return user.send(message, clear_pending=clear_pending)

    def _check(
        self,
        step: Step,
        users: dict[str, WhatsAppUser],
        variables: _Variables,
        sent_at: float,
        guard: _Strictness | None = None,
    ) -> float | None:
        if not step.expect:
            return None
        by_actor: dict[str, list[Expect]] = {}
        for expect in step.expect:
            by_actor.setdefault(expect.to or step.actor or "", []).append(expect)
        budgets = {id(e): self._budget(e, variables, guard) for e in step.expect}
        # Wait long enough to see a late reply arrive (and say how late), not only until its budget.
        wait = max([self.target.reply_seconds, *(b[1] for b in budgets.values())])
        deadline = time.monotonic() + wait
        latest = sent_at
        for name, expects in by_actor.items():
            user = users[name]
            wanted = [
                Expectation(
                    kind=e.kind,
                    text=variables.pattern(e.text) if e.text is not None else None,
                    not_text=variables.pattern(e.not_text) if e.not_text is not None else None,
                    buttons=tuple(variables.text(b) for b in e.buttons),
                    rows=tuple(variables.text(r) for r in e.rows),
                )
                for e in expects
                for _ in range(e.count)
            ]
            remaining = max(0.0, deadline - time.monotonic())
            if guard is None:
                found = user.expect_replies(wanted, within=remaining, record_latency=False)
            else:
                found = user.expect_replies(
                    wanted,
                    within=remaining,
                    ordered=not step.any_order,
                    strict=True,
                    may_skip=guard.skipper(name, step),
                    record_latency=False,
                )
                flat = [e for e in expects for _ in range(e.count)]
                for expect, expectation, message in zip(flat, wanted, found, strict=True):
                    start = self._action_times.get(expect.since, sent_at) if expect.since else sent_at
                    if expect.after is None and expect.since is None and step.action() is not None:
                        # A reply to this action (a deadline's message is no reply latency).
                        user.transcript.latency((message.received_at - start) * 1000)
                    check_window(
                        expectation,
                        message,
                        start,
                        budgets[id(expect)],
                        actor=user.label,
                        transcript=user.transcript,
                        since="the action",
                    )
            firsts = [e for e in expects for i in range(e.count) if i == 0]
            found = [m for i, m in enumerate(found) if i in _first_indexes(expects)]
            for expect, message in zip(firsts, found, strict=True):
                _capture(expect, message, variables)
                latest = max(latest, message.received_at)
        return (latest - sent_at) * 1000

    def _budget(
        self, expect: Expect, variables: _Variables, guard: _Strictness | None
    ) -> tuple[float, float]:
        """(not before, not after) in seconds after the action."""
        if expect.within is not None:
            high = duration_seconds(variables.text(str(expect.within)))
        elif guard is not None and guard.journey.reply_budget is not None:
            high = duration_seconds(variables.text(str(guard.journey.reply_budget)))
        else:
            high = self.target.reply_budget_seconds if guard is not None else self.target.reply_seconds
        low = duration_seconds(variables.text(str(expect.after))) if expect.after is not None else 0.0
        return low, high


# Ids a conversation is about (ORD-7F3K2Q, QR-…): a message to shared seeded staff that names only other
# conversations' ids belongs to another test running at the same time.
_REFERENCE_ID = re.compile(r"\b[A-Z]{1,4}-[A-Z0-9]{4,}\b")
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


class _Strictness:
    """Strict conversations: whatever any actor receives must be expected, allowed, or someone else's."""

    def __init__(self, journey: Journey, pinned: set[str], variables: _Variables) -> None:
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
                ids = set(_REFERENCE_ID.findall(said))
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
        phones = [u.phone for name, u in users.items() if name not in self.pinned]
        orders = sorted({v for v in self.variables.values.values() if _REFERENCE_ID.fullmatch(v)})
        found: list[str] = []
        for key, value in [("phone", p) for p in phones] + [("order_id", o) for o in orders]:
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


def _first_indexes(expects: list[Expect]) -> set[int]:
    """Positions of each expectation's first match in the flattened (count-repeated) list."""
    indexes, position = set(), 0
    for expect in expects:
        indexes.add(position)
        position += expect.count
    return indexes


def _capture(expect: Expect, message: OutboundMessage, variables: _Variables) -> None:
    for name, capture in expect.capture.items():
        value: str | None = None
        if capture.text is not None:
            match = re.search(capture.text, message.visible_text)
            value = match.group(1) if match and match.groups() else (match.group(0) if match else None)
        elif capture.row is not None and capture.row < len(message.row_ids):
            value = message.row_ids[capture.row]
        elif capture.button is not None and capture.button < len(message.button_ids):
            value = message.button_ids[capture.button]
        if value is not None and capture.pattern is not None and capture.text is None:
            match = re.fullmatch(capture.pattern, value)
            value = match.group(1) if match and match.groups() else None
        if value is None:
            raise ValueError(f"could not capture '{name}' from the reply: {message.summary()}")
        variables.values[name] = value


def _describe(step: Step) -> str:
    action = step.action()
    if action is None:
        return "wait for replies"
    kind, value = action
    return f"{step.actor} {kind} {value if not hasattr(value, 'latitude') else 'location'}"


def _indent_lines(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _indent(detail: str, step: Step) -> str:
    return f"  step: {_describe(step)}" + (f"  ({step.note})" if step.note else "") + "\n" + detail
