"""Walking a webhook payload: which messages and statuses to process, and what to ignore and why.

Pure functions over the parsed JSON (no I/O), so every filter is easy to test. The rules follow
easyMO's ``router/pipeline.ts``: only ``whatsapp_business_account`` objects; per change, the metadata
must name our phone-number id (and our display number, when ``WA_BOT_NUMBER_E164`` is set); a message
needs non-empty string ``id``, ``from`` and ``type``; a message id repeated inside one payload counts once.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import defects
from .config import Settings
from .observability import DUPLICATE_IGNORED, INVALID_MESSAGE_IGNORED, PAYLOAD_IGNORED, PHONE_MISMATCH_IGNORED

_SENDER = re.compile(r"\+?[0-9]{8,15}")


@dataclass(frozen=True)
class Inbound:
    """One message a user sent, with what the router needs to answer it."""

    wamid: str
    phone: str
    type: str
    message: dict[str, Any]
    profile_name: str | None
    correlation_id: str
    request_id: str

    @property
    def text(self) -> str | None:
        body = _dict(self.message.get("text")).get("body")
        return body if self.type == "text" and isinstance(body, str) else None

    @property
    def interactive_id(self) -> str | None:
        """The tapped button or list-row id (``interactive.type`` may be missing, as easyMO allows)."""
        if self.type != "interactive":
            return None
        interactive = _dict(self.message.get("interactive"))
        kind = interactive.get("type")
        for reply_kind in ("button_reply", "list_reply"):
            if kind == reply_kind or (kind is None and reply_kind in interactive):
                reply_id = _dict(interactive.get(reply_kind)).get("id")
                return reply_id if isinstance(reply_id, str) and reply_id else None
        return None

    @property
    def location(self) -> tuple[float, float] | None:
        if self.type != "location":
            return None
        place = _dict(self.message.get("location"))
        try:
            lat, lng = float(place["latitude"]), float(place["longitude"])
        except (KeyError, TypeError, ValueError):
            return None
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):  # also rejects NaN
            return None
        return lat, lng


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery/read receipt for a message the business sent."""

    wamid: str
    status: str
    recipient: str
    correlation_id: str


@dataclass(frozen=True)
class Note:
    """A request-level event to record: something in the payload was ignored."""

    name: str
    phone: str | None
    data: dict[str, Any]


@dataclass
class Envelope:
    messages: list[Inbound] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


def parse(payload: Any, settings: Settings, request_id: str) -> Envelope:
    out = Envelope()
    other_object = isinstance(payload, dict) and payload.get("object") != "whatsapp_business_account"
    if other_object and settings.has_defect(defects.ANY_OBJECT_PROCESSED):
        other_object = False
    if not isinstance(payload, dict) or other_object:
        kind = payload.get("object") if isinstance(payload, dict) else type(payload).__name__
        out.notes.append(
            Note(PAYLOAD_IGNORED, None, {"reason": "not_whatsapp_business_account", "object": kind})
        )
        return out
    seen: set[str] = set()
    dedupe = not settings.has_defect(defects.NO_DEDUPE)
    for entry in _list(payload.get("entry")):
        for change in _list(_dict(entry).get("changes")):
            change = _dict(change)
            if change.get("field", "messages") != "messages":
                out.notes.append(
                    Note(PAYLOAD_IGNORED, None, {"reason": "field", "field": change.get("field")})
                )
                continue
            value = _dict(change.get("value"))
            mismatch = _phone_mismatch(value.get("metadata"), settings)
            if mismatch is not None and not settings.has_defect(defects.NO_PHONE_ID_FILTER):
                out.notes.append(Note(PHONE_MISMATCH_IGNORED, None, mismatch))
                continue
            names = _profile_names(value.get("contacts"))
            if settings.has_defect(defects.PROFILE_NAME_ASCII_ONLY):
                names = {k: v.encode("ascii", "ignore").decode().strip() for k, v in names.items()}
            for item in _list(value.get("messages")):
                if settings.has_defect(defects.BAD_MESSAGE_DROPS_BATCH) and not all(
                    _str(_dict(item).get(key)) for key in ("id", "from", "type")
                ):
                    return out  # as when one message throws: the rest of the batch is never claimed
                _add_message(out, _dict(item), names, request_id, seen if dedupe else None)
            for item in _list(value.get("statuses")):
                _add_status(out, _dict(item))
    return out


def _add_message(
    out: Envelope, item: dict[str, Any], names: dict[str, str], request_id: str, seen: set[str] | None
) -> None:
    wamid, sender, kind = _str(item.get("id")), _str(item.get("from")), _str(item.get("type"))
    if not (wamid and sender and kind):
        missing = [key for key, v in (("id", wamid), ("from", sender), ("type", kind)) if not v]
        out.notes.append(Note(INVALID_MESSAGE_IGNORED, None, {"reason": "missing_fields", "fields": missing}))
        return
    if not _SENDER.fullmatch(sender):
        out.notes.append(Note(INVALID_MESSAGE_IGNORED, None, {"reason": "invalid_sender", "wamid": wamid}))
        return
    if seen is not None:
        if wamid in seen:
            out.notes.append(Note(DUPLICATE_IGNORED, sender, {"wamid": wamid, "scope": "payload"}))
            return
        seen.add(wamid)
    out.messages.append(
        Inbound(
            wamid=wamid,
            phone=sender,
            type=kind,
            message=item,
            profile_name=names.get(sender.lstrip("+")),
            correlation_id=str(uuid.uuid4()),
            request_id=request_id,
        )
    )


def _add_status(out: Envelope, item: dict[str, Any]) -> None:
    wamid, status, recipient = _str(item.get("id")), _str(item.get("status")), _str(item.get("recipient_id"))
    if not (wamid and status and recipient):
        out.notes.append(Note(INVALID_MESSAGE_IGNORED, None, {"reason": "invalid_status"}))
        return
    out.statuses.append(StatusUpdate(wamid, status, recipient, str(uuid.uuid4())))


def _phone_mismatch(metadata: Any, settings: Settings) -> dict[str, Any] | None:
    """Why a change is not addressed to us, or None when it is."""
    if not isinstance(metadata, dict):
        return {"reason": "missing_metadata"}
    phone_id = metadata.get("phone_number_id")
    if phone_id != settings.phone_id:
        return {"reason": "phone_number_id", "phone_number_id": phone_id}
    display = metadata.get("display_phone_number")
    if settings.bot_number_e164 and isinstance(display, str) and display:
        if _digits(display) != _digits(settings.bot_number_e164):
            return {"reason": "display_phone_number", "display_phone_number": display}
    return None


def _profile_names(contacts: Any) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in _list(contacts):
        contact = _dict(contact)
        wa_id, name = contact.get("wa_id"), _dict(contact.get("profile")).get("name")
        if isinstance(wa_id, str) and isinstance(name, str) and name.strip():
            names[wa_id.lstrip("+")] = name.strip()
    return names


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch in "0123456789")


def _str(value: Any) -> str:
    """The stripped string, or "" for anything that is not a string."""
    return value.strip() if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
