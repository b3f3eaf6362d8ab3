"""The whole request body of ``POST /{version}/{phone_number_id}/messages``: one model per message ``type``,
and the two requests that are not messages (mark as read, typing indicator).

:func:`validate_outbound` returns every rule a body breaks (empty list = Meta would accept it); the Graph
API simulator answers the first as Meta's error object and joins them all in its details.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator

from easymo_qa.whatsapp import ids
from easymo_qa.whatsapp.rules.base import (
    INVALID_PARAMETER,
    RuleViolation,
    Strict,
    invalid,
    required,
    typed_model,
    union_on_type,
    violations,
)
from easymo_qa.whatsapp.rules.carousel import Interactive
from easymo_qa.whatsapp.rules.content import (
    MEDIA_TYPES,
    Contacts,
    Location,
    Media,
    Reaction,
    Template,
    TextContent,
)

_PHONE = re.compile(r"\+?\d{8,15}")
# A business-scoped user id: ISO country code, a dot, up to 128 alphanumerics ("RW.123456789"); parent
# BSUIDs of linked portfolios carry ".ENT" (https://developers.facebook.com/documentation/business-
# messaging/whatsapp/business-scoped-user-ids, dated 2026-03-31).
_BSUID = re.compile(r"[A-Z]{2}(\.ENT)?\.[A-Za-z0-9]{1,128}")


def _phone(to: str) -> str:
    if not _PHONE.fullmatch(to):
        raise invalid(f"to must be 8-15 digits with an optional leading '+', got {to!r}")
    return to


def _bsuid(recipient: str) -> str:
    if not _BSUID.fullmatch(recipient):
        raise invalid(
            f"recipient must be a business-scoped user id such as 'RW.123456789', got {recipient!r}"
        )
    return recipient


class Envelope(Strict):
    """Who a message goes to: ``to`` (a phone number) or ``recipient`` (a BSUID, since 2026), at least one.

    With both, ``to`` takes precedence and the answer follows the phone path (Meta's business-scoped-user-ids
    page, "Send message requests", quoted in docs/outbound-messages.md; "If both to and recipient are
    present, to takes precedence", https://dualhook.com/docs/contacts-bsuid-api-changes). Both are still
    checked for their shape.
    """

    messaging_product: Literal["whatsapp"]
    recipient_type: Literal["individual"] | None = None
    recipient: Annotated[str, AfterValidator(_bsuid)] | None = None
    # Declared after ``recipient`` and always validated, so the check below sees both.
    to: Annotated[str, AfterValidator(_phone)] | None = Field(default=None, validate_default=True)

    @field_validator("to", mode="after")
    @classmethod
    def someone(cls, to: str | None, info: ValidationInfo) -> str | None:
        if to is None and info.data.get("recipient") is None:
            raise required("to is required (or recipient, a business-scoped user id)")
        return to


# What each message ``type`` carries, in the field named after the type.
CONTENTS: dict[str, Any] = {
    "text": TextContent,
    **dict.fromkeys(MEDIA_TYPES, Media),
    "location": Location,
    "reaction": Reaction,
    "contacts": Contacts,
    "template": Template,
    "interactive": Interactive,
}


_MESSAGE: TypeAdapter[Envelope] = TypeAdapter(
    union_on_type(typed_model(kind, Envelope, {kind: content}) for kind, content in CONTENTS.items())
)


class TypingIndicator(Strict):
    type: Literal["text"]


def _message_id(message_id: str) -> str:
    # Meta answers a mark-as-read naming no message with 131009 (messages/mark-message-as-read, updated
    # 2026-06-28); an id that is not a wamid at all names none.
    try:
        ids.parse_wamid(message_id)
    except ValueError:
        got = message_id[:60]
        raise invalid(
            f"message_id must be the wamid of a message the business received, got {got!r}"
        ) from None
    return message_id


class StatusUpdate(Strict):
    """Mark as read (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/
    mark-message-as-read), with a typing indicator when ``typing_indicator`` is there (.../typing-indicators,
    updated 2026-06-17). Meta answers ``{"success": true}``; nothing reaches the user's chat."""

    messaging_product: Literal["whatsapp"]
    status: Literal["read"]
    message_id: Annotated[str, Field(min_length=1), AfterValidator(_message_id)]
    typing_indicator: TypingIndicator | None = None


def is_status_update(body: Any) -> bool:
    """Whether ``body`` asks to mark a message read (maybe with typing) rather than to send a message."""
    return isinstance(body, dict) and "status" in body


def _without_nulls(value: Any) -> Any:
    # Meta treats a JSON null as an absent field.
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def validate_outbound(body: Any) -> list[RuleViolation]:
    """Every Cloud API rule ``body`` breaks, in field order; an empty list means Meta would accept it."""
    if not isinstance(body, dict):
        kind = {list: "array", str: "string"}.get(type(body), type(body).__name__)
        return [RuleViolation(INVALID_PARAMETER, "", f"the request body must be a JSON object, got {kind}")]
    body = _without_nulls(body)
    try:
        if is_status_update(body):
            StatusUpdate.model_validate(body)
        else:
            _MESSAGE.validate_python({"type": "text", **body})  # Meta treats a message without type as text
    except ValidationError as exc:
        return violations(exc, tagged=not is_status_update(body))
    return []
