"""What one line typed in a chat means: text to send, a tap, a location, an image, another actor, or quit.

Pure: :func:`parse` knows nothing of the bot; the session applies the result. A line that cannot be
understood becomes a :class:`Problem` with one sentence saying what to type instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from easymo_qa.chat.model import ROLES

HELP = (
    "type text to send it · a number or an id taps a button / chooses a row of the last menu · "
    "/location lat,long · /image [caption] · /as buyer|station|vendor|driver [phone] · "
    "/text 1234 (send a number as text) · Enter alone shows new messages · /quit"
)
_NUMBER = re.compile(r"^\d{1,2}$")  # 1-10 on screen; longer numbers (a delivery code) are text
_PHONE = re.compile(r"^\+?\d{8,15}$")
_COORDINATES = re.compile(r"^(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)(?:\s+(.+))?$")


@dataclass(frozen=True)
class SendText:
    text: str


@dataclass(frozen=True)
class Pick:
    """A number (1 = the first button or row) or an id the engineer typed."""

    number: int | None = None
    tap_id: str | None = None
    typed: str = ""


@dataclass(frozen=True)
class ShareLocation:
    latitude: float
    longitude: float
    name: str | None = None


@dataclass(frozen=True)
class SendImage:
    caption: str | None = None


@dataclass(frozen=True)
class SwitchActor:
    role: str
    phone: str | None = None


@dataclass(frozen=True)
class Refresh:
    """Enter alone: show what arrived meanwhile."""


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class Problem:
    """A line that cannot be used, and what to type instead (one line)."""

    message: str


Command = SendText | Pick | ShareLocation | SendImage | SwitchActor | Refresh | Help | Quit | Problem


def parse(line: str, tap_ids: tuple[str, ...] = ()) -> Command:
    """What ``line`` asks for; ``tap_ids`` are the ids of the last menu, so typing one taps it."""
    text = line.strip()
    if not text:
        return Refresh()
    if text.startswith("/"):
        return _command(text)
    if _NUMBER.match(text):
        return Pick(number=int(text), typed=text)
    if text in tap_ids:
        return Pick(tap_id=text, typed=text)
    return SendText(text)


def _command(text: str) -> Command:
    name, _, rest = text.partition(" ")
    rest = rest.strip()
    if name in ("/quit", "/exit", "/q"):
        return Quit()
    if name in ("/help", "/?"):
        return Help()
    if name == "/text":
        return SendText(rest) if rest else Problem("/text needs the text to send, e.g. /text 1234")
    if name == "/location":
        match = _COORDINATES.match(rest)
        if not match:
            return Problem(
                f"/location takes latitude,longitude (e.g. /location -1.9441,30.1032), got {rest!r}"
            )
        latitude, longitude = float(match.group(1)), float(match.group(2))
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            return Problem(f"/location: {latitude},{longitude} is off the map (latitude ±90, longitude ±180)")
        return ShareLocation(latitude, longitude, match.group(3))
    if name == "/image":
        return SendImage(rest or None)
    if name == "/as":
        role, _, phone = rest.partition(" ")
        phone = phone.strip()
        if role not in ROLES:
            return Problem(f"/as takes {', '.join(ROLES[:-1])} or {ROLES[-1]} (got {role or 'nothing'!r})")
        if phone and not _PHONE.match(phone):
            return Problem(f"/as {role}: {phone!r} is not a phone number (8 to 15 digits)")
        return SwitchActor(role, phone.lstrip("+") or None)
    return Problem(f"unknown command {name}; /help lists them")
