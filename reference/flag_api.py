"""Feature flags at run time: ``/admin/flags`` (behind ``X-Admin-Token``), the local stack's flag control.

``GET`` answers every flag variable with its value in force and where it comes from (``env``: the
environment or its default; ``override``: set here). ``PUT`` takes a JSON object of variables, e.g.
``{"FEATURE_AI_AGENTS": false, "FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": 10}``, validates all of it (400
naming the valid variables; nothing is applied then), applies it at once (the next message decided sees
it) and records one ``flag_changed`` event. A value of ``null`` drops that override; ``DELETE`` drops them
all. The rollback drill flips ``FEATURE_AI_AGENTS`` here, as an operator would flip the variable.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from .flags import AGENT_VARIABLES, AI_VARIABLE, ROLLOUT_FLAG, ROLLOUT_VARIABLE, Flags
from .observability import EventLog, admin_denied

FLAG_CHANGED = "flag_changed"
BOOLEAN_VARIABLES = (AI_VARIABLE, *(name for name, _ in AGENT_VARIABLES.values()))
VARIABLES = (AI_VARIABLE, ROLLOUT_VARIABLE, *BOOLEAN_VARIABLES[1:])
MAX_BODY = 4096


def values(flags: Flags) -> dict[str, bool | int]:
    """Every flag variable's value in force (overrides applied)."""
    now = flags.current()
    out: dict[str, bool | int] = {AI_VARIABLE: now.ai_agents, ROLLOUT_VARIABLE: now.rollout_percentage}
    for agent, (name, _) in AGENT_VARIABLES.items():
        out[name] = bool(now.agents.get(agent, False))
    return {name: out[name] for name in VARIABLES}


def snapshot(flags: Flags) -> dict[str, Any]:
    current = values(flags)
    return {
        "flags": {
            name: {"value": value, "source": "override" if name in flags.overrides else "env"}
            for name, value in current.items()
        },
        "rollout_flag": ROLLOUT_FLAG,
        "valid": list(VARIABLES),
    }


def parse_changes(data: object) -> dict[str, bool | int | None]:
    """The validated changes of a PUT body; ValueError says what is wrong and lists the valid names."""
    if not isinstance(data, dict) or not data:
        raise ValueError("expected a non-empty JSON object of flag variables")
    unknown = [name for name in data if name not in VARIABLES]
    if unknown:
        raise ValueError(f"unknown flag variable(s): {', '.join(map(str, unknown))}")
    changes: dict[str, bool | int | None] = {}
    for name, value in data.items():
        if value is None:
            changes[name] = None
        elif name == ROLLOUT_VARIABLE:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise ValueError(f"{name} must be an integer 0-100 (or null), got {value!r}")
            changes[name] = value
        elif isinstance(value, bool):
            changes[name] = value
        else:
            raise ValueError(f"{name} must be true, false or null, got {value!r}")
    return changes


async def admin_flags(request: Request) -> JSONResponse:
    """``GET``, ``PUT`` and ``DELETE /admin/flags``."""
    denied = admin_denied(request)
    if denied is not None:
        return denied
    flags: Flags = request.app.state.settings.flags
    if request.method == "GET":
        return JSONResponse(snapshot(flags))
    if request.method == "DELETE":
        changes: dict[str, bool | int | None] = dict.fromkeys(flags.overrides)
    else:
        body = await request.body()
        try:
            if len(body) > MAX_BODY:
                raise ValueError(f"body larger than {MAX_BODY} bytes")
            changes = parse_changes(json.loads(body or b"null"))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            return JSONResponse({"error": str(exc), "valid": list(VARIABLES)}, status_code=400)
    before = values(flags)
    flags.set_overrides(changes)  # no await since the read above: no message is decided in between
    after = values(flags)
    events: EventLog = request.app.state.events
    events.record(
        f"admin-{uuid.uuid4()}",
        FLAG_CHANGED,
        None,
        method=request.method,
        changed={name: after[name] for name in changes},
        before={name: before[name] for name in changes},
        overrides=dict(flags.overrides),
    )
    return JSONResponse(snapshot(flags))
