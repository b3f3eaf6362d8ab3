"""Words out of a shopper's text: tokens for matching, and a rule-based reading for the fallback tiers.

The AI tier gets ``query``/``quantity``/``area`` from the LLM's ``search_offers`` call; when the LLM is
unavailable the ranking tier reads the raw text with :func:`parse_query` instead (first number = how
many, a known Kigali neighbourhood = where, every other meaningful word = what).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Rough centres of the Kigali neighbourhoods a buyer may name (lat, lng).
AREAS: dict[str, tuple[float, float]] = {
    "Kimironko": (-1.9490, 30.0985),
    "Remera": (-1.9560, 30.0930),
    "Nyamirambo": (-1.9740, 30.0610),
    "Kicukiro": (-1.9700, 30.0880),
    "Kacyiru": (-1.9380, 30.0800),
    "Nyarutarama": (-1.9360, 30.0950),
    "Gikondo": (-1.9720, 30.0740),
    "Kimihurura": (-1.9500, 30.0840),
    "Kanombe": (-1.9680, 30.0990),
    "Nyabugogo": (-1.9380, 30.0620),
}
_AREAS = {name.lower(): name for name in AREAS}
MAX_QUANTITY = 999
QUERY_MAX = 60

STOPWORDS = frozenset(
    """
    i me my we us you your it its this that these those a an the some any of for to from and or with
    without on by near in at around about is are am be do does have has want wants need needs please pls
    plz kindly buy order get give send bring find looking look search show sell available deliver delivery
    can could would will like im what where how much many there here today now tomorrow asap just also
    very more ok okay yes no thanks thank hi hello hey good morning afternoon evening dear sir madam
    muraho mwaramutse mwiriwe bite amakuru neza cyane uyu munsi ese mbese murakoze ndashaka nshaka
    nkeneye ndakeneye mumpe mpa nyamuneka bonjour salut je veux svp merci mu ku
    """.split()
)
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "rimwe": 1, "kabiri": 2, "gatatu": 3, "kane": 4, "gatanu": 5,
}  # fmt: skip
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class ParsedQuery:
    query: str
    quantity: int
    area: str | None


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def singular(word: str) -> str:
    """``jerrycans`` → ``jerrycan``, ``batteries`` → ``battery``; short words and ``gas`` stay."""
    if (
        len(word) <= 3
        or not word.endswith("s")
        or word in {"gas", "glass"}
        or word.endswith(("ss", "us", "is"))
    ):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("xes", "ches", "shes")):
        return word[:-2]
    return word[:-1]


def tokens(text: str) -> set[str]:
    """The words that matter for matching: singular, no stopwords, no bare numbers."""
    return {singular(w) for w in words(text) if w not in STOPWORDS and not w.isdigit() and len(w) > 1}


def known_area(name: str | None) -> str | None:
    """The canonical spelling of a Kigali area, or None when it is not one we know."""
    return _AREAS.get(name.strip().lower()) if name else None


def parse_query(text: str) -> ParsedQuery:
    """Read ``2 jerrycans of water near Kimironko`` as ``(jerrycan water, 2, Kimironko)``."""
    quantity: int | None = None
    area: str | None = None
    query: list[str] = []
    for word in words(text):
        if area is None and word in _AREAS:
            area = _AREAS[word]
            continue
        count = _quantity(word)
        if count is not None:
            quantity = quantity or count
            continue
        if word not in STOPWORDS and len(word) > 1:
            query.append(singular(word))
    shown = " ".join(dict.fromkeys(query)) or " ".join(text.split())
    return ParsedQuery(clean(shown), quantity or 1, area)


def clean(query: str) -> str:
    """A query fit to show back to the buyer: one line, no quotes, at most ``QUERY_MAX`` characters."""
    flat = " ".join(query.replace('"', "").split())
    return flat if len(flat) <= QUERY_MAX else flat[: QUERY_MAX - 1].rstrip() + "…"


def _quantity(word: str) -> int | None:
    if word.isdigit():
        value = int(word)
        return value if 1 <= value <= MAX_QUANTITY else None
    return NUMBER_WORDS.get(word)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lat, lng) points."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))
