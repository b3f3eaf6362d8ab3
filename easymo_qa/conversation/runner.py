"""Runs a journey against a target: each step's action, then its expectations, actors labelled.

No pytest in here: the e2e items and the load test both call :meth:`JourneyRunner.run`.
"""

from __future__ import annotations

import os
import random
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
from easymo_qa.conversation.strictness import Strictness
from easymo_qa.conversation.variables import Variables, capture, describe, send_action
from easymo_qa.target import Target
from easymo_qa.whatsapp.expect import Expectation, ReplyError, check_window
from easymo_qa.whatsapp.numbers import TestNumberPool
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.transcript import Transcript
from easymo_qa.whatsapp.user import WhatsAppUser


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


# Run ids only need to differ between concurrent runs, not to be secret: a seeded PRNG, not the OS's
# (secrets.choice was 4 % of a load worker's CPU).
_RUN_IDS = random.Random(int.from_bytes(os.urandom(8), "big"))
_LAST_LETTERS = string.ascii_lowercase.replace("s", "")


def new_run_id() -> str:
    """Six letters that tell this journey's data apart. Letters only: inside a product name a run id must
    never read as a quantity. Never ending in "s": a bot's search singularises plural words
    (jerrycans → jerrycan) and may echo the query so, and the journey's regex names the run id as sent."""
    return "".join(_RUN_IDS.choices(string.ascii_lowercase, k=5)) + _RUN_IDS.choice(_LAST_LETTERS)


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
        values = {"run_id": new_run_id()}
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
                kind=actor.identity,
            )
            if actor.phone:
                user.skip_history()  # a seeded number: ignore other conversations' messages so far
            users[name] = user
            values[f"{name}.phone"] = phone
            values[f"{name}.bsuid"] = user.bsuid
            values[f"{name}.username"] = user.identity.username or ""
        values.update({f"setting.{k}": v for k, v in self.target.sut_settings.items()})
        variables = Variables(values)
        result.variables = values
        guard = Strictness(journey, pinned, variables) if self.strict else None
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
        failed = StepResult(index, step.line, step.actor, describe(step), None, None, None, False, detail)
        if self.on_step:
            self.on_step(failed)
        if isinstance(exc, CheckFailed):
            detail += "\n  transcript:\n" + _indent_lines(result.transcript.render())
        note = f"  ({step.note})" if step.note else ""
        detail = f"  step: {describe(step)}{note}\n{detail}"
        raise JourneyStepFailed(result.journey, index, step, detail, self.target.env_name) from None

    def _run_step(
        self,
        index: int,
        step: Step,
        users: dict[str, WhatsAppUser],
        variables: Variables,
        faults: FaultInjector,
        guard: Strictness | None = None,
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
            response = send_action(user, action[0], action[1], variables)
            for _ in range(step.repeat - 1):  # later repeats keep the replies to the earlier ones
                if response.status_code != 200:
                    break
                response = send_action(user, action[0], action[1], variables, clear_pending=False)
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
        return StepResult(index, step.line, step.actor, describe(step), ack_status, ack_ms, reply_ms, True)

    def _check(
        self,
        step: Step,
        users: dict[str, WhatsAppUser],
        variables: Variables,
        sent_at: float,
        guard: Strictness | None = None,
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
            if not user.sees_events and any(e.read or e.typing for e in expects):
                if guard is not None:
                    raise ValueError(f"{name}'s reply source reports no read / typing events to check")
                # The load test's shared reply stream carries none: loose runs check the replies only.
                user.transcript.note(user.label, "read / typing not checked: the reply source reports none")
                expects = [e for e in expects if not (e.read or e.typing)]
                if not expects:
                    continue
            wanted = [
                Expectation(
                    kind=e.kind,
                    text=variables.pattern(e.text) if e.text is not None else None,
                    not_text=variables.pattern(e.not_text) if e.not_text is not None else None,
                    buttons=tuple(variables.text(b) for b in e.buttons),
                    rows=tuple(variables.text(r) for r in e.rows),
                    read=e.read,
                    typing=e.typing,
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
                    latency = not message.is_event and expect.after is None and expect.since is None
                    if latency and step.action() is not None:
                        # A reply to this action (a deadline's message, or an event, is no reply latency).
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
            position = 0
            for expect in expects:  # captures come from each expectation's first match
                if not found[position].is_event:  # an event is no reply: no capture, no reply latency
                    capture(expect, found[position], variables)
                    latest = max(latest, found[position].received_at)
                position += expect.count
        return (latest - sent_at) * 1000

    def _budget(self, expect: Expect, variables: Variables, guard: Strictness | None) -> tuple[float, float]:
        """(not before, not after) in seconds after the action."""
        if expect.within is not None:
            high = duration_seconds(variables.text(str(expect.within)))
        elif guard is not None and guard.journey.reply_budget is not None:
            high = duration_seconds(variables.text(str(guard.journey.reply_budget)))
        else:
            high = self.target.reply_budget_seconds if guard is not None else self.target.reply_seconds
        low = duration_seconds(variables.text(str(expect.after))) if expect.after is not None else 0.0
        return low, high


def _indent_lines(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
