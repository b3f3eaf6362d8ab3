"""The fault plane: rules that make a simulator misbehave for matching requests, and the routes to set them.

A :class:`FaultRule` names what to match (``op``, ``key``), what to do (``action`` and its parameters)
and how often (``times``). Each simulator app has one :class:`FaultPlane` (``app.state.faults``) and
asks it, for every request that passed the checks the real service would make first, whether a live
rule matches: ``plane.take(op, key)``. The first matching rule in insertion order decides the answer;
its ``hits`` go up and, once ``hits == times``, it is spent (kept, so its hits stay readable).

Every rule belongs to a ``scope`` (a pytest node id, say): a test deletes its own scope at teardown,
so parallel tests never see each other's rules as long as they use distinct keys (phone numbers).

Actions every simulator shares are answered here (:func:`shared_answer`); each simulator module handles
its own (graph and payments ``drop``, the payment outcomes, the LLM's malformed variants and
``truncated``, the maps ``quota`` and ``zero_results``) and says how its errors look.

``status`` (and the maps ``quota``) may carry ``retry_after`` seconds: the answer then has a
``Retry-After`` header (whole seconds, RFC 9110 §10.2.3), and the plane *holds* that key for as long:
every request of the same op and key inside the window gets the same answer again, as a real rate
limiter keeps refusing a client that comes back too early. A client that ignores the header is refused
until its retries run out; one that honours it gets through.

HTTP API (see :func:`fault_routes`): ``POST /_sim/faults``, ``GET /_sim/faults?scope=&id=``,
``DELETE /_sim/faults?scope=`` or ``?id=``.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from easymo_qa.simulators.resets import ResetResponse

Action = Literal[
    "status",
    "delay",
    "hang",
    "malformed",
    "reset",
    "drop",
    "decline",
    "slow_callback",
    "duplicate_callback",
    "quota",
    "zero_results",
    "truncated",
]
Variant = Literal["invalid_json", "unknown_tool", "bad_arguments"]

MAX_SECONDS = 120.0
DEFAULT_HANG_SECONDS = 30.0
DEFAULT_DUPLICATE_GAP_SECONDS = 0.05
HANG_STATUS = 504

# The parameters each action takes; any other parameter given is an error, so a typo cannot pass silently.
ACTION_PARAMS: dict[str, frozenset[str]] = {
    "status": frozenset({"status", "body", "graph_code", "retry_after"}),
    "delay": frozenset({"seconds"}),
    "hang": frozenset({"seconds"}),
    "malformed": frozenset({"variant"}),
    "reset": frozenset(),
    "drop": frozenset(),
    "decline": frozenset({"reason"}),
    "slow_callback": frozenset({"seconds"}),
    "duplicate_callback": frozenset({"seconds"}),
    "quota": frozenset({"retry_after"}),
    "zero_results": frozenset(),
    "truncated": frozenset(),
}
PARAMS = frozenset().union(*ACTION_PARAMS.values())
REQUIRED_PARAMS: dict[str, tuple[str, ...]] = {
    "status": ("status",),
    "delay": ("seconds",),
    "slow_callback": ("seconds",),
}
# Actions that answer in place of the simulator's handler, common to every simulator.
SHARED_ACTIONS = frozenset({"status", "delay", "hang", "malformed", "reset"})


class FaultRuleError(ValueError):
    """A rule this simulator cannot take; the message says why and what is valid."""


class FaultRule(BaseModel):
    """One fault: which requests (``op``, ``key``), what happens (``action`` + parameters), how often."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None  # assigned by the plane
    scope: str = Field(min_length=1)
    op: str | None = None  # None: the simulator's first op that supports the action
    key: str | None = None  # None: any request
    action: Action
    status: int | None = Field(default=None, ge=400, le=599)
    body: dict[str, Any] | None = None  # None: the simulator's own error shape for ``status``
    graph_code: int | None = Field(default=None, ge=1)  # graph only: the error code in the default body
    seconds: float | None = Field(default=None, ge=0, le=MAX_SECONDS)
    variant: Variant | None = None  # malformed only; None means invalid_json
    reason: str | None = Field(default=None, min_length=1)  # decline only
    retry_after: float | None = Field(default=None, gt=0, le=MAX_SECONDS)  # status / quota: Retry-After
    times: int | None = Field(default=None, ge=1)
    hits: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _params_fit_the_action(self) -> FaultRule:
        allowed = ACTION_PARAMS[self.action]
        stray = sorted(p for p in PARAMS - allowed if getattr(self, p) is not None)
        if stray:
            takes = ", ".join(sorted(allowed)) or "no parameters"
            raise ValueError(f"{', '.join(stray)} does not apply to action {self.action} (it takes: {takes})")
        missing = [p for p in REQUIRED_PARAMS.get(self.action, ()) if getattr(self, p) is None]
        if missing:
            raise ValueError(f"action {self.action} needs {', '.join(missing)}")
        return self

    @property
    def spent(self) -> bool:
        """True once the rule has been applied ``times`` times."""
        return self.times is not None and self.hits >= self.times

    def view(self) -> dict[str, Any]:
        """The JSON the HTTP API shows: every field, plus ``spent``."""
        return {**self.model_dump(), "spent": self.spent}


def describe_validation_error(exc: ValidationError) -> str:
    """A pydantic error as ``field: message`` lines, without pydantic's URLs."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "rule"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


class FaultPlane:
    """The fault rules of one simulator. Thread-safe: the harness may add rules from another thread."""

    def __init__(
        self,
        simulator: str,
        ops: Mapping[str, Collection[str]],
        *,
        keyed: bool = True,
        variants: Collection[str] = ("invalid_json",),
        normalise_key: Callable[[str], str] | None = None,
        check: Callable[[FaultRule], str | None] | None = None,
    ) -> None:
        """``ops`` maps each op to the actions it supports; the first op is the default for its actions.

        ``keyed=False`` when the simulator's requests carry no key (then a rule with a key is refused);
        ``normalise_key`` is applied to a rule's key when it is added (e.g. phone numbers to digits) and
        may raise ValueError for a key that cannot be one; ``check`` says what is wrong with a rule this
        simulator cannot honour (e.g. an undocumented payment failure reason), ``None`` when it is fine.
        """
        self.simulator = simulator
        self.ops = {op: frozenset(actions) for op, actions in ops.items()}
        self.keyed = keyed
        self.variants = frozenset(variants)
        self._normalise_key = normalise_key
        self._check = check
        self._rules: list[FaultRule] = []
        # (op, key) -> (monotonic deadline, rule): a Retry-After window still refusing that key.
        self._holds: dict[tuple[str, str | None], tuple[float, FaultRule]] = {}
        self._next_id = 0
        self._lock = threading.Lock()

    def valid(self) -> dict[str, list[str]]:
        """Each op and its actions, for error messages."""
        return {op: [a for a in ACTION_PARAMS if a in actions] for op, actions in self.ops.items()}

    def _help(self) -> str:
        ops = "; ".join(f"op {op}: {', '.join(actions)}" for op, actions in self.valid().items())
        return f"valid on the {self.simulator} simulator: {ops}"

    def _error(self, problem: str) -> FaultRuleError:
        return FaultRuleError(
            f"invalid fault rule for the {self.simulator} simulator: {problem}. {self._help()}"
        )

    def parse(self, data: Any) -> FaultRule:
        """A rule from JSON data without ``id`` or ``hits`` (the plane owns them); FaultRuleError if not."""
        if not isinstance(data, dict):
            raise self._error("expected a JSON object")
        for owned in ("id", "hits"):
            if owned in data:
                raise self._error(f"{owned} is set by the simulator, leave it out")
        try:
            return FaultRule.model_validate(data)
        except ValidationError as exc:
            raise self._error(describe_validation_error(exc)) from None

    def _checked(self, rule: FaultRule) -> FaultRule:
        """``rule`` fitted to this simulator (op filled in, key normalised); FaultRuleError if unfit."""
        if rule.op is not None:
            if rule.op not in self.ops:
                raise self._error(f"op {rule.op!r} is not an op of this simulator")
            op = rule.op
        else:
            candidates = [name for name, actions in self.ops.items() if rule.action in actions]
            if not candidates:
                raise self._error(f"action {rule.action!r} is not available")
            op = candidates[0]
        if rule.action not in self.ops[op]:
            raise self._error(f"action {rule.action!r} is not available for op {op}")
        key = rule.key
        if key is not None:
            if not self.keyed:
                raise self._error("its requests carry no key, leave key out")
            try:
                key = self._normalise_key(key) if self._normalise_key else key
            except ValueError as exc:
                raise self._error(f"key {rule.key!r}: {exc}") from None
            if not key:
                raise self._error(f"key {rule.key!r} is empty once normalised")
        if rule.variant is not None and rule.variant not in self.variants:
            raise self._error(
                f"variant {rule.variant!r} is not available (valid: {', '.join(self.variants)})"
            )
        if rule.graph_code is not None and self.simulator != "graph":
            raise self._error("graph_code is only for the graph simulator")
        problem = self._check(rule) if self._check else None
        if problem is not None:
            raise self._error(problem)
        return rule.model_copy(update={"op": op, "key": key, "hits": 0})

    def add(self, rule: FaultRule) -> FaultRule:
        """Store a copy of ``rule`` with a fresh id and return it (the live rule: its ``hits`` change)."""
        fitted = self._checked(rule)
        with self._lock:
            self._next_id += 1
            fitted.id = f"f{self._next_id}"
            self._rules.append(fitted)
        return fitted

    def take(self, op: str, key: str | None) -> FaultRule | None:
        """The rule that decides this request, its hit counted; else None.

        A Retry-After window still open for ``(op, key)`` decides first (even when its rule is spent);
        otherwise the first live rule for ``op`` whose key is None or equals ``key``.
        """
        now = time.monotonic()
        with self._lock:
            held = self._holds.get((op, key))
            if held is not None:
                until, rule = held
                if now < until:
                    rule.hits += 1
                    return rule
                del self._holds[(op, key)]
            for rule in self._rules:
                if rule.op != op or rule.spent or (rule.key is not None and rule.key != key):
                    continue
                rule.hits += 1
                if rule.retry_after is not None:
                    self._holds[(op, key)] = (now + rule.retry_after, rule)
                return rule
        return None

    def remove(self, scope: str | None = None, rule_id: str | None = None) -> int:
        """Delete the rules of ``scope`` and/or with id ``rule_id`` (both None: every rule); how many went."""
        with self._lock:
            kept = [
                r
                for r in self._rules
                if not ((scope is None or r.scope == scope) and (rule_id is None or r.id == rule_id))
            ]
            removed = len(self._rules) - len(kept)
            self._rules = kept
            live = {id(r) for r in kept}
            self._holds = {k: held for k, held in self._holds.items() if id(held[1]) in live}
        return removed

    def rules(self, scope: str | None = None, rule_id: str | None = None) -> list[FaultRule]:
        """Copies of the rules (spent ones included), oldest first, optionally only a scope's or one id's."""
        with self._lock:
            return [
                r.model_copy()
                for r in self._rules
                if (scope is None or r.scope == scope) and (rule_id is None or r.id == rule_id)
            ]


# --- answers the simulators share ------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultAnswer:
    """What a fault makes a simulator answer: a status and JSON body, or a ready-made ``response``."""

    status: int
    payload: dict[str, Any] | None = None
    response: Response | None = None


def retry_after_header(rule: FaultRule) -> dict[str, str]:
    """``{"Retry-After": whole seconds, rounded up}`` when the rule has ``retry_after``, else ``{}``."""
    if rule.retry_after is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(rule.retry_after)))}


def invalid_json(prefix: dict[str, Any]) -> Response:
    """A 200 ``application/json`` response whose body is ``prefix`` as JSON, cut off mid-way."""
    text = json.dumps(prefix)
    return Response(text[: max(1, len(text) - 3)], status_code=200, media_type="application/json")


async def shared_answer(
    rule: FaultRule, error_body: Callable[[int, FaultRule], dict[str, Any]], garbage: Response
) -> FaultAnswer | None:
    """Apply a shared action; ``None`` after ``delay`` (the simulator then answers as usual).

    ``error_body(status, rule)`` is the simulator's own error shape; ``garbage`` its malformed answer.
    """
    match rule.action:
        case "delay":
            await asyncio.sleep(rule.seconds or 0.0)
            return None
        case "status":
            assert rule.status is not None, "the model requires status for this action"
            body = rule.body if rule.body is not None else error_body(rule.status, rule)
            headers = retry_after_header(rule)
            if headers:
                return FaultAnswer(rule.status, body, JSONResponse(body, rule.status, headers=headers))
            return FaultAnswer(rule.status, body)
        case "hang":
            await asyncio.sleep(DEFAULT_HANG_SECONDS if rule.seconds is None else rule.seconds)
            return FaultAnswer(HANG_STATUS, error_body(HANG_STATUS, rule))
        case "malformed":
            return FaultAnswer(200, response=garbage)
        case "reset":
            return FaultAnswer(200, response=ResetResponse())
    raise ValueError(f"action {rule.action} is not a shared action; the simulator must handle it")


# --- the HTTP API ------------------------------------------------------------------------------------------


def _plane(request: Request) -> FaultPlane:
    return request.app.state.faults


async def post_fault(request: Request) -> JSONResponse:
    plane = _plane(request)
    try:
        data = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return JSONResponse({"error": f"the request body is not valid JSON: {exc}"}, status_code=400)
    try:
        rule = plane.add(plane.parse(data))
    except FaultRuleError as exc:
        return JSONResponse({"error": str(exc), "valid": plane.valid()}, status_code=400)
    return JSONResponse({"id": rule.id}, status_code=201)


async def list_faults(request: Request) -> JSONResponse:
    params = request.query_params
    rules = _plane(request).rules(scope=params.get("scope"), rule_id=params.get("id"))
    return JSONResponse({"faults": [rule.view() for rule in rules]})


async def delete_faults(request: Request) -> JSONResponse:
    params = request.query_params
    scope, rule_id = params.get("scope"), params.get("id")
    if not scope and not rule_id:
        return JSONResponse({"error": "say which rules to delete: ?scope=... or ?id=..."}, status_code=400)
    return JSONResponse({"removed": _plane(request).remove(scope=scope or None, rule_id=rule_id or None)})


def fault_routes(path: str = "/_sim/faults") -> list[Route]:
    """``POST``, ``GET`` and ``DELETE`` on ``path``, serving the plane at ``app.state.faults``."""
    return [
        Route(path, post_fault, methods=["POST"]),
        Route(path, list_faults, methods=["GET"]),
        Route(path, delete_faults, methods=["DELETE"]),
    ]
