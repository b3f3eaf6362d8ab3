"""Who a request to the Graph API simulator is about: the simulated user behind a phone number or a BSUID.

The outbox files everything under the user's phone digits (the key a simulated user polls by), whether
the SUT addressed him by phone (``to``) or by business-scoped user id (``recipient``); BSUIDs of simulated
users turn back into their phone with :func:`~easymo_qa.whatsapp.ids.user_for_bsuid`.

When a body has both ``to`` and ``recipient``, ``to`` takes precedence and the answer follows the phone
path (``contacts[].wa_id``): Meta's https://developers.facebook.com/documentation/business-messaging/
whatsapp/business-scoped-user-ids, "Send message requests" (quoted in docs/outbound-messages.md), and
https://dualhook.com/docs/contacts-bsuid-api-changes ("If both to and recipient are present, to takes
precedence"); 8x8 documents the same for its own msisdn / BSUID pair
(https://developer.8x8.com/release-notes/2026-07-21-business-scoped-user-ids-bsuid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from easymo_qa.simulators.outbox import normalise_recipient
from easymo_qa.whatsapp import ids

AddressedBy = Literal["phone", "bsuid"]


def is_bsuid(value: Any) -> bool:
    return isinstance(value, str) and ids.BSUID.fullmatch(value) is not None


def phone_of_bsuid(bsuid: str) -> str:
    """The phone digits of the simulated user behind ``bsuid``; ``""`` for an id the harness did not make."""
    user = ids.user_for_bsuid(bsuid)
    return user[0] if user is not None else ""


def user_key(value: Any) -> str:
    """The outbox key of a phone number or a BSUID (a query string's ``to``, a fault rule's ``key``).

    ``""`` for a value with no digits; raises ValueError for a BSUID of no simulated user.
    """
    text = value.strip() if isinstance(value, str) else ""
    if is_bsuid(text):
        phone = phone_of_bsuid(text)
        if not phone:
            raise ValueError(f"{text!r} is not the BSUID of a user this simulator plays")
        return phone
    return normalise_recipient(value)


@dataclass(frozen=True)
class Address:
    """Where a message goes: the user's phone digits (``""``: nobody the simulator plays), how the SUT
    addressed him, and the BSUID the body named (``None`` when it named none)."""

    phone: str
    addressed_by: AddressedBy
    input: str  # what Meta echoes in contacts[].input: the phone as sent, or the BSUID
    recipient: str | None = None


def address_of(body: Any) -> Address:
    """The recipient of a message body; ``to`` wins over ``recipient`` when both are there."""
    if not isinstance(body, dict):
        return Address("", "phone", "")
    to, recipient = body.get("to"), body.get("recipient")
    recipient = recipient if isinstance(recipient, str) else None
    if isinstance(to, str) or recipient is None:
        text = to if isinstance(to, str) else ""
        return Address(normalise_recipient(text), "phone", text, recipient)
    return Address(phone_of_bsuid(recipient), "bsuid", recipient, recipient)


def owner_of_message(message_id: Any) -> str:
    """The phone digits of the user whose message ``message_id`` is (a mark-as-read names one), from the
    chat field of the wamid: phone digits, or a username-only user's BSUID. ``""`` when it says nobody."""
    if not isinstance(message_id, str):
        return ""
    try:
        chat = ids.parse_wamid(message_id).phone
    except ValueError:
        return ""
    return phone_of_bsuid(chat) if is_bsuid(chat) else normalise_recipient(chat)
