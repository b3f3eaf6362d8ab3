"""Carousels (media cards or product cards), the calling types the simulated account lacks, and the
union of every ``interactive.type``.

Media carousel (interactive-media-carousel-messages, updated 2026-05-21): 2 to 10 cards, a main body and
no header or footer; each card an image or video header, a body of at most 160 characters, and either one
URL button or quick-reply buttons, the same kind and number on every card. Product carousel
(catalogs/interactive-product-carousel-messages): 2 to 10 cards of type "product" from one catalog.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from easymo_qa.whatsapp.rules.base import (
    FEATURE_NOT_ENABLED,
    Strict,
    count,
    invalid,
    rule_error,
    text,
    typed_model,
    union_on_type,
)
from easymo_qa.whatsapp.rules.interactive import (
    MESSAGES,
    Body,
    CardHeader,
    CatalogId,
    ProductRetailerId,
    Reply,
    UrlParameters,
)

CardBodyText = text("card body text", 160)


class QuickReplyButton(Strict):
    type: Literal["quick_reply"]
    quick_reply: Reply  # same id and title limits as reply buttons


QuickReplies = Annotated[list[QuickReplyButton], count("carousel cards", "button", "buttons", 1, None)]


class CardBody(Strict):
    text: CardBodyText


class CardAction(Strict):
    name: Literal["cta_url"] | None = None
    parameters: UrlParameters | None = None
    buttons: QuickReplies | None = None
    catalog_id: CatalogId | None = None
    product_retailer_id: ProductRetailerId | None = None


class Card(Strict):
    card_index: Annotated[int, Field(ge=0, le=9)]
    type: Literal["cta_url", "product"]
    header: CardHeader | None = None
    body: CardBody | None = None
    action: CardAction

    @model_validator(mode="after")
    def complete_for_its_type(self) -> Card:
        action = self.action
        if self.type == "product":
            if action.catalog_id is None or action.product_retailer_id is None:
                raise invalid("product cards need catalog_id and product_retailer_id")
            return self
        if self.header is None:
            raise invalid("media cards need an image or video header")
        if (action.parameters is None) == (action.buttons is None):
            raise invalid("media cards need either one URL button or quick-reply buttons, not both")
        return self


def _uniform(cards: list[Card]) -> list[Card]:
    """Every card alike: same type, same buttons (URL or as many quick replies), same catalog."""
    shapes = {(c.type, len(c.action.buttons or ()), c.action.catalog_id) for c in cards}
    if len(shapes) > 1:
        raise invalid("carousel cards must all have the same type, buttons and catalog")
    indexes = [c.card_index for c in cards]
    if sorted(indexes) != list(range(len(cards))):
        raise invalid(f"carousel card_index values must be 0 to {len(cards) - 1}, got {indexes}")
    return cards


class CarouselAction(Strict):
    cards: Annotated[list[Card], count("carousel messages", "card", "cards", 2, 10), AfterValidator(_uniform)]


class CarouselMessage(Strict):
    type: Literal["carousel"]
    body: Body
    action: CarouselAction

    @model_validator(mode="before")
    @classmethod
    def no_header_or_footer(cls, data: Any) -> Any:
        if isinstance(data, dict) and ({"header", "footer"} & data.keys()):
            raise invalid("carousel messages take no header or footer")
        return data


class CallingMessage(Strict):
    """Refused whole: the Calling API is a feature the simulated business account has not enabled."""

    type: Literal["voice_call", "call_permission_request"]

    @model_validator(mode="before")
    @classmethod
    def not_enabled(cls, data: Any) -> Any:
        kind = data.get("type") if isinstance(data, dict) else None
        raise rule_error(
            FEATURE_NOT_ENABLED,
            f"interactive {kind} messages need the Calling API, which this business account has not enabled",
        )


Interactive = union_on_type(
    [*(typed_model(kind, Strict, parts) for kind, parts in MESSAGES.items()), CarouselMessage, CallingMessage]
)
