"""A journey's variables: ``${name}`` / ``${name|filter}`` substitution, captures from replies, and the
step actions they fill in (the WhatsApp message an actor sends)."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from easymo_qa.conversation.model import Expect, Step
from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.user import WhatsAppUser

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)(?:\|([a-z]+))?\}")
# Filters: ``${code|wrong}`` is a value guaranteed to differ from ``${code}`` (every digit + 1 mod 10).
_FILTERS: dict[str, Callable[[str], str]] = {
    "wrong": lambda v: "".join(str((int(c) + 1) % 10) if c.isdigit() else c for c in v) if v else "x",
}


class Variables:
    """The values a journey's text may name: run id, actors' phones, settings, captures."""

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


def capture(expect: Expect, message: OutboundMessage, variables: Variables) -> None:
    """Store what ``expect``'s ``capture`` entries take from ``message`` (text group, row or button id)."""
    for name, wanted in expect.capture.items():
        value: str | None = None
        if wanted.text is not None:
            match = re.search(wanted.text, message.visible_text)
            value = match.group(1) if match and match.groups() else (match.group(0) if match else None)
        elif wanted.row is not None and wanted.row < len(message.row_ids):
            value = message.row_ids[wanted.row]
        elif wanted.button is not None and wanted.button < len(message.button_ids):
            value = message.button_ids[wanted.button]
        if value is not None and wanted.pattern is not None and wanted.text is None:
            match = re.fullmatch(wanted.pattern, value)
            value = match.group(1) if match and match.groups() else None
        if value is None:
            raise ValueError(f"could not capture '{name}' from the reply: {message.summary()}")
        variables.values[name] = value


def send_action(
    user: WhatsAppUser,
    kind: str,
    value: object,
    variables: Variables,
    *,
    clear_pending: bool = True,
) -> httpx.Response:
    """Send ``user``'s action of this ``kind`` (send, tap, choose, share, send_media, react)."""
    # Each message's id is keyed like the user's chat: a username-only user's never holds the phone.
    wamid = user.identity.new_wamid()
    context = user.last_reply.wamid if user.last_reply else None
    if kind == "send":
        message = payloads.text(user.phone, variables.text(str(value)), wamid=wamid)
    elif kind == "tap":
        button = variables.text(str(value))
        message = payloads.button_reply(user.phone, button, context_id=context, wamid=wamid)
    elif kind == "choose":
        row = variables.text(str(value))
        message = payloads.list_reply(user.phone, row, context_id=context, wamid=wamid)
    elif kind == "share":
        place = value  # a Location model
        latitude, longitude = place.latitude, place.longitude  # type: ignore[attr-defined]
        message = payloads.location(user.phone, latitude, longitude, name=place.name, wamid=wamid)  # type: ignore[attr-defined]
    elif kind == "send_media":
        message = payloads.media(user.phone, value, wamid=wamid)  # type: ignore[arg-type]
    else:  # react
        target_id = context or payloads.new_wamid()
        message = payloads.reaction(user.phone, target_id, str(value), wamid=wamid)
    return user.send(message, clear_pending=clear_pending)


def describe(step: Step) -> str:
    """The step's action in a few words, for results and failure messages."""
    action = step.action()
    if action is None:
        return "wait for replies"
    kind, value = action
    return f"{step.actor} {kind} {value if not hasattr(value, 'latitude') else 'location'}"
