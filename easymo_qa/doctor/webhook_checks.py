"""The checks of the bot itself, through its webhook: the verify handshake, signatures, a reply."""

from __future__ import annotations

import time
from typing import Any

from easymo_qa.doctor.model import Outcome
from easymo_qa.doctor.preflight import handshake_params, new_challenge
from easymo_qa.doctor.probe import TRANSPORT_ERRORS, Probe, json_of


def simulators_server(probe: Probe) -> Outcome:
    """A deployed ``easymo-qa simulators serve``: its public root health, then its token on the harness API
    (told apart, so "not running" and "wrong token" get their own fix)."""
    base = (probe.target.simulators_url or "").rstrip("/")
    url = f"{base}/_sim/health"
    try:
        response = probe.client.get(url)
    except TRANSPORT_ERRORS as exc:
        return probe.unreachable(
            url, exc, f"is `easymo-qa simulators serve` running at {base}? check simulators.url"
        )
    if response.status_code != 200:
        return Outcome.failed(f"{url} answered HTTP {response.status_code}", "check simulators.url")
    return Outcome.passed(f"answers at {base}")


def verify_handshake(probe: Probe) -> Outcome:
    target, challenge = probe.target, new_challenge()
    url = target.webhook_url
    try:
        response = probe.client.get(url, params=handshake_params(target.verify_token, challenge))
    except TRANSPORT_ERRORS as exc:
        return probe.unreachable(url, exc, f"is the bot running at {url}? check webhook.url")
    code = response.status_code
    if not target.verify_token:  # production may give none: then only "something answers" is checked
        return Outcome.passed(f"reachable (HTTP {code}); no webhook.verify_token given, so not the handshake")
    if code == 200 and response.text.strip() == challenge:
        return Outcome.passed(f"HTTP 200, challenge echoed ({url})")
    if code == 200:
        return Outcome.failed(
            f"HTTP 200 but the body is not the challenge (got {response.text[:40]!r})",
            "the bot must answer hub.challenge alone as the body",
            blocks=False,
        )
    if code in (401, 403):
        hint = "webhook.verify_token must be the bot's verify token (Meta app → WhatsApp → Configuration)"
        return Outcome.failed(f"HTTP {code}: the bot refused the verify token", hint, blocks=False)
    if code == 404:
        return Outcome.failed(f"HTTP 404 at {url}", "check webhook.url (its path)")
    return Outcome.failed(f"HTTP {code} at {url}", "see the bot's logs", blocks=code >= 500)


def signatures(probe: Probe) -> Outcome:
    """A signed "hi" from a fresh number must be accepted (2xx); the same unsigned, from another, refused."""
    if probe.target.production:
        return Outcome.skipped("production is read-only: no message is sent")
    signed_number, unsigned_number = probe.numbers.next(), probe.numbers.next()
    url = probe.target.webhook_url
    try:
        sent_at = time.monotonic()
        signed = probe.post_signed(signed_number, "hi").status_code
        unsigned = probe.post_unsigned(unsigned_number, "hi").status_code
    except TRANSPORT_ERRORS as exc:
        return probe.unreachable(url, exc, f"is the bot running at {url}? check webhook.url")
    seen = f"signed: HTTP {signed}; unsigned: HTTP {unsigned}"
    if not 200 <= signed < 300:
        hint = "webhook.app_secret must be the bot's app secret (Meta app → App settings → Basic)"
        if signed >= 500:
            hint = "the bot failed on a valid message: see its logs"
        return Outcome.failed(f"a signed message was refused ({seen})", hint)
    probe.accepted_number, probe.accepted_at = signed_number, sent_at
    if not 400 <= unsigned < 500:
        hint = "the bot must check X-Hub-Signature-256 and refuse a message without it (401 or 403)"
        return Outcome.failed(f"an unsigned message was not refused ({seen})", hint, blocks=False)
    return Outcome.passed(seen)


def graph_simulator(probe: Probe) -> Outcome:
    """The Graph API simulator answers its harness API (with the harness token, when there is one)."""
    base = probe.target.graph_api_url
    if not base:
        return Outcome.skipped("no Graph API simulator in this environment: replies cannot be read")
    return simulator_health(probe, base, "graph")


def simulator_health(probe: Probe, base: str, name: str) -> Outcome:
    url = f"{base.rstrip('/')}/_sim/health"
    try:
        response = probe.client.get(url)
    except TRANSPORT_ERRORS as exc:
        return probe.unreachable(url, exc, f"is the {name} simulator running at {base}? check simulators.url")
    if response.status_code in (401, 403):
        return Outcome.failed(
            f"{url} refused the harness token (HTTP {response.status_code})",
            "simulators.harness_token must be the server's SIM_HARNESS_TOKEN",
        )
    if response.status_code != 200:
        hint = f"check the {name} simulator's URL"
        return Outcome.failed(f"{url} answered HTTP {response.status_code}", hint)
    return Outcome.passed(f"answers at {base}")


def reply_reaches_simulator(probe: Probe) -> Outcome:
    """The bot's answer to the signed "hi" arrives at the Graph API simulator within reply_seconds."""
    target, number = probe.target, probe.accepted_number
    base = (target.graph_api_url or "").rstrip("/")
    if target.production or number is None:
        return Outcome.skipped("no message was sent")
    deadline = probe.accepted_at + target.reply_seconds
    while (left := deadline - time.monotonic()) > 0:
        params = {"to": number, "after": 0, "wait": round(min(left, 5.0), 2)}
        try:
            found = json_of(probe.client.get(f"{base}/_sim/messages", params=params)).get("messages") or []
        except TRANSPORT_ERRORS as exc:
            return probe.unreachable(base, exc, "the Graph API simulator stopped answering")
        if found:
            took = time.monotonic() - probe.accepted_at  # when the harness saw it: no clock of the SUT's
            kind = found[0].get("type", "?")
            return Outcome.passed(f"a reply ({kind}) to {number} within {took:.2f} s")
        time.sleep(0.05)
    refused = _refusal(probe, base, number)
    if refused is not None:
        hint = "see docs/outbound-messages.md: the simulator judges each message as Meta's Graph API does"
        if refused.get("code") == 190:
            hint = "the bot's Graph access token (WA_TOKEN) must be simulators.access_token"
        detail = f"the simulator refused the bot's reply: {str(refused.get('message') or refused)[:160]}"
        return Outcome.failed(detail, hint, blocks=False)
    return Outcome.failed(
        f"no reply to {number} within {target.reply_seconds:g} s",
        f"the bot's Graph base URL does not point at {base} (set it to {base})",
        blocks=False,
    )


def _refusal(probe: Probe, base: str, number: str) -> dict[str, Any] | None:
    """The Graph error of the last message to ``number`` the simulator refused, if it refused one."""
    try:
        response = probe.client.get(f"{base}/_sim/rejections", params={"to": number})
    except TRANSPORT_ERRORS:
        return None
    rejections = json_of(response).get("rejections") or []
    if not rejections:
        return None
    error = rejections[-1].get("error")
    return error if isinstance(error, dict) else {"message": str(error)}
