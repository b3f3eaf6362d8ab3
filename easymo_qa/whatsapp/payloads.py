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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from easymo_qa.whatsapp import ids
from easymo_qa.whatsapp.identity import Identity

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
    digest = hashlib.sha256(media_id.encode()).digest()
    body: dict[str, Any] = {
        "mime_type": mime_type or _MEDIA_DEFAULTS[kind],
        "sha256": base64.b64encode(digest).decode("ascii"),
        "id": media_id,
        # Media webhooks carry a download url since late 2025 (Meta's image / audio / document / video /
        # sticker webhook references, 2026-05-21 and 2026-06-17); it needs the access token, so a bot
        # under test that fetches it by id through the Graph API simulator still works.
        "url": f"https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid={media_id}"
        f"&ext={_now()}&hash={digest.hex()[:22]}",
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


def user_id_changed(old: Identity, new: Identity, name: str = "Test User") -> dict[str, Any]:
    """The ``system`` message Meta sends when it re-issues a user's BSUID (``user_changed_user_id``).

    Shape from Meta's "System messages webhook reference" (updated 2026-08-11): no ``contacts`` array, the
    new id in ``system.user_id``, ``system.wa_id`` only while the phone is visible. Where the old id is,
    the page does not show beyond the body; public Cloud API projects read it from ``from_user_id`` or
    ``system.previous_user_id`` (which Meta's changelog of 2026-08-11 is reported to add), so all three
    carry it (see docs/inbound-webhooks.md, "unclear").
    """
    message: dict[str, Any] = {
        "from": old.phone,
        "from_user_id": old.bsuid,
        "id": old.new_wamid(),
        "timestamp": _now(),
        "type": "system",
        "system": {
            "body": f"User {name} changed from {old.bsuid} to {new.bsuid}",
            "user_id": new.bsuid,
            # the old id by name: Meta's changelog entry of 2026-08-11 adds previous_user_id, and public
            # Cloud API projects read the old id from there
            "previous_user_id": old.bsuid,
            "type": "user_changed_user_id",
        },
    }
    if old.phone_visible:
        message["system"]["wa_id"] = old.phone
    else:
        del message["from"]
    return message


def status(
    recipient: str | Identity,
    message_id: str,
    state: StatusName,
    *,
    error_code: int = 131026,
    error_title: str = "Message undeliverable",
) -> dict[str, Any]:
    """One ``statuses[]`` item: what happened to a message the business sent to ``recipient``.

    A username-only recipient has no ``recipient_id`` (its phone is withheld), only ``recipient_user_id``.
    """
    who = recipient if isinstance(recipient, Identity) else Identity(_digits(recipient))
    item: dict[str, Any] = {"id": message_id, "status": state, "timestamp": _now()}
    if who.phone_visible:
        item["recipient_id"] = who.phone
    if state != "failed" or not who.phone_visible:
        # Meta's failed statuses carry no BSUID fields (independent Cloud API libraries agree; Meta's page
        # does not say: see docs/inbound-webhooks.md). A username-only user has only its BSUID.
        item["recipient_user_id"] = who.bsuid
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
                "href": "/documentation/business-messaging/whatsapp/support/error-codes",
            }
        ]
    return item


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def _identities(people: Iterable[Identity]) -> dict[str, Identity]:
    """Look-up by phone digits and by BSUID."""
    found: dict[str, Identity] = {}
    for person in people:
        found[person.phone] = found[person.bsuid] = person
    return found


def webhook(
    business: BusinessPhone,
    messages: list[dict[str, Any]] | None = None,
    *,
    statuses: list[dict[str, Any]] | None = None,
    profile_names: dict[str, str] | None = None,
    identities: Iterable[Identity] = (),
) -> dict[str, Any]:
    """Wrap messages (with one ``contacts`` entry per sender) or statuses into a full webhook payload.

    Messages are built with the sender's phone in ``from``; ``identities`` says which senders have a
    username or show no phone, and the webhook is shaped for each as Meta shapes it: a username-only
    sender's messages lose ``from`` and its contact loses ``wa_id``. A sender not listed is a phone user.
    """
    known = _identities(identities)
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": business.display_phone_number,
            "phone_number_id": business.phone_number_id,
        },
    }
    if messages:
        names = profile_names or {}
        senders: dict[str, Identity] = {}
        for m in messages:
            if m.get("type") == "system":  # identity changes come with no contacts and say who they were
                continue
            key = m.get("from") or m.get("from_user_id") or ""
            person = known.get(key) or Identity(_digits(key))
            senders.setdefault(person.phone, person)
            # Since April 2026 every message names its sender's BSUID, username or not; ``from`` only
            # while the phone is visible (Meta's "Business-scoped user IDs" page).
            m["from_user_id"] = person.bsuid
            if not person.phone_visible:
                m.pop("from", None)
            if "context" in m:
                m["context"]["from"] = business.display_phone_number
        if senders:
            value["contacts"] = [p.contact(names.get(phone, "Test User")) for phone, p in senders.items()]
        value["messages"] = messages
    if statuses:
        value["statuses"] = statuses
        # sent / delivered / read statuses come with the recipients' contacts beside them, the username
        # only on delivered and read; failed ones with none ("Business-scoped user IDs", 2026-06-29,
        # status messages webhooks; docs/inbound-webhooks.md).
        names = profile_names or {}
        contacts: dict[str, dict[str, Any]] = {}
        for s in statuses:
            if s["status"] == "failed" or "recipient_user_id" not in s or s["recipient_user_id"] in contacts:
                continue
            person = known.get(s["recipient_user_id"]) or Identity(_digits(s.get("recipient_id", "")))
            name = names.get(person.phone, "Test User")
            contacts[s["recipient_user_id"]] = person.contact(name, with_username=s["status"] != "sent")
        if contacts:
            value["contacts"] = list(contacts.values())
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": business.waba_id, "changes": [{"value": value, "field": "messages"}]}],
    }
