"""Who a simulated WhatsApp user is to the business: a BSUID always, a phone and a username sometimes.

Since April 2026 Meta names every user by a business-scoped user id (BSUID) in every messages webhook. A
user who adopts a username may reach a business with no phone number at all: the webhook then has no
``wa_id`` and no ``from``, only ``user_id`` / ``from_user_id`` and ``profile.username``
(https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/,
mirrored by 360dialog's "Usernames & BSUID" page; see ../shared/reference/cloud-api-2026.md).

Three kinds of user, as a journey actor or a load user declares them:

- ``phone``: the phone is visible, no username (every user before 2026);
- ``phone_and_username``: the phone is visible and the user has a username;
- ``username_only``: only the BSUID and the username; the phone is withheld.

Every simulated user still has a phone number inside the harness: it is the key the Graph API simulator
files replies under, and the BSUID is made from it reversibly (:func:`~easymo_qa.whatsapp.ids.bsuid_for`),
so a reply addressed to the BSUID reaches the same user, as on WhatsApp.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal, get_args

from easymo_qa.whatsapp import ids

UserKind = Literal["phone", "phone_and_username", "username_only"]
USER_KINDS: tuple[str, ...] = get_args(UserKind)


def username_for(phone: str) -> str:
    """A stable username for the simulated user with this phone: letters, digits and one period, as
    WhatsApp usernames are spelt; it shows no digit of the phone."""
    return "qa.user" + hashlib.sha256(phone.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Identity:
    """One simulated user's identifiers, and what of them Meta shows the business."""

    phone: str  # digits; withheld from the SUT when ``kind`` is username_only
    kind: UserKind = "phone"
    generation: int = 0  # bumped when Meta re-issues the BSUID (user_changed_user_id)

    def __post_init__(self) -> None:
        if self.kind not in USER_KINDS:
            raise ValueError(f"a user is one of {', '.join(USER_KINDS)}, got {self.kind!r}")

    @property
    def bsuid(self) -> str:
        return ids.bsuid_for(self.phone, generation=self.generation)

    @property
    def phone_visible(self) -> bool:
        return self.kind != "username_only"

    @property
    def username(self) -> str | None:
        return None if self.kind == "phone" else username_for(self.phone)

    @property
    def address(self) -> str:
        """How the business can reach this user: the phone when it sees one, else the BSUID."""
        return self.phone if self.phone_visible else self.bsuid

    def new_wamid(self) -> str:
        """A wamid for a message this user sends. A username-only user's chat is keyed by the BSUID
        (Meta does not document that shape; the harness never puts the withheld phone in an id)."""
        return ids.new_wamid(self.phone if self.phone_visible else self.bsuid)

    def contact(self, name: str, *, with_username: bool = True) -> dict[str, Any]:
        """The ``contacts[]`` entry Meta sends with this user's messages (and delivered / read statuses)."""
        profile: dict[str, Any] = {"name": name}
        if with_username and self.username:
            profile["username"] = self.username
        entry: dict[str, Any] = {"profile": profile}
        if self.phone_visible:
            entry["wa_id"] = self.phone
        entry["user_id"] = self.bsuid
        return entry

    def renumbered(self) -> Identity:
        """The same person after Meta issued a new BSUID."""
        return Identity(self.phone, self.kind, self.generation + 1)
