"""Interactive messages, one model per ``interactive.type``, with the limits of Meta's page for each.

Pages under https://developers.facebook.com/documentation/business-messaging/whatsapp/ (the date is the
page's "Updated"): messages/interactive-reply-buttons-messages (2026-05-21), messages/interactive-list-
messages (2026-06-28: body 4096, header text only, 10 sections and 10 rows in all), messages/
interactive-cta-url-messages (2026-06-28: body required, header text 60), messages/location-request-
messages (2026-05-21), catalogs/single-product-messages (2026-05-21), catalogs/multi-product-messages
(2026-06-26: text header, 30 products in up to 10 sections), catalogs/catalog-messages (2026-06-18),
flows/guides/sendingaflow (2026-06-16), business-scoped-user-ids (2026-06-29: request_contact_info); the
Messages API reference (reference/whatsapp-business-phone-number/message-api) where a guide is silent.
Carousels and the calling types are in :mod:`.carousel`; every rule and its source: docs/outbound-messages.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, model_validator

from easymo_qa.whatsapp.rules.base import (
    Strict,
    count,
    invalid,
    required,
    text,
    unique,
)
from easymo_qa.whatsapp.rules.content import Media

BodyText = text("body text", 1024)
ListBodyText = text("body text", 4096)
FooterText = text("footer text", 60, nonempty=False)
HeaderText = text("header text", 60)
ButtonId = text("button id", 256)
ButtonTitle = text("button title", 20)
RowId = text("row id", 200)
RowTitle = text("row title", 24)
RowDescription = text("row description", 72, nonempty=False)
SectionTitle = text("section title", 24)
ListButtonText = text("list button text", 20)
CtaUrlDisplayText = text("cta_url display text", 20)
CtaUrlUrl = text("cta_url url")
# "CTA text length is advised to be 30 characters or less (no emoji)": advice, not a limit Meta enforces.
FlowCta = text("flow_cta")
FlowId = text("flow_id")
FlowName = text("flow_name")
CatalogId = text("catalog_id")
ProductRetailerId = text("product_retailer_id")


class Body(Strict):
    text: BodyText


class ListBody(Strict):
    text: ListBodyText


class Footer(Strict):
    text: FooterText


class _Header(Strict):
    """A header: ``text``, or the media object named by ``type`` (checked like a media message)."""

    type: str
    text: HeaderText | None = None
    image: Media | None = None
    video: Media | None = None
    document: Media | None = None

    @model_validator(mode="after")
    def content_of_its_type(self) -> _Header:
        if getattr(self, self.type) is None:
            raise required(f"a {self.type} header needs its {self.type} field")
        return self


class MediaHeader(_Header):
    type: Literal["text", "image", "video", "document"]


class TextHeader(_Header):
    type: Literal["text"]


# --- reply buttons --------------------------------------------------------------------------------------


class Reply(Strict):
    id: ButtonId
    title: ButtonTitle


class ReplyButton(Strict):
    type: Literal["reply"]
    reply: Reply


class ButtonAction(Strict):
    buttons: Annotated[
        list[ReplyButton],
        count("interactive button messages", "button", "buttons", 1, 3),
        unique("button ids", lambda buttons: [b.reply.id for b in buttons]),
        unique("button titles", lambda buttons: [b.reply.title for b in buttons]),
    ]


# --- lists ----------------------------------------------------------------------------------------------


class Row(Strict):
    id: RowId
    title: RowTitle
    description: RowDescription | None = None


class Section(Strict):
    title: SectionTitle | None = None
    rows: Annotated[list[Row], count("list sections", "row", "rows", 1, 10)]


def _ten_rows_titled_sections(sections: list[Section]) -> list[Section]:
    total = sum(len(s.rows) for s in sections)
    if total > 10:
        raise invalid(f"interactive list messages allow at most 10 rows in total, got {total}")
    # A lone section may go untitled: "Required if the message has more than one section" (Messages API
    # reference, section object). The list guide (2026-06-28) says "Required." outright; the two disagree
    # and the harness keeps the looser one rather than refuse what Meta may accept.
    untitled = [i for i, s in enumerate(sections) if s.title is None]
    if len(sections) > 1 and untitled:
        raise required(f"section title is required when a list has several sections, sections{untitled}")
    return sections


class ListAction(Strict):
    button: ListButtonText
    sections: Annotated[
        list[Section],
        count("interactive list messages", "section", "sections", 1, 10),
        AfterValidator(_ten_rows_titled_sections),
        unique("row ids", lambda sections: [r.id for s in sections for r in s.rows]),
    ]


# --- call to action, location request, flow -------------------------------------------------------------


class UrlParameters(Strict):
    display_text: CtaUrlDisplayText
    url: CtaUrlUrl


class CtaUrlAction(Strict):
    name: Literal["cta_url"]
    parameters: UrlParameters


class SendLocation(Strict):
    name: Literal["send_location"]


class FlowParameters(Strict):
    """A published (or draft) Flow by ``flow_id`` or ``flow_name``, exactly one; message version "3"."""

    flow_message_version: Literal["3"]
    flow_cta: FlowCta
    flow_id: FlowId | None = None
    flow_name: FlowName | None = None
    flow_token: str | None = None
    mode: Literal["draft", "published"] | None = None
    flow_action: Literal["navigate", "data_exchange"] | None = None
    flow_action_payload: dict[str, Any] | None = None

    @model_validator(mode="after")
    def one_flow(self) -> FlowParameters:
        if (self.flow_id is None) == (self.flow_name is None):
            raise invalid("flow messages need exactly one of flow_id or flow_name")
        return self


class FlowAction(Strict):
    name: Literal["flow"]
    parameters: FlowParameters


# --- commerce: product, product_list, catalog_message ---------------------------------------------------


class ProductAction(Strict):
    catalog_id: CatalogId
    product_retailer_id: ProductRetailerId


class ProductItem(Strict):
    product_retailer_id: ProductRetailerId


class ProductSection(Strict):
    title: SectionTitle
    product_items: Annotated[list[ProductItem], count("product sections", "item", "items", 1, 30)]


def _thirty_products(sections: list[ProductSection]) -> list[ProductSection]:
    total = sum(len(s.product_items) for s in sections)
    if total > 30:
        raise invalid(f"multi-product messages allow at most 30 products in total, got {total}")
    return sections


class ProductListAction(Strict):
    catalog_id: CatalogId
    sections: Annotated[
        list[ProductSection],
        count("multi-product messages", "section", "sections", 1, 10),
        AfterValidator(_thirty_products),
    ]


class CatalogParameters(Strict):
    thumbnail_product_retailer_id: str | None = None


class CatalogAction(Strict):
    name: Literal["catalog_message"]
    parameters: CatalogParameters | None = None  # optional: "If you omit the parameters object ..."


class RequestContactInfoAction(Strict):
    """The button that asks a user for his phone number (business-scoped-user-ids, "Requesting phone
    numbers from users", available from July 2026): it takes no parameters."""

    name: Literal["request_contact_info"]


def _absent(label: str) -> Any:
    """A part a type must not carry: any value but null is refused."""

    def refuse(value: Any) -> Any:
        raise invalid(label)

    return Annotated[Any, AfterValidator(refuse)] | None


# What each interactive.type holds besides its ``type``, in Meta's order: ``X | None`` where a part may be
# left out; a part its type does not list is ignored.
MESSAGES: dict[str, dict[str, Any]] = {
    "button": {"header": MediaHeader | None, "body": Body, "footer": Footer | None, "action": ButtonAction},
    "list": {"header": TextHeader | None, "body": ListBody, "footer": Footer | None, "action": ListAction},
    # the body is "Required." on the cta_url page (2026-06-28)
    "cta_url": {"header": MediaHeader | None, "body": Body, "footer": Footer | None, "action": CtaUrlAction},
    "location_request_message": {"body": Body, "action": SendLocation},
    "flow": {"header": MediaHeader | None, "body": Body, "footer": Footer | None, "action": FlowAction},
    # "header ... Cannot be set for 'product' type"; "body ... Optional for 'product' type" (Messages API)
    "product": {
        "header": _absent("single-product messages take no header"),
        "body": Body | None,
        "footer": Footer | None,
        "action": ProductAction,
    },
    # the header is required here, unlike every other type
    "product_list": {
        "header": TextHeader,
        "body": Body,
        "footer": Footer | None,
        "action": ProductListAction,
    },
    "catalog_message": {"body": Body, "footer": Footer | None, "action": CatalogAction},
    "request_contact_info": {"body": Body, "action": RequestContactInfoAction},
}
