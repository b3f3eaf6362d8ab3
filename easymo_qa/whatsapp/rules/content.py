"""The contents of non-interactive messages: text, media, location, reaction, contacts and template.

Meta's pages, under https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/ :
text-messages, image-messages (and audio, document, sticker, video), location-messages,
reaction-messages, contacts-messages, template-messages.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, model_validator

from easymo_qa.whatsapp.rules.base import Strict, count, invalid, required, text

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


def _within(name: str, bound: float) -> AfterValidator:
    def check(value: float) -> float:
        if not -bound <= value <= bound:
            raise invalid(f"{name} must be between {-bound:g} and {bound:g}, got {value}")
        return value

    return AfterValidator(check)


class Location(Strict):
    latitude: Annotated[float, _within("latitude", 90.0)]
    longitude: Annotated[float, _within("longitude", 180.0)]
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


Contacts = Annotated[list[Contact], count("contacts messages", "contact", "contacts", 1, None)]


class TemplateLanguage(Strict):
    code: TemplateLanguageCode
    policy: Literal["deterministic"] | None = None


class Template(Strict):
    """An approved template by name and language; its components are Meta's to match against the template."""

    name: TemplateName
    language: TemplateLanguage
    components: list[dict[str, Any]] | None = None
