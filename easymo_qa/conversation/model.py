"""The journey file schema: actors, then ordered steps (one action, then expectations on replies)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from easymo_qa.conversation.expr import duration_seconds

ROLES = ("buyer", "station", "vendor", "driver", "admin", "support", "user")
ACTIONS = ("send", "tap", "choose", "share", "send_media", "react")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Actor(_Strict):
    """A simulated WhatsApp user: ``phone`` pins a seeded number (a station's staff), else a fresh one."""

    role: Literal["buyer", "station", "vendor", "driver", "admin", "support", "user"]
    name: str = "Test User"
    phone: str | None = Field(default=None, pattern=r"^\d{8,15}$")
    phone_suffix: str | None = Field(default=None, pattern=r"^\d{1,4}$")
    # What the business sees of this user (easymo_qa/whatsapp/identity.py): the phone, the phone and a
    # username, or only a username and a BSUID (the phone withheld, as Meta does since 2026).
    identity: Literal["phone", "phone_and_username", "username_only"] = "phone"


class Location(_Strict):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = None


def _check_duration(value: float | str) -> float | str:
    if isinstance(value, str):
        if "${" not in value:
            duration_seconds(value)  # raises ValueError with the accepted syntax
        return value
    if not 0 < value <= 300:
        raise ValueError("must be greater than 0 and at most 300 seconds")
    return value


# Seconds, or an expression such as "${setting.AGENT_TIMEOUT_MS}ms + 1s" (see conversation/expr.py).
Duration = Annotated[float | str, AfterValidator(_check_duration)]
# A count, or an expression such as "1 + ${setting.AGENT_MAX_RETRIES}".
Count = int | str


class Capture(_Strict):
    """Where a value comes from in a matched reply: a regex group in its text, or a row / button id."""

    text: str | None = None  # regex with one group
    row: int | None = None  # index of a list row id
    button: int | None = None  # index of a reply button id
    pattern: str | None = None  # regex with one group applied to the row / button id ("offer:(.+)")

    @model_validator(mode="after")
    def _exactly_one(self) -> Capture:
        if sum(v is not None for v in (self.text, self.row, self.button)) != 1:
            raise ValueError("a capture takes exactly one of text (regex with a group), row or button")
        return self


class Expect(_Strict):
    """One message an actor must receive after the step's action, within its latency budget.

    ``read: true`` / ``typing: true`` expect an event instead of a message: the bot marks the actor's last
    message read (a typing indicator marks it read too) / shows him the typing indicator, within the
    budget. Events are never replies: a strict journey never counts one as unexpected.
    """

    to: str | None = None  # actor name; default: the actor who acted
    kind: str | None = None  # text | buttons | list | location | image ...
    text: str | None = None  # regex, ${vars} substituted (escaped)
    not_text: str | None = None  # regex the reply must NOT match (raw errors, JSON...)
    buttons: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()
    count: int = Field(default=1, ge=1, le=1000)  # this many distinct replies must match
    # Latency budget from the step's action: the reply must arrive no later than ``within`` (default: the
    # journey's reply_budget) and, for deadline-driven replies, no sooner than ``after``.
    within: Duration | None = None
    after: Duration | None = None
    since: str | None = None  # measure the window from the action of the step with this ``name``
    capture: dict[str, Capture] = {}
    read: bool = False
    typing: bool = False

    @model_validator(mode="after")
    def _event_alone(self) -> Expect:
        if self.read or self.typing:
            fields = ("kind", "text", "not_text", "buttons", "rows", "capture")
            content = [f for f in fields if getattr(self, f)] + (["count"] if self.count != 1 else [])
            if content:
                raise ValueError(f"read / typing expect an event, which has no {', '.join(content)}")
        return self


class Ignore(_Strict):
    """A message an actor may receive without failing the journey (strict conversations allow nothing else).

    Every given field must match; ``to`` defaults to any actor. Use sparingly, with a comment saying why.
    """

    to: str | None = None
    kind: str | None = None
    text: str | None = None  # regex, ${vars} substituted (escaped)


class Inject(BaseModel):
    """A fault switched on before the step's action, removed when the journey ends (even when it fails).

    Extra keys are the fault's parameters (``status: 503``, ``seconds: 2``, ``variant: unknown_tool``...).
    ``sim: sut`` is the system's own test-fault hook (ranking, database, notification queue).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    sim: Literal["graph", "llm", "payments", "maps", "sut"]
    action: str
    op: str | None = None
    key: str | None = None  # ${vars} substituted; e.g. the buyer's phone, so parallel tests don't collide
    times: int | None = Field(default=None, ge=1)

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class EventCheck(_Strict):
    name: str
    phone: str | None = None
    order_id: str | None = None
    data: dict[str, Any] = {}  # every key must equal the event's data[key]
    count: Count | None = None
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class OrderCheck(_Strict):
    id: str
    state: str | None = None
    payment_status: str | None = None
    ledger_entries: int | None = Field(default=None, ge=0)
    total: int | None = None


class CallsCheck(_Strict):
    sim: Literal["llm", "maps", "payments", "graph"]
    # llm: the OpenAI user field; payments: the payer MSISDN; graph: the recipient (every send attempt,
    # delivered or refused, counts: how often the SUT tried to reach that user)
    user: str | None = None
    count: Count | None = None
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class Check(_Strict):
    """An assertion on what the system recorded or did, beyond what the user saw. One kind per entry."""

    events: EventCheck | None = None
    order: OrderCheck | None = None
    calls: CallsCheck | None = None
    within: Duration | None = None  # records may lag the reply: poll until then

    @model_validator(mode="after")
    def _one_kind(self) -> Check:
        if sum(v is not None for v in (self.events, self.order, self.calls)) != 1:
            raise ValueError("a check takes exactly one of events, order or calls")
        return self


class Step(_Strict):
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]*$")  # for an expectation's since
    actor: str | None = None
    send: str | None = None
    tap: str | None = None
    choose: str | None = None
    share: Location | None = None
    send_media: Literal["image", "audio", "document", "sticker", "video"] | None = None
    react: str | None = None
    repeat: int = Field(default=1, ge=1, le=500)  # send the action this many times, as fast as possible
    pause: Duration | None = None  # wait this long before the action (silence: nothing may arrive meanwhile)
    inject: list[Inject] = []
    expect: list[Expect] = []
    any_order: bool = False  # this step's expectations of one actor may arrive in any order
    ignore: list[Ignore] = []  # messages that may arrive during this step (besides the expected ones)
    expect_silence: tuple[str, ...] = ()  # actors that must get nothing (within the env's no-reply wait)
    check: list[Check] = []
    note: str = ""
    line: int = 0  # set by the loader

    def action(self) -> tuple[str, object] | None:
        done = [(name, getattr(self, name)) for name in ACTIONS if getattr(self, name) is not None]
        return done[0] if done else None

    @model_validator(mode="before")
    @classmethod
    def _single_entries_to_lists(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in ("expect", "inject", "check", "ignore"):
                if isinstance(data.get(key), dict):
                    data = {**data, key: [data[key]]}
        return data

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        done = [name for name in ACTIONS if getattr(self, name) is not None]
        if len(done) > 1:
            raise ValueError(f"a step takes one action, got {', '.join(done)}")
        if done and not self.actor:
            raise ValueError(f"'{done[0]}' needs an 'actor' who does it")
        if not done and not (self.expect or self.expect_silence or self.check or self.inject or self.pause):
            raise ValueError(f"a step needs an action ({', '.join(ACTIONS)}), an expectation or a check")
        return self


class Journey(_Strict):
    journey: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str
    critical: bool = False
    tags: tuple[str, ...] = ()
    defects: tuple[str, ...] = ()  # reference defect switches that must make this journey fail
    rules: tuple[str, ...] = ()  # contract rules it holds the SUT to (R-…, docs/*-contract.md)
    requires: tuple[str, ...] = ()  # environment capabilities (faults, observability...): else not covered
    scenario: int | None = Field(default=None, ge=1, le=99)  # synthetic failure scenario number
    pattern: str | None = Field(default=None, pattern=r"^P[1-9]$")  # fallback pattern (DESIGN.md §5)
    # Strict conversations: the default latency budget of every expected reply (else the environment's),
    # messages any actor may receive at any time, and events a happy-path journey may record.
    reply_budget: Duration | None = None
    ignore: list[Ignore] = []
    allow_events: tuple[str, ...] = ()
    actors: dict[str, Actor]
    steps: list[Step] = Field(min_length=1)
    source: Path | None = None

    def roles(self) -> list[str]:
        return sorted({a.role for a in self.actors.values()})

    def happy_path(self) -> bool:
        """No synthetic scenario and no fault injected: nothing should fall back, retry or fail."""
        return self.scenario is None and not any(step.inject for step in self.steps)

    @model_validator(mode="before")
    @classmethod
    def _single_ignore_to_list(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("ignore"), dict):
            data = {**data, "ignore": [data["ignore"]]}
        return data
