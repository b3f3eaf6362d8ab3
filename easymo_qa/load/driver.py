"""One load-test process's journey machinery, independent of Locust: each simulated user runs one journey of
the mix per iteration with the same :class:`~easymo_qa.conversation.JourneyRunner` as the e2e suite.

Each turn is measured twice: the webhook POST goes through the user's HTTP session (Locust's
``FastHttpSession``), named after the step and reported as request type ``WEBHOOK`` (ACK latency, HTTP
status); the reply latency (webhook sent → last expected reply recorded by the Graph API simulator, from
the runner's ``StepResult.reply_ms``) is reported as ``REPLY`` under the same name. A missing or wrong
reply is a ``REPLY`` failure named after its step, e.g. ``home-menu:2 user tap back_home``.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import gevent
import httpx

from easymo_qa.conversation.model import Journey, Step
from easymo_qa.conversation.runner import JourneyRunner, JourneyStepFailed, StepResult
from easymo_qa.hygiene.log import HygieneLog
from easymo_qa.hygiene.registry import Violation
from easymo_qa.load import clock
from easymo_qa.load.mix import JourneyMix
from easymo_qa.load.numbers import LoadNumberPool
from easymo_qa.load.reply_stream import ReplyStream
from easymo_qa.load.samples import REPLY, WEBHOOK
from easymo_qa.target import Target, harness_headers
from easymo_qa.whatsapp.outbound import OutboundMessage

log = logging.getLogger(__name__)

# fire(request_type, name, response_time_ms, error or None): Locust's events.request, in the locustfile.
FireRequest = Callable[[str, str, float, Exception | None], None]
MAX_FAILURE_EXAMPLES = 20


class StepFailure(Exception):
    """A failed turn as Locust shows it: short, without numbers or timestamps, so failures group."""


class HttpSession(Protocol):
    """The part of Locust's ``FastHttpSession`` the webhook transport uses."""

    def request(self, method: str, url: str, **kwargs: Any) -> Any: ...


def step_name(journey: Journey, index: int) -> str:
    """``<journey>:<step n> <actor> <action> <value>``, from the journey file (before ${vars})."""
    step = journey.steps[index]
    action = step.action()
    if action is None:
        what = "wait for replies"
    else:
        kind, value = action
        shown = "location" if kind == "share" else " ".join(str(value).split())
        what = f"{step.actor} {kind} {shown[:32]}"
    return f"{journey.journey}:{index + 1} {what}"


def short_error(detail: str) -> str:
    """The first line of a ReplyError / step failure, plus what was expected (no transcript)."""
    lines = detail.splitlines()
    expected, take = [], False
    for line in lines:
        stripped = line.strip()
        if stripped == "expected:":
            take = True
            continue
        if take:
            if not stripped.startswith("- "):
                break
            expected.append(stripped[2:])
    head = next((ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("step:")), detail)
    return head + (f"; expected {'; '.join(expected)}" if expected else "")


def worker_number_pool(prefix: str, length: int, worker_index: int) -> LoadNumberPool:
    """Fresh numbers that never collide across load workers: two shard digits from the worker index (up
    to 100 workers, 100,000 numbers each), or one when the range is too short for two."""
    index = max(worker_index, 0)
    if length - len(prefix) >= 7:
        return LoadNumberPool(prefix + str(index // 10 % 10), length, shard=index % 10)
    return LoadNumberPool(prefix, length, shard=index % 10)


class WebhookChannel:
    """The ``client`` that simulated users (and their journey runner) talk through during a load run.

    The webhook POSTs go through the Locust user's HTTP session as request type ``WEBHOOK``, named after the
    current step; replies come from the process's shared :class:`ReplyStream` (``reply_source``). Anything
    else a journey does over HTTP (fault rules, checks on the observability API) goes through ``other``, a
    plain client, and is not load: it is not reported to Locust.
    """

    def __init__(
        self, http: HttpSession, reply_source: ReplyStream, webhook_url: str, other: httpx.Client
    ) -> None:
        self.http = http
        self.reply_source = reply_source
        self.webhook_url = webhook_url
        self.other = other
        self.name = "webhook"
        self.last_status: int | None = None

    def post(
        self, url: str, *, content: bytes | None = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        if url != self.webhook_url or content is None or kw:
            return self.other.post(url, content=content, headers=headers, **kw)
        with self.http.request(
            "POST", url, name=self.name, data=content, headers=headers, catch_response=True
        ) as response:
            response.request_meta["request_type"] = WEBHOOK
            self.last_status = status = response.status_code
            if status == 200:
                response.success()
            else:
                error = getattr(response, "error", None)
                why = f" ({type(error).__name__}: {error})" if status == 0 and error else ""
                response.failure(f"webhook answered HTTP {status}{why}")
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.other, name)  # get, delete, request...: the plain client


@dataclass
class LoadSession:
    """What one load-test process shares between its users."""

    target: Target
    mix: JourneyMix
    stream: ReplyStream
    numbers: LoadNumberPool
    other: httpx.Client
    failures: list[dict[str, str]] = field(default_factory=list)
    # Every reply of every journey goes through the message hygiene rules, as in the e2e suite.
    hygiene: HygieneLog = field(default_factory=HygieneLog)
    # Load users and the journeys they played, by kind of WhatsApp user (loadtests/mix.yaml's identities).
    users_by_kind: Counter[str] = field(default_factory=Counter)
    journeys_by_kind: Counter[str] = field(default_factory=Counter)
    _names: dict[str, list[str]] = field(default_factory=dict)
    # The simulator's clock minus ours at the start (applied to every reply) and at the end (drift).
    clock_start: clock.ClockOffset = field(default_factory=clock.ClockOffset.zero)
    clock_end: clock.ClockOffset | None = None

    @classmethod
    def open(
        cls,
        target: Target,
        mix: JourneyMix,
        worker_index: int,
        hygiene: HygieneLog | None = None,
        verify_tls: bool = True,
    ) -> LoadSession:
        numbers = worker_number_pool(target.number_prefix, target.number_length, worker_index)
        pinned = mix.pinned_phones()
        own = numbers.prefix
        stream = ReplyStream(
            target.graph_api_url or "",
            keep=lambda to: to.startswith(own) or to in pinned,
            retention_seconds=max(120.0, 4 * target.reply_seconds),
            headers=harness_headers(target),
            verify_tls=verify_tls,
        )
        other = httpx.Client(
            timeout=target.http_seconds, follow_redirects=False, auth=target.harness_auth(), verify=verify_tls
        )
        offset = measure_clock(stream)
        stream.clock_offset = offset.offset
        session = cls(target, mix, stream.start(), numbers, other, hygiene=hygiene or HygieneLog())
        session.clock_start = offset
        return session

    def measure_clock_end(self) -> None:
        """Sample the offset once more (the run's end), to notice drift; once per session."""
        if self.clock_end is None and self.stream.running and self.clock_start.samples:
            self.clock_end = measure_clock(self.stream)

    def close(self) -> None:
        self.measure_clock_end()
        stats = self.stream.stats
        log.info(
            "reply stream: %d polls brought %d messages (%d for this process), %d errors",
            stats.polls,
            stats.received,
            stats.delivered,
            stats.errors,
        )
        self.stream.stop()
        self.other.close()

    def clock_section(self) -> dict[str, Any]:
        """``summary.json``'s ``clock`` for this process (see :func:`easymo_qa.load.clock.clock_section`)."""
        return clock.clock_section(self.clock_start, self.clock_end)

    def names(self, journey: Journey) -> list[str]:
        found = self._names.get(journey.journey)
        if found is None:
            found = self._names[journey.journey] = [step_name(journey, i) for i in range(len(journey.steps))]
        return found

    def new_user_kind(self) -> str:
        """The kind of WhatsApp user the next load user of this process plays (the mix's shares)."""
        kind = self.mix.next_kind(self.users_by_kind)
        self.users_by_kind[kind] += 1
        return kind

    def identity_counts(self) -> dict[str, dict[str, int]]:
        """``{kind: {"users": n, "journeys": n}}`` so far in this process."""
        kinds = sorted(set(self.users_by_kind) | set(self.journeys_by_kind))
        return {k: {"users": self.users_by_kind[k], "journeys": self.journeys_by_kind[k]} for k in kinds}

    def note_failure(self, name: str, error: str, detail: str) -> None:
        if len(self.failures) < MAX_FAILURE_EXAMPLES:
            self.failures.append({"name": name, "error": error, "detail": detail})

    def take_failures(self) -> list[dict[str, str]]:
        taken, self.failures = self.failures, []
        return taken


def measure_clock(stream: ReplyStream) -> clock.ClockOffset:
    """The simulator's clock offset, or none (logged) when it has no ``/_sim/clock`` or cannot answer: the
    latencies then rest on the two clocks agreeing, which holds on one machine only."""
    try:
        return clock.measure(stream.server_clock)
    except Exception as exc:
        log.warning("clock offset to the Graph API simulator unknown (%s); taken as 0", exc)
        return clock.ClockOffset.zero()


class JourneyDriver:
    """Runs journeys for one simulated user (one Locust user), who keeps one kind of WhatsApp identity
    (phone, phone and username, username only: the mix's ``identities``) for its fresh actors."""

    def __init__(
        self, session: LoadSession, http: HttpSession, fire: FireRequest, rng: random.Random
    ) -> None:
        self.session = session
        self.fire = fire
        self.rng = rng
        self.channel = WebhookChannel(http, session.stream, session.target.webhook_url, session.other)
        self.kind = session.new_user_kind()

    def run_once(self) -> bool:
        """One journey of the mix, picked by weight, played as this user's kind; True when every step
        passed."""
        mix = self.session.mix
        journey = mix.played_as(mix.pick(self.rng, self.kind).journey, self.kind)
        self.session.journeys_by_kind[self.kind] += 1
        return self.run(journey)

    def run(self, journey: Journey) -> bool:
        names = self.session.names(journey)
        turn = _Turn(journey, names, time.perf_counter())
        self.channel.name = names[0]

        def check_hygiene(message: OutboundMessage) -> None:
            turn.violations.extend(self.session.hygiene(message))

        runner = JourneyRunner(
            self.session.target,
            self.channel,  # type: ignore[arg-type]  # posts like an httpx.Client, brings reply_source
            self.session.numbers,
            on_step=lambda result: self._on_step(turn, result),
            on_reply=check_hygiene,
            strict=False,  # seeded staff are shared by every concurrent user; latency has its own gates
        )
        try:
            runner.run(journey)
        except JourneyStepFailed as exc:
            self.session.note_failure(names[exc.index], short_error(exc.detail), str(exc))
            return False
        except Exception as exc:  # a harness problem: count it, keep the user alive
            name = names[min(turn.index, len(names) - 1)]
            elapsed = (time.perf_counter() - turn.started) * 1000
            self.fire(REPLY, name, elapsed, StepFailure(f"harness error: {type(exc).__name__}: {exc}"))
            log.exception("journey %s crashed at %s", journey.journey, name)
            self.session.note_failure(name, f"{type(exc).__name__}: {exc}", repr(exc))
            return False
        return True

    def _on_step(self, turn: _Turn, result: StepResult) -> None:
        name = turn.names[result.index]
        step: Step = turn.journey.steps[result.index]
        if result.ok:
            if turn.violations:  # a reply broke a message rule: the turn fails, as the e2e test would
                first, turn.violations = turn.violations[0], []
                error = f"message hygiene: {first.line()}"
                self.fire(REPLY, name, result.reply_ms or 0.0, StepFailure(short_error(error)))
                self.session.note_failure(name, short_error(error), error)
            elif result.reply_ms is not None:
                self.fire(REPLY, name, result.reply_ms, None)
        else:
            webhook_failed = step.action() is not None and self.channel.last_status != 200
            if step.expect or step.expect_silence or not webhook_failed:
                elapsed = (time.perf_counter() - turn.started) * 1000
                self.fire(REPLY, name, elapsed, StepFailure(short_error(result.error)))
            return
        turn.index = result.index + 1
        if turn.index < len(turn.names):
            pause = self.session.mix.think(self.rng)
            if pause > 0:
                gevent.sleep(pause)
            self.channel.name = turn.names[turn.index]
            self.channel.last_status = None
        turn.started = time.perf_counter()


@dataclass
class _Turn:
    journey: Journey
    names: list[str]
    started: float
    index: int = 0
    violations: list[Violation] = field(default_factory=list)
