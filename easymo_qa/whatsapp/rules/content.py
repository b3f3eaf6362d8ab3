"""The contents of non-interactive messages: text, media, location, reaction, contacts and template.

Meta's pages, under https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/ :
text-messages (body 4096), image-messages (updated 2026-06-24: caption 1024, exactly one of id / link; the
same for audio, document, sticker, video), location-messages (2026-05-21: latitude and longitude
"String", sent as "37.44216251868683" in Meta's own example), reaction-messages (2026-05-21),
contacts-messages (2026-05-21: "up to 257 contacts", formatted_name required); templates: name and
language required (reference/whatsapp-business-phone-number/message-api, template object). Every limit,
its source and its date: docs/outbound-messages.md.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import PlainValidator, model_validator
from pydantic_core import PydanticCustomError

from easymo_qa.whatsapp.rules.base import COORDINATE_TYPE, Strict, count, invalid, required, text

TextBody = text("text body", 4096)
MediaId = text("media id")
MediaLink = text("media link")
MediaCaption = text("media caption", 1024, nonempty=False)
ReactionMessageId = text("reaction message_id")
ContactFormattedName = text("contact formatted_name")
TemplateLanguageCode = text("template language code")
TemplateName = text("template name", 512)

MEDIA_TYPES = ("image", "audio", "document", "sticker", "video")


class TextContent(Strict):
    body: TextBody
    preview_url: bool | None = None


class Media(Strict):
    """A media object by uploaded ``id`` or public ``link``: exactly one of them."""

    id: MediaId | None = None
    link: MediaLink | None = None
    caption: MediaCaption | None = None
    filename: str | None = None

    @model_validator(mode="after")
    def one_source(self) -> Media:
        if self.id is None and self.link is None:
            raise required("a media id or link is required")
        if self.id is not None and self.link is not None:
            raise invalid("media must have exactly one of id or link, got both")
        return self


def _coordinate(name: str, bound: float) -> PlainValidator:
    """Decimal degrees within ``bound``, as a JSON number or as a string: Meta's page types latitude and
    longitude as strings and its example sends ``"37.44216251868683"``; numbers are what most clients send."""

    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise PydanticCustomError(COORDINATE_TYPE, "not a coordinate")
        try:
            degrees = float(value)
        except ValueError:
            raise invalid(f"{name} must be decimal degrees, got {value!r}") from None
        if not (math.isfinite(degrees) and -bound <= degrees <= bound):
            raise invalid(f"{name} must be between {-bound:g} and {bound:g}, got {value}")
        return value

    return PlainValidator(check)


class Location(Strict):
    latitude: Annotated[Any, _coordinate("latitude", 90.0)]
    longitude: Annotated[Any, _coordinate("longitude", 180.0)]
    name: str | None = None
    address: str | None = None


class Reaction(Strict):
    message_id: ReactionMessageId
    emoji: str  # empty is valid: it removes an earlier reaction


class ContactName(Strict):
    formatted_name: ContactFormattedName


class Contact(Strict):
    """One contact card; only its name is required (phones, emails, org... are optional objects)."""

    name: ContactName
    phones: list[dict[str, Any]] | None = None
    emails: list[dict[str, Any]] | None = None


# "Each message can include information for up to 257 contacts" (contacts-messages, 2026-05-21).
Contacts = Annotated[list[Contact], count("contacts messages", "contact", "contacts", 1, 257)]


class TemplateLanguage(Strict):
    code: TemplateLanguageCode
    policy: Literal["deterministic"] | None = None


class Template(Strict):
    """An approved template by name and language; its components are Meta's to match against the template."""

    name: TemplateName
    language: TemplateLanguage
    components: list[dict[str, Any]] | None = None
