"""Walking a webhook payload: which messages and statuses to process, and what to ignore and why.

Pure functions over the parsed JSON (no I/O), so every filter is easy to test. The rules follow
easyMO's ``router/pipeline.ts``: only ``whatsapp_business_account`` objects; per change, the metadata
must name our phone-number id (and our display number, when ``WA_BOT_NUMBER_E164`` is set); a message
needs non-empty string ``id`` and ``type`` and a sender; a message id repeated inside one payload counts once.

The sender is named by BSUID first (``from_user_id``, since April 2026 in every message), with the phone
(``from``) when Meta shows it; a message with a BSUID and no ``from`` is a username-only user's and is
valid (:mod:`reference.identity`). A ``system`` message of type ``user_changed_user_id`` is not a user's
message: it becomes an :class:`IdentityChange`. The ``phone_only_identity`` defect reads the sender from
``from`` alone, as easyMO did in 2025, so a username-only user's messages are dropped.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import defects
from .config import Settings
from .observability import DUPLICATE_IGNORED, INVALID_MESSAGE_IGNORED, PAYLOAD_IGNORED, PHONE_MISMATCH_IGNORED
from .store import BSUID

_SENDER = re.compile(r"\+?[0-9]{8,15}")
USER_ID_CHANGED = "user_changed_user_id"  # Meta's system message type: the user's BSUID was re-issued


@dataclass(frozen=True)
class Inbound:
    """One message a user sent, with what the router needs to answer it."""

    wamid: str
    # The sender's user key (reference/store.py) once the processor resolved it; at parse time the phone
    # shown, else the BSUID.
    phone: str
    type: str
    message: dict[str, Any]
    profile_name: str | None
    correlation_id: str
    request_id: str
    user_id: str | None = None  # the BSUID (from_user_id / contacts[].user_id)
    sender_phone: str | None = None  # the phone digits Meta showed (from / wa_id), if any
    username: str | None = None  # contacts[].profile.username

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
    recipient: str  # recipient_id (the phone), else recipient_user_id (the BSUID)
    correlation_id: str


@dataclass(frozen=True)
class IdentityChange:
    """Meta re-issued a user's BSUID (a ``user_changed_user_id`` system message)."""

    wamid: str
    old_user_id: str
    new_user_id: str
    phone: str | None  # system.wa_id (or from), while the phone is visible
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
    identity_changes: list[IdentityChange] = field(default_factory=list)
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
            phone_only = settings.has_defect(defects.PHONE_ONLY_IDENTITY)
            names, usernames = _profiles(value.get("contacts"), by_user_id=not phone_only)
            if settings.has_defect(defects.PROFILE_NAME_ASCII_ONLY):
                names = {k: v.encode("ascii", "ignore").decode().strip() for k, v in names.items()}
            for item in _list(value.get("messages")):
                item = _dict(item)
                if settings.has_defect(defects.BAD_MESSAGE_DROPS_BATCH) and not (
                    _str(item.get("id")) and _str(item.get("type")) and _sender_named(item, phone_only)
                ):
                    return out  # as when one message throws: the rest of the batch is never claimed
                if not phone_only and _system_type(item) == USER_ID_CHANGED:
                    _add_identity_change(out, item, seen if dedupe else None)
                    continue
                profile = _Profiles(names, usernames, phone_only)
                _add_message(out, item, profile, request_id, seen if dedupe else None)
            for item in _list(value.get("statuses")):
                _add_status(out, _dict(item))
    return out


@dataclass(frozen=True)
class _Profiles:
    names: dict[str, str]  # by wa_id and by user_id
    usernames: dict[str, str]
    phone_only: bool  # the phone_only_identity defect


def _sender_named(item: dict[str, Any], phone_only: bool) -> bool:
    return bool(_str(item.get("from")) or (not phone_only and _str(item.get("from_user_id"))))


def _add_message(
    out: Envelope, item: dict[str, Any], profiles: _Profiles, request_id: str, seen: set[str] | None
) -> None:
    wamid, phone, kind = _str(item.get("id")), _str(item.get("from")), _str(item.get("type"))
    user_id = "" if profiles.phone_only else _str(item.get("from_user_id"))
    if not (wamid and (phone or user_id) and kind):
        fields = (("id", wamid), ("from", phone or user_id), ("type", kind))
        missing = [key for key, v in fields if not v]
        out.notes.append(Note(INVALID_MESSAGE_IGNORED, None, {"reason": "missing_fields", "fields": missing}))
        return
    if (phone and not _SENDER.fullmatch(phone)) or (user_id and not BSUID.fullmatch(user_id)):
        out.notes.append(Note(INVALID_MESSAGE_IGNORED, None, {"reason": "invalid_sender", "wamid": wamid}))
        return
    digits = phone.lstrip("+") or None
    sender = phone or user_id
    if seen is not None:
        if wamid in seen:
            out.notes.append(Note(DUPLICATE_IGNORED, sender, {"wamid": wamid, "scope": "payload"}))
            return
        seen.add(wamid)
    name = profiles.names.get(digits or "") or profiles.names.get(user_id)
    out.messages.append(
        Inbound(
            wamid=wamid,
            phone=sender,
            type=kind,
            message=item,
            profile_name=name,
            correlation_id=str(uuid.uuid4()),
            request_id=request_id,
            user_id=user_id or None,
            sender_phone=digits,
            username=profiles.usernames.get(user_id) or profiles.usernames.get(digits or ""),
        )
    )


def _system_type(item: dict[str, Any]) -> str:
    return _str(_dict(item.get("system")).get("type")) if item.get("type") == "system" else ""


def _add_identity_change(out: Envelope, item: dict[str, Any], seen: set[str] | None) -> None:
    system = _dict(item.get("system"))
    wamid, old, new = _str(item.get("id")), _str(item.get("from_user_id")), _str(system.get("user_id"))
    phone = (_str(system.get("wa_id")) or _str(item.get("from"))).lstrip("+") or None
    if not (wamid and BSUID.fullmatch(old) and BSUID.fullmatch(new)):
        out.notes.append(Note(INVALID_MESSAGE_IGNORED, None, {"reason": "invalid_user_id_change"}))
        return
    if phone is not None and not _SENDER.fullmatch(phone):
        phone = None
    if seen is not None:
        if wamid in seen:
            out.notes.append(Note(DUPLICATE_IGNORED, old, {"wamid": wamid, "scope": "payload"}))
            return
        seen.add(wamid)
    out.identity_changes.append(IdentityChange(wamid, old, new, phone, str(uuid.uuid4())))


def _add_status(out: Envelope, item: dict[str, Any]) -> None:
    # A username-only recipient has no recipient_id, only recipient_user_id (since April 2026).
    wamid, status = _str(item.get("id")), _str(item.get("status"))
    recipient = _str(item.get("recipient_id")) or _str(item.get("recipient_user_id"))
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


def _profiles(contacts: Any, *, by_user_id: bool) -> tuple[dict[str, str], dict[str, str]]:
    """Profile names and usernames of the payload's contacts, by ``wa_id`` and by ``user_id``."""
    names: dict[str, str] = {}
    usernames: dict[str, str] = {}
    for contact in _list(contacts):
        contact = _dict(contact)
        profile = _dict(contact.get("profile"))
        keys = [_str(contact.get("wa_id")).lstrip("+")]
        if by_user_id:
            keys.append(_str(contact.get("user_id")))
        name, username = profile.get("name"), profile.get("username")
        for key in filter(None, keys):
            if isinstance(name, str) and name.strip():
                names[key] = name.strip()
            if by_user_id and isinstance(username, str) and username.strip():
                usernames[key] = username.strip()
    return names, usernames


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch in "0123456789")


def _str(value: Any) -> str:
    """The stripped string, or "" for anything that is not a string."""
    return value.strip() if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
