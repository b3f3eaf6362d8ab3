"""The test-fault hook: switch off parts of the service for one user, so failure scenarios can reach them.

``ranking_down``, ``database_down`` and ``curated_down`` break a search tier for the buyer named by
``key`` (``database_down`` with ``op: checkout`` breaks the order / payment write at checkout instead);
``notify_down`` breaks the notices to other users about the key's orders (see :mod:`reference.notify`).

Only when ``REFERENCE_TEST_FAULTS`` is truthy (the local stack sets it) does ``/admin/test-faults`` exist;
otherwise the routes are not mounted (404) and the registry stays empty, so a production run never pays
for more than an empty-list check. A rule names an ``action`` (what breaks), optionally an ``op`` (where:
``search`` or ``checkout`` for ``database_down``), a ``key`` (the phone it applies to, so parallel tests
never collide) and ``times`` (how many uses, then it is spent but still listed with its hits). Every
rule belongs to a ``scope`` (one journey run), which deletes its rules at the end.

The registry is guarded by a lock: rules are added from request handlers and taken from agents, which
all run on the event loop today, but nothing breaks if a thread joins in.

HTTP (behind ``X-Admin-Token``): ``POST /admin/test-faults`` ``{"scope", "action", "op"?, "key"?,
"times"?}`` → 201 ``{"id", ...}``; ``GET /admin/test-faults?scope=`` → ``{"faults": [...]}``;
``DELETE /admin/test-faults?scope=`` (or ``?id=``) → ``{"removed": n}``.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .observability import admin_denied
from .store import BSUID

RANKING_DOWN, DATABASE_DOWN, CURATED_DOWN, NOTIFY_DOWN = (
    "ranking_down",
    "database_down",
    "curated_down",
    "notify_down",
)
SEARCH, CHECKOUT, NOTIFY = "search", "checkout", "notify"
# action -> the ops it applies to; the first is the default when a rule names none.
ACTIONS: dict[str, tuple[str, ...]] = {
    RANKING_DOWN: (SEARCH,),
    DATABASE_DOWN: (SEARCH, CHECKOUT),
    CURATED_DOWN: (SEARCH,),
    NOTIFY_DOWN: (NOTIFY,),
}
MAX_RULES = 10_000
PATH = "/admin/test-faults"


class TestFaultError(ValueError):
    """A rule the registry cannot take; the message says what is wrong and what is valid."""

    __test__ = False  # not a pytest class, whatever its name


@dataclass(frozen=True)
class TestFault:
    __test__ = False  # not a pytest class, whatever its name

    id: str
    scope: str
    action: str
    op: str
    key: str | None  # digits of a phone number, or a BSUID; None: every user
    times: int | None  # None: until removed
    hits: int = 0

    @property
    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def view(self) -> dict[str, Any]:
        return {**asdict(self), "spent": self.spent}


class TestFaults:
    """The live rules. ``take`` is what the service calls; the rest serves the admin API."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self) -> None:
        self._rules: list[TestFault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, data: Any) -> TestFault:
        """A rule from the admin API's JSON; ``TestFaultError`` when it is not valid."""
        rule = _parse(data, f"tf-{next(self._ids)}")
        with self._lock:
            if len(self._rules) >= MAX_RULES:
                raise TestFaultError(f"too many test faults ({MAX_RULES}); delete some scopes first")
            self._rules.append(rule)
        return rule

    def remove(self, *, scope: str | None = None, rule_id: str | None = None) -> int:
        with self._lock:
            keep = [
                r
                for r in self._rules
                if not ((scope is not None and r.scope == scope) or (rule_id is not None and r.id == rule_id))
            ]
            removed = len(self._rules) - len(keep)
            self._rules = keep
        return removed

    def list(self, scope: str | None = None) -> list[TestFault]:
        with self._lock:
            return [r for r in self._rules if scope is None or r.scope == scope]

    @property
    def active(self) -> bool:
        """Any rule at all (a cheap check before work that only a rule would need)."""
        return bool(self._rules)

    def take(self, action: str, keys: str | Iterable[str | None] | None, op: str | None = None) -> bool:
        """True when a live rule breaks ``action`` (at ``op``) for one of ``keys``; that uses it once."""
        if not self._rules:  # the common case, without the lock
            return False
        wanted_op = op or ACTIONS[action][0]
        candidates = {keys} if isinstance(keys, str) else {k for k in (keys or ()) if k}
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.action != action or rule.op != wanted_op or rule.spent:
                    continue
                if rule.key is not None and rule.key not in candidates:
                    continue
                self._rules[index] = TestFault(**{**asdict(rule), "hits": rule.hits + 1})
                return True
        return False


def _parse(data: Any, rule_id: str) -> TestFault:
    valid = "; ".join(f"{action} (op: {', '.join(ops)})" for action, ops in ACTIONS.items())
    if not isinstance(data, dict):
        raise TestFaultError("expected a JSON object {scope, action, op?, key?, times?}")
    unknown = sorted(set(data) - {"scope", "action", "op", "key", "times"})
    if unknown:
        raise TestFaultError(f"unknown field(s) {', '.join(unknown)}; valid: scope, action, op, key, times")
    scope, action, op, key, times = (data.get(k) for k in ("scope", "action", "op", "key", "times"))
    if not isinstance(scope, str) or not scope.strip():
        raise TestFaultError("scope must be a non-empty string")
    if action not in ACTIONS:
        raise TestFaultError(f"unknown action {action!r}; valid: {valid}")
    if op is None:
        op = ACTIONS[action][0]
    elif op not in ACTIONS[action]:
        raise TestFaultError(f"op {op!r} does not apply to {action}; valid: {valid}")
    if isinstance(key, str) and BSUID.fullmatch(key.strip()):
        key = key.strip()  # a username-only user's BSUID: their user key (reference/store.py)
    elif key is not None:
        digits = "".join(ch for ch in key if ch.isdigit()) if isinstance(key, str) else ""
        if not digits:
            raise TestFaultError("key must be a phone number (digits, an optional +) or a BSUID")
        key = digits
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise TestFaultError("times must be a whole number of at least 1")
    return TestFault(rule_id, scope.strip(), action, op, key, times)


# -- the admin API -------------------------------------------------------------------------------------


async def admin_test_faults(request: Request) -> JSONResponse:
    denied = admin_denied(request)
    if denied is not None:
        return denied
    faults: TestFaults = request.app.state.ctx.faults
    query = request.query_params
    if request.method == "POST":
        try:
            data = json.loads(await request.body())
        except (ValueError, RecursionError):
            return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
        try:
            rule = faults.add(data)
        except TestFaultError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(rule.view(), status_code=201)
    if request.method == "DELETE":
        scope, rule_id = query.get("scope") or None, query.get("id") or None
        if scope is None and rule_id is None:
            return JSONResponse({"error": "give scope= or id= of the faults to remove"}, status_code=400)
        return JSONResponse({"removed": faults.remove(scope=scope, rule_id=rule_id)})
    return JSONResponse({"faults": [r.view() for r in faults.list(query.get("scope") or None)]})


ROUTES = [Route(PATH, admin_test_faults, methods=["GET", "POST", "DELETE"])]
