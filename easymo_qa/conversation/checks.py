"""Checks on what the system recorded (events, orders) and did (calls seen by the simulators).

Each check kind is one function in :data:`CHECKS`; a check polls until it holds or its time is up,
because records may lag the reply the user saw.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from easymo_qa.conversation.expr import count_value, duration_seconds
from easymo_qa.conversation.model import CallsCheck, Check, EventCheck, OrderCheck
from easymo_qa.target import Target

# A business-scoped user id (``RW.123…``): an event check naming one reads that user's events by
# ``user_id`` (a username-only user has no phone the SUT knows; docs/conversation-contract.md, R-OBS-1).
BSUID = re.compile(r"[A-Z]{2}(\.ENT)?\.[A-Za-z0-9]{1,128}")


class CheckFailed(AssertionError):
    """A check that did not hold: what was expected and what the system had."""


class CheckContext:
    def __init__(self, target: Target, client: httpx.Client, text: Callable[[str], str]) -> None:
        self.target = target
        self.client = client
        self.text = text  # ${var} substitution

    def admin(self, path: str, **params: Any) -> Any:
        if not self.target.admin_url or not self.target.admin_token:
            raise CheckFailed(f"environment {self.target.env_name!r} has no observability read API")
        response = self.client.get(
            f"{self.target.admin_url}{path}",
            params={k: v for k, v in params.items() if v is not None},
            headers={"X-Admin-Token": self.target.admin_token},
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def sim(self, sim: str, path: str, **params: Any) -> Any:
        base = {
            "llm": self.target.llm_url,
            "maps": self.target.maps_url,
            "payments": self.target.payments_url,
            "graph": self.target.graph_api_url,
        }[sim]
        if not base:
            raise CheckFailed(f"environment {self.target.env_name!r} has no {sim} simulator to ask")
        response = self.client.get(f"{base}{path}", params={k: v for k, v in params.items() if v is not None})
        response.raise_for_status()
        return response.json()


def _bounds(spec: EventCheck | CallsCheck, ctx: CheckContext) -> tuple[int | None, int | None, int | None]:
    """(count, min, max); with none given, "at least one"."""
    if spec.count is None and spec.min is None and spec.max is None:
        return None, 1, None
    count = None if spec.count is None else count_value(ctx.text(str(spec.count)))
    return count, spec.min, spec.max


def _count_ok(n: int, bounds: tuple[int | None, int | None, int | None]) -> bool:
    count, low, high = bounds
    return (count is None or n == count) and (low is None or n >= low) and (high is None or n <= high)


def _wanted(bounds: tuple[int | None, int | None, int | None]) -> str:
    count, low, high = bounds
    if count is not None:
        return f"exactly {count}"
    parts = [f"at least {low}" if low is not None else "", f"at most {high}" if high is not None else ""]
    return " and ".join(p for p in parts if p)


def check_events(spec: EventCheck, ctx: CheckContext) -> str | None:
    phone = ctx.text(spec.phone) if spec.phone else None
    order_id = ctx.text(spec.order_id) if spec.order_id else None
    who = {"user_id" if phone and BSUID.fullmatch(phone) else "phone": phone}
    body = ctx.admin("/admin/events", name=spec.name, **who, order_id=order_id, limit=1000) or {}
    events = body.get("events", [])
    wanted = {k: ctx.text(v) if isinstance(v, str) else v for k, v in spec.data.items()}
    hits = [e for e in events if all((e.get("data") or {}).get(k) == v for k, v in wanted.items())]
    bounds = _bounds(spec, ctx)
    if _count_ok(len(hits), bounds):
        return None
    seen = [{"data": e.get("data")} for e in events[-5:]]
    return (
        f"expected {_wanted(bounds)} '{spec.name}' events"
        f"{' with ' + str(wanted) if wanted else ''} (phone={phone}, order={order_id}); found {len(hits)}."
        f" Latest '{spec.name}' events: {seen or 'none'}"
    )


def check_order(spec: OrderCheck, ctx: CheckContext) -> str | None:
    order_id = ctx.text(spec.id)
    order = ctx.admin(f"/admin/orders/{order_id}")
    if order is None:
        return f"order {order_id} does not exist"
    problems = []
    if spec.state is not None and order.get("state") != spec.state:
        problems.append(f"state is {order.get('state')!r}, expected {spec.state!r}")
    payment = order.get("payment") or {}
    if spec.payment_status is not None and payment.get("status") != spec.payment_status:
        problems.append(f"payment status is {payment.get('status')!r}, expected {spec.payment_status!r}")
    if spec.ledger_entries is not None and len(order.get("ledger") or []) != spec.ledger_entries:
        problems.append(f"{len(order.get('ledger') or [])} ledger entries, expected {spec.ledger_entries}")
    if spec.total is not None and order.get("total") != spec.total:
        problems.append(f"total is {order.get('total')}, expected {spec.total}")
    return f"order {order_id}: " + "; ".join(problems) if problems else None


def check_calls(spec: CallsCheck, ctx: CheckContext) -> str | None:
    user = ctx.text(spec.user) if spec.user else None
    if spec.sim == "payments":
        items = ctx.sim("payments", "/_sim/payments", msisdn=user).get("payments", [])
    elif spec.sim == "graph":
        if user is None:
            raise CheckFailed("a graph calls check needs the recipient: user: ${actor.phone}")
        delivered = ctx.sim("graph", "/_sim/messages", to=user, after=0, wait=0).get("messages", [])
        refused = ctx.sim("graph", "/_sim/rejections", to=user).get("rejections", [])
        items = delivered + refused
    else:
        items = ctx.sim(spec.sim, "/_sim/calls", user=user).get("calls", [])
    bounds = _bounds(spec, ctx)
    if _count_ok(len(items), bounds):
        return None
    source = f" from {user}" if user else ""
    return f"the {spec.sim} simulator saw {len(items)} calls{source}, expected {_wanted(bounds)}"


CHECKS: dict[str, Callable[[Any, CheckContext], str | None]] = {
    "events": check_events,
    "order": check_order,
    "calls": check_calls,
}


def run_check(check: Check, ctx: CheckContext) -> None:
    """Poll one check until it holds; raise :class:`CheckFailed` with the last finding when time is up."""
    kind = next(k for k in CHECKS if getattr(check, k) is not None)
    within = duration_seconds(ctx.text(str(check.within))) if check.within else ctx.target.reply_seconds
    deadline = time.monotonic() + within
    while True:
        problem = CHECKS[kind](getattr(check, kind), ctx)
        if problem is None:
            return
        if time.monotonic() >= deadline:
            raise CheckFailed(f"{kind} check failed: {problem}")
        time.sleep(0.05)
