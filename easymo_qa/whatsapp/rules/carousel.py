"""Carousels (media cards or product cards), the calling types, and the union of every ``interactive.type``.

Media carousel (messages/interactive-media-carousel-messages, updated 2026-05-21): 2 to 10 cards, a main
body (1024) and no header or footer; each card an image or video header given by ``link`` ("Publicly
available media asset URL", required), an optional body of at most 160 characters "and up to 2 line
breaks", and either one URL button or quick-reply buttons (id 256, title 20), the same kind and number on
every card. Product carousel (catalogs/interactive-product-carousel-messages, 2026-06-18): 2 to 10 cards of
type "product" from one catalog, each "card_index" 0 to 9 and "Must not repeat"; "Do not add a header,
footer, or buttons".

Calling (calling/call-button-messages-deep-links and calling/user-call-permissions, 2026-06-26;
calling/troubleshooting, 2026-06-24): ``voice_call`` (display_text 20, ttl_minutes 1 to 43200, payload
512) and ``call_permission_request`` are checked for their shape, then refused whole with 138000 "Calling
not enabled" (HTTP 401): the simulated business number has calling off, as every number has by default
("Calling is not enabled by default on a business phone number", calling/call-settings, 2026-06-26).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from easymo_qa.whatsapp.rules.base import (
    FEATURE_NOT_ENABLED,
    Strict,
    count,
    invalid,
    required,
    rule_error,
    text,
    typed_model,
    union_on_type,
)
from easymo_qa.whatsapp.rules.content import MediaLink
from easymo_qa.whatsapp.rules.interactive import (
    MESSAGES,
    Body,
    CatalogId,
    ProductRetailerId,
    Reply,
    UrlParameters,
)

CARD_LINE_BREAKS = 2


def _card_body(value: str) -> str:
    if len(value) > 160:
        raise invalid(f"card body text must be at most 160 characters, got {len(value)}")
    breaks = value.count("\n")
    if breaks > CARD_LINE_BREAKS:
        raise invalid(f"card body text allows up to {CARD_LINE_BREAKS} line breaks, got {breaks}")
    return value


CardBodyText = Annotated[text("card body text"), AfterValidator(_card_body)]


class QuickReplyButton(Strict):
    type: Literal["quick_reply"]
    quick_reply: Reply  # same id and title limits as reply buttons


QuickReplies = Annotated[list[QuickReplyButton], count("carousel cards", "button", "buttons", 1, None)]


class CardBody(Strict):
    text: CardBodyText


class CardMedia(Strict):
    """A card's image or video: by public URL, the only way the page shows (an uploaded ``id`` is not
    documented for interactive carousels)."""

    link: MediaLink


class CardHeader(Strict):
    type: Literal["image", "video"]
    image: CardMedia | None = None
    video: CardMedia | None = None

    @model_validator(mode="after")
    def content_of_its_type(self) -> CardHeader:
        if getattr(self, self.type) is None:
            raise required(f"a {self.type} card header needs its {self.type} field")
        return self


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
            if action.buttons is not None or action.parameters is not None:
                raise invalid("product cards take no buttons")
            return self
        if self.header is None:
            raise invalid("media cards need an image or video header")
        if (action.parameters is None) == (action.buttons is None):
            raise invalid("media cards need either one URL button or quick-reply buttons, not both")
        return self


def _uniform(cards: list[Card]) -> list[Card]:
    """Every card alike: same type, same buttons (URL or as many quick replies), same catalog; and no
    card_index twice."""
    shapes = {(c.type, len(c.action.buttons or ()), c.action.catalog_id) for c in cards}
    if len(shapes) > 1:
        raise invalid("carousel cards must all have the same type, buttons and catalog")
    indexes = [c.card_index for c in cards]
    repeated = sorted({i for i in indexes if indexes.count(i) > 1})
    if repeated:
        raise invalid(f"carousel card_index values must not repeat, got {indexes}")
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


# --- calling ------------------------------------------------------------------------------------------


class VoiceCallParameters(Strict):
    display_text: text("voice_call display_text", 20) | None = None  # default "Call Now"
    ttl_minutes: Annotated[int, Field(ge=1, le=43200)] | None = None  # default 10080 (7 days)
    payload: text("voice_call payload", 512, nonempty=False) | None = None


class VoiceCallAction(Strict):
    name: Literal["voice_call"]
    parameters: VoiceCallParameters | None = None


class CallPermissionAction(Strict):
    name: Literal["call_permission_request"]


class _CallingMessage(Strict):
    """Checked like any message, then refused: calling is off on the simulated business number."""

    body: Body | None = None

    @model_validator(mode="after")
    def calling_not_enabled(self) -> _CallingMessage:
        kind = getattr(self, "type", "calling")
        raise rule_error(
            FEATURE_NOT_ENABLED,
            f"interactive {kind} messages need calling: calling APIs are not enabled for this phone number",
        )


class VoiceCallMessage(_CallingMessage):
    type: Literal["voice_call"]
    action: VoiceCallAction


class CallPermissionRequestMessage(_CallingMessage):
    type: Literal["call_permission_request"]
    action: CallPermissionAction


Interactive = union_on_type(
    [
        *(typed_model(kind, Strict, parts) for kind, parts in MESSAGES.items()),
        CarouselMessage,
        VoiceCallMessage,
        CallPermissionRequestMessage,
    ]
)
