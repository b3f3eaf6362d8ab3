"""The checks of what the bot depends on: the LLM, payments and maps simulators, the admin API, the fault
API and the flag API (each only when the environment configures it)."""

from __future__ import annotations

import time

from easymo_qa.doctor.model import Outcome
from easymo_qa.doctor.probe import TRANSPORT_ERRORS, Probe, json_of
from easymo_qa.doctor.webhook_checks import simulator_health

# A buyer's free-text search: easyMO's buyer agent hands it to the LLM (reference/agents/search.py).
LLM_PROMPT = "2 jerrycans of water near Kimironko"
NOT_SEEN = "reachable; no call from the SUT seen yet"


def llm_simulator(probe: Probe) -> Outcome:
    """Reachable with the token; and a free-text search from a fresh user makes the bot call it."""
    base = (probe.target.llm_url or "").rstrip("/")
    health = simulator_health(probe, base, "LLM")
    if not health.ok:
        return health
    if probe.target.production or probe.accepted_number is None:
        return Outcome.passed(f"{NOT_SEEN} (no message was sent to provoke one)")
    try:
        cursor = int(json_of(probe.client.get(f"{base}/_sim/calls", params={"user": "-"})).get("last_seq", 0))
        number = probe.numbers.next()
        probe.post_signed(number, LLM_PROMPT)
        calls = _calls_after(probe, f"{base}/_sim/calls", cursor)
    except TRANSPORT_ERRORS as exc:
        return probe.unreachable(base, exc, "the LLM simulator or the bot stopped answering")
    mine = [c for c in calls if c.get("user") == number]
    if mine:
        return Outcome.passed(f"the SUT called it for a free-text search ({len(mine)} call(s) for {number})")
    if calls:
        return Outcome.passed(f"the SUT called it ({len(calls)} call(s) since the doctor's search)")
    return Outcome.passed(
        f"{NOT_SEEN} (a free-text search got no LLM call within {probe.target.reply_seconds:g} s; "
        f"if the bot uses an LLM, point its LLM base URL at {base})"
    )


def _calls_after(probe: Probe, url: str, cursor: int) -> list[dict[str, object]]:
    """Calls recorded after ``cursor``, polled until one comes or reply_seconds pass."""
    deadline = time.monotonic() + probe.target.reply_seconds
    while True:
        calls = json_of(probe.client.get(url, params={"after": cursor})).get("calls") or []
        if calls or time.monotonic() >= deadline:
            return list(calls)
        time.sleep(0.1)


def payments_simulator(probe: Probe) -> Outcome:
    """Reachable with the token; a payment needs a whole order, so the SUT's calls are only counted."""
    base = (probe.target.payments_url or "").rstrip("/")
    health = simulator_health(probe, base, "payments")
    if not health.ok:
        return health
    try:
        payments = json_of(probe.client.get(f"{base}/_sim/payments")).get("payments") or []
    except TRANSPORT_ERRORS as exc:
        return probe.unreachable(base, exc, "the payments simulator stopped answering")
    if payments:
        return Outcome.passed(f"reachable; {len(payments)} payment request(s) from the SUT so far")
    return Outcome.passed(f"{NOT_SEEN} (only an order's payment calls it)")


def maps_simulator(probe: Probe) -> Outcome:
    """Reachable with the token; the SUT asks for routes only inside an order, so calls are only counted."""
    base = (probe.target.maps_url or "").rstrip("/")
    health = simulator_health(probe, base, "maps")
    if not health.ok:
        return health
    try:
        seen = int(json_of(probe.client.get(f"{base}/_sim/calls", params={"after": 0})).get("last_seq", 0))
    except TRANSPORT_ERRORS as exc:
        return probe.unreachable(base, exc, "the maps simulator stopped answering")
    if seen:
        return Outcome.passed(f"reachable; {seen} call(s) from the SUT so far")
    return Outcome.passed(f"{NOT_SEEN} (only an order's delivery calls it)")


def admin_api(probe: Probe) -> Outcome:
    """``GET /admin/events`` with the admin token (the observability read API)."""
    target = probe.target
    url = f"{(target.admin_url or '').rstrip('/')}/admin/events"
    params: dict[str, str | int] = {"limit": 5}
    if probe.accepted_number:
        params["phone"] = probe.accepted_number
    return _admin_get(probe, url, params, "events")


def flag_api(probe: Probe) -> Outcome:
    """``GET /admin/flags`` with the admin token (read only: the doctor never changes a flag)."""
    url = f"{(probe.target.admin_url or '').rstrip('/')}/admin/flags"
    return _admin_get(probe, url, {}, "flags")


def _admin_get(probe: Probe, url: str, params: dict[str, str | int], key: str) -> Outcome:
    headers = {"X-Admin-Token": probe.target.admin_token or ""}
    try:
        response = probe.client.get(url, params=params, headers=headers)
    except TRANSPORT_ERRORS as exc:
        return probe.unreachable(url, exc, "check observability.url")
    code = response.status_code
    if code in (401, 403):
        hint = "observability.admin_token must be the SUT's ADMIN_TOKEN"
        return Outcome.failed(f"{url} refused the admin token (HTTP {code})", hint)
    found = json_of(response).get(key)
    if code != 200 or found is None:
        return Outcome.failed(f"{url} answered HTTP {code} without '{key}'", "check observability.url")
    if key == "events" and "phone" in params:
        return Outcome.passed(f"{len(found)} event(s) for the doctor's user {params['phone']}")
    return Outcome.passed(f"answers: {len(found)} {key}")


def fault_api(probe: Probe) -> Outcome:
    """``GET /_sim/faults`` on every simulator of the environment, with the harness token."""
    target = probe.target
    planes = {
        name: url.rstrip("/")
        for name, url in (
            ("graph", target.graph_api_url),
            ("llm", target.llm_url),
            ("payments", target.payments_url),
            ("maps", target.maps_url),
        )
        if url
    }
    rules = 0
    for name, base in planes.items():
        url = f"{base}/_sim/faults"
        try:
            response = probe.client.get(url)
        except TRANSPORT_ERRORS as exc:
            return probe.unreachable(url, exc, f"is the {name} simulator running at {base}?")
        faults = json_of(response).get("faults")
        if response.status_code != 200 or faults is None:
            hint = f"check the {name} simulator's URL"
            if response.status_code in (401, 403):
                hint = "simulators.harness_token must be the server's SIM_HARNESS_TOKEN"
            return Outcome.failed(f"{url} answered HTTP {response.status_code}", hint)
        rules += len(faults)
    return Outcome.passed(f"{', '.join(planes)} answer ({rules} rule(s) in force)")
