"""Who a message is from, and how to reach them: users identified by BSUID first, by phone when shown.

Since April 2026 every messages webhook names its sender by a business-scoped user id (BSUID:
``messages[].from_user_id``, ``contacts[].user_id``); the phone (``from``, ``wa_id``) comes only while
Meta shows it, and a user who adopted a username may write with no phone at all (Meta, "Business-scoped
user IDs": https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/;
YCloud's guide to the same fields:
https://docs.ycloud.com/en/api-reference/guides/whatsapp-platform/use-business-scoped-user-ids.md).

One user is one ``identities`` row, found by BSUID first, then by phone, and filed under a user key that
never changes (:mod:`reference.store`): the phone of a user first known by phone (seeded stations,
drivers, vendors, and everyone before 2026), else the first BSUID. A message from a known phone with a
new BSUID links the two (``identity_linked``), so seeded staff keep their role when they first write with
a BSUID. A ``user_changed_user_id`` system message (Meta's "System messages webhook reference":
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages/system/)
moves the user to the new BSUID (``user_id_changed``); their orders, wallet and conversation stay theirs.

Replies and notices go ``to`` the phone when it is known, else by ``recipient`` (the current BSUID);
never both (:meth:`Identities.address`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .store import BSUID, Store

__all__ = ["BSUID", "Identities", "Link", "Person"]


@dataclass(frozen=True)
class Person:
    user_key: str
    user_id: str | None  # the current BSUID
    phone: str | None  # digits, when Meta showed it
    username: str | None
    momo_number: str | None  # the MoMo number a username-only user gave to pay


@dataclass(frozen=True)
class Link:
    """What a message taught us about a user: an ``identity_linked`` event to record."""

    user_key: str
    data: dict[str, Any]


class Identities:
    def __init__(self, store: Store) -> None:
        self._store = store

    def person(self, who: str) -> Person | None:
        """The user named by key, phone or BSUID (current or former), or None."""
        key = self._store.user_key(who)
        if key is None:
            return None
        row = self._store.fetchone("SELECT * FROM identities WHERE user_key = ?", (key,))
        if row is None:
            return None
        return Person(row["user_key"], row["user_id"], row["phone"], row["username"], row["momo_number"])

    def key_for(self, who: str) -> str:
        """The user key of whoever ``who`` (key, phone or BSUID) names; ``who`` itself for a stranger."""
        return self._store.user_key(who) or who

    def resolve(
        self, user_id: str | None, phone: str | None, username: str | None = None
    ) -> tuple[str, Link | None]:
        """The user key of a message's sender (BSUID first, then phone); creates or links their record."""
        with self._store.transaction():
            by_id = self._store.user_key(user_id) if user_id else None
            by_phone = self._phone_owner(phone) if phone else None
            if by_id is not None:
                key, link = by_id, None
                person = self.person(key)
                if phone and person is not None and person.phone != phone and by_phone in (None, key):
                    self._set(key, phone=phone)
                    link = Link(key, {"user_id": user_id, "wa_id": phone, "linked": "phone"})
            elif by_phone is not None:
                key = by_phone
                person = self.person(key)
                previous = person.user_id if person else None
                link = None
                if user_id:
                    self._set(key, user_id=user_id)
                    self._alias(user_id, key)
                    link = Link(key, {"user_id": user_id, "wa_id": phone, "linked": "user_id"})
                    if previous:
                        link.data["previous_user_id"] = previous
            else:
                key = phone or user_id or ""
                self._store.execute(
                    "INSERT OR IGNORE INTO identities (user_key, user_id, phone, username, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (key, user_id, phone, username, time.time()),
                )
                if user_id:
                    self._alias(user_id, key)
                link = (
                    Link(key, {"user_id": user_id, "wa_id": phone, "linked": "new"})
                    if phone and user_id
                    else None
                )
            if username:
                self._store.execute(
                    "UPDATE identities SET username = ? WHERE user_key = ? AND username IS NOT ?",
                    (username, key, username),
                )
        return key, link

    def change(
        self, old_user_id: str, new_user_id: str, phone: str | None
    ) -> tuple[str | None, dict[str, Any]]:
        """A ``user_changed_user_id``: move the user to ``new_user_id``; their key (and all they own) stays.

        Returns the user key (None when neither the old id nor the phone is known) and the event data.
        """
        data: dict[str, Any] = {"previous_user_id": old_user_id, "user_id": new_user_id}
        with self._store.transaction():
            key = self._store.user_key(old_user_id) or (self._phone_owner(phone) if phone else None)
            if key is None:
                data["known"] = False
                return None, data
            taken = self._store.user_key(new_user_id)
            if taken is not None and taken != key:  # Meta gave that id to someone we already know
                data["conflict"] = taken
                return key, data
            self._set(key, user_id=new_user_id)
            self._alias(new_user_id, key)
            if phone and self._phone_owner(phone) in (None, key):
                self._set(key, phone=phone)
        return key, data

    def address(self, who: str) -> tuple[str, str]:
        """How a message reaches ``who``: ``("to", phone)`` when the phone is known, else
        ``("recipient", bsuid)``."""
        person = self.person(who)
        if person is None:
            return ("recipient", who) if BSUID.fullmatch(who) else ("to", who)
        if person.phone:
            return "to", person.phone
        return "recipient", person.user_id or who

    def phone_known(self, who: str) -> bool:
        return self.address(who)[0] == "to"

    def momo_number(self, who: str) -> str | None:
        """The number that pays by MoMo for ``who``: their phone, else the one they gave, else None."""
        person = self.person(who)
        if person is None:
            return None if BSUID.fullmatch(who) else who
        return person.phone or person.momo_number

    def remember_momo_number(self, who: str, number: str) -> None:
        self._set(self.key_for(who), momo_number=number)

    def _phone_owner(self, phone: str) -> str | None:
        row = self._store.fetchone("SELECT user_key FROM identities WHERE phone = ?", (phone,))
        return None if row is None else str(row[0])

    def _alias(self, user_id: str, key: str) -> None:
        self._store.execute(
            "INSERT OR IGNORE INTO user_ids (user_id, user_key, since) VALUES (?, ?, ?)",
            (user_id, key, time.time()),
        )

    def _set(self, key: str, **values: str) -> None:
        columns = ", ".join(f"{column} = ?" for column in values)
        self._store.execute(
            f"UPDATE identities SET {columns}, updated_at = ? WHERE user_key = ?",  # noqa: S608 - fixed names
            (*values.values(), time.time(), key),
        )
