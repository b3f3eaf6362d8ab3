"""Deterministic "understanding" of a shopper's message, for the LLM simulator.

A real model is neither repeatable nor free, so the simulator reads a message with a few fixed rules
instead: :func:`parse_search_intent` finds what is wanted (``query``), how many (``quantity``) and
where (``area``, one of a handful of Kigali neighbourhoods). The same text always gives the same intent,
which is what lets a test assert on the search the SUT ends up running.

The rules, in order:

- words are the runs of letters and digits, lowercased (punctuation and apostrophes split words);
- the first quantity word is the quantity: a number 1-999 written in digits, an English number word
  (one..twelve) or a Kinyarwanda one (rimwe, kabiri, gatatu, kane, gatanu); default 1;
- a known area right after ``near``/``in``/``at``/``around`` (or Kinyarwanda ``i``/``mu``/``ku``),
  optionally with ``the`` in between, is the area, spelt as in :data:`KIGALI_AREAS`;
- every other word that is not a stopword, filler or greeting and is longer than one letter goes into
  the query, made singular by :func:`singular`, in the order written;
- no query words left (a greeting, small talk, an empty message) means no intent: ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

KIGALI_AREAS: tuple[str, ...] = (
    "Kimironko",
    "Remera",
    "Nyamirambo",
    "Kicukiro",
    "Kacyiru",
    "Nyarutarama",
    "Gikondo",
    "Kimihurura",
    "Kanombe",
    "Nyabugogo",
)
_AREAS = {name.lower(): name for name in KIGALI_AREAS}

NUMBER_WORDS: dict[str, int] = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    # Kinyarwanda counting words (the forms used when counting, not the noun-class agreeing ones).
    "rimwe": 1,
    "kabiri": 2,
    "gatatu": 3,
    "kane": 4,
    "gatanu": 5,
}
MAX_QUANTITY = 999  # a longer run of digits is a phone number, an amount or a reference, not a count

_AREA_MARKERS = frozenset({"near", "in", "at", "around", "i", "mu", "ku"})

STOPWORDS: frozenset[str] = frozenset(
    {
        # English grammar words and the ways people ask for something.
        *"i me my we us you your it its this that these those a an the some any of for to".split(),
        *"from and or".split(),
        *"with without on by near in at around about is are am be was do does did have has had".split(),
        *"want wants wanted need needs needed please pls plz kindly buy buying order ordering get".split(),
        *"give send bring find looking look search show sell selling available deliver delivery".split(),
        *"delivered can could would will shall should may might like love d ll m s t ve re don dont".split(),
        *"im what where who which how when much many there here today now tomorrow asap quickly".split(),
        *"just also too very more really ok okay yes no thanks thank much lot lots market area".split(),
        # Greetings and small talk.
        *"hi hello hey hallo good morning afternoon evening night day how morning dear sir madam".split(),
        # Kinyarwanda greetings, small talk and "I want / I need".
        *"muraho mwaramutse mwiriwe bite amakuru neza cyane yawe yanyu uyu munsi ese mbese".split(),
        *"murakoze ndashaka nshaka nkeneye ndakeneye mumpe mpa nyamuneka".split(),
    }
)

# Words that end in "s" without being plurals (short words are left alone anyway).
_NOT_PLURAL = frozenset({"gas", "news", "series", "species", "lens", "always", "canvas", "chassis"})
# The few irregular plurals a shopping message is likely to contain.
_IRREGULAR_PLURALS = {
    "tomatoes": "tomato",
    "potatoes": "potato",
    "mangoes": "mango",
    "shoes": "shoe",
    "cookies": "cookie",
    "movies": "movie",
    "clothes": "clothes",
}

_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class SearchIntent:
    """What a shopper asked for: the words to search, how many, and the Kigali area if they named one."""

    query: str
    quantity: int = 1
    area: str | None = None

    def arguments(self) -> dict[str, Any]:
        """The ``search_offers`` tool arguments, in the order the tool declares them."""
        return {"query": self.query, "quantity": self.quantity, "area": self.area}


def singular(word: str) -> str:
    """A simple English singular: ``jerrycans`` → ``jerrycan``, ``batteries`` → ``battery``, ``gas`` stays."""
    if len(word) <= 3 or not word.endswith("s") or word in _NOT_PLURAL:
        return word
    if word in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[word]
    # glass, bus, tennis: an "s" that belongs to the word itself.
    if word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    return word[:-1]


def _quantity(word: str) -> int | None:
    if word.isdigit():
        value = int(word)
        return value if 1 <= value <= MAX_QUANTITY else None
    return NUMBER_WORDS.get(word)


def parse_search_intent(text: str) -> SearchIntent | None:
    """The search in ``text``, or ``None`` when it asks for nothing (rules: see the module docstring)."""
    if not isinstance(text, str):
        return None
    words = _WORD.findall(text.lower())
    quantity: int | None = None
    area: str | None = None
    query: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in _AREA_MARKERS and area is None:
            # "near Kimironko", "in the Remera": the area may follow "the".
            j = i + 1
            if j < len(words) and words[j] == "the":
                j += 1
            if j < len(words) and words[j] in _AREAS:
                area = _AREAS[words[j]]
                i = j + 1
                continue
        if quantity is None:
            count = _quantity(word)
            if count is not None:
                quantity = count
                i += 1
                continue
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            query.append(singular(word))
        i += 1
    if not query:
        return None
    return SearchIntent(query=" ".join(query), quantity=quantity or 1, area=area)
