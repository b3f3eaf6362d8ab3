"""Message ids (wamids) and business-scoped user ids (BSUIDs) in the shapes Meta's Cloud API gives them.

A wamid is ``wamid.`` + base64 of a small Thrift-compact struct. Decoded public examples (Meta's own
send-message sample in prismatic.io's mirror, https://prismatic.io/docs/example-payloads/whatsapp/actions/
sendMessage.json: ``wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA``; and webhook fixtures
in public Cloud API projects, e.g. ``wamid.HBgMNTUzMTcxNzIzOTg5FQIAEhggOURERTIzMjlCMkM4MjcxMEVBODEw
NTdCOTU1MDVEQ0IA`` for a message a user sent) all read::

    1c                      field 1, a struct: the chat
      18 <len> <digits>       field 1, binary: the user's phone number, digits only
      15 02                   field 2, i32 = 1
      00                      end of the chat
    11 | 12                 field 2, bool: true = the business sent it, false = the user did
    18 <len> <key>          field 3, binary: the message key, upper-case hex (18 characters for what
                            the business sends; 20 or 32 for what a user's app sends)
    00                      end

So every id of one chat shares its first 30-odd characters and only the key near the end tells two
messages apart: a system that dedupes on a prefix of the id drops a user's second message. The ids
built here have that shape, so such a system fails its tests as it would fail in production.

A BSUID is a two-letter ISO 3166 country code, a dot and up to 128 alphanumeric characters
(``US.13491208655302741918``); a parent BSUID has ``ENT`` in between (``US.ENT.11815799212886844830``).
https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/ and
https://docs.360dialog.com/docs/resources/phone-numbers/usernames-and-bsuid
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import secrets
from dataclasses import dataclass

WAMID_PREFIX = "wamid."
BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")

_CHAT, _BINARY, _I32_ONE, _STOP = b"\x1c", b"\x18", b"\x15\x02", b"\x00"
_FROM_BUSINESS, _FROM_USER = b"\x11", b"\x12"
_OUTBOUND_KEY_HEX = 18
# Keys WhatsApp apps make: 32 hex characters, or 20 starting with 3A / 3EB0 (iPhone, WhatsApp Web).
_INBOUND_KEY_SHAPES = (("", 32), ("3A", 20), ("3EB0", 20))


@dataclass(frozen=True)
class WamidParts:
    """What a wamid says: whose chat, who sent the message, and the message's own key."""

    phone: str  # the user's phone digits, or the BSUID of a username-only user's chat
    outbound: bool
    key: str


def _hex(length: int) -> str:
    return os.urandom((length + 1) // 2).hex().upper()[:length]


def _binary(value: bytes) -> bytes:
    if len(value) > 127:  # one varint byte, as every real id has
        raise ValueError("wamid parts are at most 127 bytes")
    return _BINARY + bytes([len(value)]) + value


def _phone_digits(phone: str) -> str:
    if BSUID.fullmatch(phone):  # a username-only user's chat (see easymo_qa.whatsapp.identity)
        return phone
    digits = "".join(ch for ch in phone if ch.isdigit())
    # No phone (an id nobody will look up): any number keeps the shape.
    return digits or _digits(12)


def new_wamid(phone: str = "", *, outbound: bool = False) -> str:
    """A fresh id for a message in the chat with ``phone``: sent by the business when ``outbound``."""
    if outbound:
        key = _hex(_OUTBOUND_KEY_HEX)
    else:
        lead, length = _INBOUND_KEY_SHAPES[secrets.randbelow(len(_INBOUND_KEY_SHAPES))]
        key = lead + _hex(length - len(lead))
    raw = (
        _CHAT
        + _binary(_phone_digits(phone).encode("ascii"))
        + _I32_ONE
        + _STOP
        + (_FROM_BUSINESS if outbound else _FROM_USER)
        + _binary(key.encode("ascii"))
        + _STOP
    )
    return WAMID_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_wamid(wamid: str) -> WamidParts:
    """The parts of a wamid in Meta's shape; ``ValueError`` for anything else."""
    if not wamid.startswith(WAMID_PREFIX):
        raise ValueError(f"not a wamid: {wamid!r}")
    try:
        raw = base64.b64decode(wamid[len(WAMID_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"not base64 after {WAMID_PREFIX!r}: {wamid!r}") from None
    pos = 0

    def take(expected: bytes) -> None:
        nonlocal pos
        if raw[pos : pos + len(expected)] != expected:
            raise ValueError(f"unexpected bytes at {pos} in {wamid!r}")
        pos += len(expected)

    def binary() -> str:
        nonlocal pos
        take(_BINARY)
        length = raw[pos] if pos < len(raw) else 0
        value = raw[pos + 1 : pos + 1 + length]
        if len(value) != length:
            raise ValueError(f"truncated wamid {wamid!r}")
        pos += 1 + length
        return value.decode("ascii")

    take(_CHAT)
    phone = binary()
    take(_I32_ONE + _STOP)
    direction = raw[pos : pos + 1]
    if direction not in (_FROM_BUSINESS, _FROM_USER):
        raise ValueError(f"no direction flag in {wamid!r}")
    pos += 1
    key = binary()
    take(_STOP)
    if pos != len(raw):
        raise ValueError(f"trailing bytes in {wamid!r}")
    return WamidParts(phone=phone, outbound=direction == _FROM_BUSINESS, key=key)


def _digits(length: int) -> str:
    """``length`` random digits, the first not 0; from the OS, so forked load workers never repeat."""
    low = 10 ** (length - 1)
    return str(low + secrets.randbelow(9 * low))


def _country(country: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ValueError(f"country must be a two-letter ISO 3166 code, got {country!r}")
    return country


def new_bsuid(country: str = "RW") -> str:
    """A business-scoped user id: ``RW.`` and 16 to 20 digits, as in Meta's examples."""
    return f"{_country(country)}.{_digits(16 + secrets.randbelow(5))}"


# BSUIDs of simulated users scramble (generation, phone) with a keyed bijection on 20-digit numbers:
# opaque to the SUT (no digits of the phone show, neighbours share no digits), yet the simulator can turn
# one back into the user it plays, as Meta can. Phones have at most 15 digits (E.164); the generation sits
# above them.
_BSUID_MOD = 10**20
_BSUID_MUL = 7_319_208_443_176_519_021  # odd and not a multiple of 5: invertible modulo 10**20
_BSUID_ADD = 48_275_193_660_014_837_251
_PHONE_SPAN = 10**15
_MAX_GENERATION = 100
_BSUID_DIGITS = re.compile(r"[A-Z]{2}\.(\d{20})")


def _mix(value: int) -> int:
    return (value * _BSUID_MUL + _BSUID_ADD) % _BSUID_MOD


def _unmix(value: int) -> int:
    return ((value - _BSUID_ADD) * pow(_BSUID_MUL, -1, _BSUID_MOD)) % _BSUID_MOD


def _reverse(value: int) -> int:
    return int(f"{value:020d}"[::-1])


@functools.lru_cache(maxsize=4096)  # pure, and asked for 4 times per load journey (15 % of its CPU)
def bsuid_for(phone: str, country: str = "RW", *, generation: int = 0) -> str:
    """The stable BSUID of the simulated user with this phone number: the same user always has the same
    one, as on WhatsApp. ``generation`` counts the times Meta re-issued it (a ``user_changed_user_id``
    system message); each generation is a different id for the same person."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not digits or len(digits) > 15 or digits[0] == "0":
        raise ValueError(f"a BSUID is made from a phone number in E.164 digits, got {phone!r}")
    if not 0 <= generation < _MAX_GENERATION:
        raise ValueError(f"generation must be between 0 and {_MAX_GENERATION - 1}, got {generation}")
    plain = generation * _PHONE_SPAN + int(digits)
    return f"{_country(country)}.{_mix(_reverse(_mix(plain))):020d}"


def user_for_bsuid(bsuid: str) -> tuple[str, int] | None:
    """The phone digits and generation behind a BSUID :func:`bsuid_for` made; ``None`` for any other id."""
    match = _BSUID_DIGITS.fullmatch(bsuid) if isinstance(bsuid, str) else None
    if match is None:
        return None
    generation, phone = divmod(_unmix(_reverse(_unmix(int(match.group(1))))), _PHONE_SPAN)
    if phone < 10**7 or generation >= _MAX_GENERATION:  # not a number we would make: someone else's id
        return None
    return str(phone), generation


def new_parent_bsuid(country: str = "RW") -> str:
    """A parent BSUID (linked business portfolios): ``RW.ENT.`` and 20 digits."""
    return f"{_country(country)}.ENT.{_digits(20)}"
