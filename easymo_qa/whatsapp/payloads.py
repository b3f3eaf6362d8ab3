"""Builders for inbound webhook payloads in the shape Meta's Cloud API sends them (2026 reference).

A payload is ``{"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{"field":
"messages", "value": {...}}]}]}`` where ``value`` holds ``messaging_product``, ``metadata``, and either
``contacts`` + ``messages`` (a user wrote) or ``statuses`` (what happened to a message the business sent).
Message builders return one ``messages[]`` item; :func:`webhook` wraps one or more of them.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from easymo_qa.whatsapp import ids

StatusName = Literal["sent", "delivered", "read", "failed"]


@dataclass(frozen=True)
class BusinessPhone:
    """The business number a webhook is addressed to (``value.metadata``)."""

    phone_number_id: str
    display_phone_number: str
    waba_id: str = "102290129340398"


def new_wamid(phone: str = "", *, outbound: bool = False) -> str:
    """A fresh message id in Meta's shape for the chat with ``phone`` (see :mod:`.ids`)."""
    return ids.new_wamid(phone, outbound=outbound)


def _now() -> str:
    return str(int(time.time()))


def _base(sender: str, kind: str, wamid: str | None, context_id: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "from": sender,
        "id": wamid or new_wamid(sender),
        "timestamp": _now(),
        "type": kind,
    }
    if context_id:
        # Replies to an interactive message carry the id of the message that was tapped.
        message["context"] = {"from": "", "id": context_id}
    return message


def text(sender: str, body: str, *, wamid: str | None = None) -> dict[str, Any]:
    message = _base(sender, "text", wamid, None)
    message["text"] = {"body": body}
    return message


def button_reply(
    sender: str, button_id: str, title: str = "", *, wamid: str | None = None, context_id: str | None = None
) -> dict[str, Any]:
    message = _base(sender, "interactive", wamid, context_id)
    message["interactive"] = {"type": "button_reply", "button_reply": {"id": button_id, "title": title}}
    return message


def list_reply(
    sender: str,
    row_id: str,
    title: str = "",
    description: str = "",
    *,
    wamid: str | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    message = _base(sender, "interactive", wamid, context_id)
    reply = {"id": row_id, "title": title}
    if description:
        reply["description"] = description
    message["interactive"] = {"type": "list_reply", "list_reply": reply}
    return message


def location(
    sender: str,
    latitude: float,
    longitude: float,
    *,
    name: str | None = None,
    address: str | None = None,
    wamid: str | None = None,
) -> dict[str, Any]:
    message = _base(sender, "location", wamid, None)
    place: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if name:
        place["name"] = name
    if address:
        place["address"] = address
    message["location"] = place
    return message


_MEDIA_DEFAULTS: dict[str, str] = {
    "image": "image/jpeg",
    "audio": "audio/ogg; codecs=opus",
    "document": "application/pdf",
    "sticker": "image/webp",
    "video": "video/mp4",
}


def media(
    sender: str,
    kind: Literal["image", "audio", "document", "sticker", "video"],
    *,
    caption: str | None = None,
    filename: str | None = None,
    mime_type: str | None = None,
    wamid: str | None = None,
) -> dict[str, Any]:
    """An inbound media message; the media id and hash are synthetic but stable in shape."""
    message = _base(sender, kind, wamid, None)
    media_id = str(int(hashlib.sha256(message["id"].encode()).hexdigest()[:15], 16))
    body: dict[str, Any] = {
        "mime_type": mime_type or _MEDIA_DEFAULTS[kind],
        "sha256": base64.b64encode(hashlib.sha256(media_id.encode()).digest()).decode("ascii"),
        "id": media_id,
    }
    if kind == "audio":
        body["voice"] = True
    if kind == "sticker":
        body["animated"] = False
    if caption and kind in ("image", "document", "video"):
        body["caption"] = caption
    if kind == "document":
        body["filename"] = filename or "document.pdf"
    message[kind] = body
    return message


def reaction(sender: str, message_id: str, emoji: str, *, wamid: str | None = None) -> dict[str, Any]:
    message = _base(sender, "reaction", wamid, None)
    message["reaction"] = {"message_id": message_id, "emoji": emoji}
    return message


def status(
    recipient: str,
    message_id: str,
    state: StatusName,
    *,
    error_code: int = 131026,
    error_title: str = "Message undeliverable",
) -> dict[str, Any]:
    """One ``statuses[]`` item: what happened to a message the business sent."""
    item: dict[str, Any] = {
        "id": message_id,
        "status": state,
        "timestamp": _now(),
        "recipient_id": recipient,
    }
    if state != "failed":  # Meta's failed statuses: see ../shared/reference/cloud-api-2026.md (*check*)
        item["recipient_user_id"] = ids.bsuid_for(recipient)
    if state in ("sent", "delivered"):
        item["conversation"] = {"id": uuid.uuid4().hex, "origin": {"type": "service"}}
        item["pricing"] = {
            "billable": False,
            "pricing_model": "PMP",
            "category": "service",
            "type": "free_customer_service",
        }
    if state == "failed":
        item["errors"] = [
            {
                "code": error_code,
                "title": error_title,
                "message": error_title,
                "error_data": {"details": error_title},
            }
        ]
    return item


def webhook(
    business: BusinessPhone,
    messages: list[dict[str, Any]] | None = None,
    *,
    statuses: list[dict[str, Any]] | None = None,
    profile_names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Wrap messages (with one ``contacts`` entry per sender) or statuses into a full webhook payload."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": business.display_phone_number,
            "phone_number_id": business.phone_number_id,
        },
    }
    if messages:
        senders = list(dict.fromkeys(m["from"] for m in messages))
        names = profile_names or {}
        # Since April 2026 every contact carries its BSUID (user_id) and every message its from_user_id,
        # whether or not the user has a username (Meta's "Business-scoped user IDs" page; see
        # ../shared/reference/cloud-api-2026.md).
        value["contacts"] = [
            {"profile": {"name": names.get(s, "Test User")}, "wa_id": s, "user_id": ids.bsuid_for(s)}
            for s in senders
        ]
        value["messages"] = messages
        for m in messages:
            m.setdefault("from_user_id", ids.bsuid_for(m["from"]))
            if "context" in m:
                m["context"]["from"] = business.display_phone_number
    if statuses:
        value["statuses"] = statuses
        # sent / delivered / read statuses come with the recipients' contacts (user_id) beside them
        recipients = [s for s in statuses if "recipient_user_id" in s]
        if recipients:
            value["contacts"] = [
                {"wa_id": s["recipient_id"], "user_id": s["recipient_user_id"]}
                for s in {s["recipient_id"]: s for s in recipients}.values()
            ]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": business.waba_id, "changes": [{"value": value, "field": "messages"}]}],
    }
