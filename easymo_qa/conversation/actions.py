"""A journey step's action as the WhatsApp message its actor sends, and its one-line description."""

from __future__ import annotations

import httpx

from easymo_qa.conversation.model import Step
from easymo_qa.conversation.variables import Variables
from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.user import WhatsAppUser


def send_action(
    user: WhatsAppUser,
    kind: str,
    value: object,
    variables: Variables,
    *,
    clear_pending: bool = True,
) -> httpx.Response:
    """Send ``user``'s action of this ``kind`` (send, tap, choose, share, send_media, react)."""
    if kind == "send":
        message = payloads.text(user.phone, variables.text(str(value)))
    elif kind == "tap":
        context = user.last_reply.wamid if user.last_reply else None
        message = payloads.button_reply(user.phone, variables.text(str(value)), context_id=context)
    elif kind == "choose":
        context = user.last_reply.wamid if user.last_reply else None
        message = payloads.list_reply(user.phone, variables.text(str(value)), context_id=context)
    elif kind == "share":
        place = value  # a Location model
        message = payloads.location(user.phone, place.latitude, place.longitude, name=place.name)  # type: ignore[attr-defined]
    elif kind == "send_media":
        message = payloads.media(user.phone, value)  # type: ignore[arg-type]
    else:  # react
        target_id = user.last_reply.wamid if user.last_reply else payloads.new_wamid()
        message = payloads.reaction(user.phone, target_id, str(value))
    return user.send(message, clear_pending=clear_pending)


def describe(step: Step) -> str:
    """The step's action in a few words, for results and failure messages."""
    action = step.action()
    if action is None:
        return "wait for replies"
    kind, value = action
    return f"{step.actor} {kind} {value if not hasattr(value, 'latitude') else 'location'}"
