"""A message the bot sent, with everything that changes from run to run turned into a placeholder.

Two runs of the same journey send the same sentences with other order ids, amounts, phone numbers, run
ids and times; the inventory must see one message, not two. First the run's own values (the simulated
users' phones, names, usernames and the journey's run id, given by the caller) are replaced, then every
value of a known shape: ``ORD-7F3K2Q`` → ``{order_id}``, ``12,500 RWF`` → ``{amount}``, ``14:05`` →
``{time}``, a 4-to-8-digit number → ``{code}``, ...
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import regex

# Order matters: ids before numbers, amounts before codes, dates before times.
_AMOUNT_NUMBER = r"\d{1,3}(?:[,. \u00a0]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_CURRENCY = r"(?:RWF|Rwf|FRW|Frw|RF)"
_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), placeholder)
    for pattern, placeholder in (
        (r"\bhttps?://[^\s<>\"')]+", "{url}"),
        (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "{id}"),
        (r"\bwamid\.[A-Za-z0-9+/=_-]+", "{id}"),
        (r"\b[A-Z]{2}\.(?:ENT\.)?\d{10,}\b", "{bsuid}"),
        (r"\bORD-[A-Z0-9]{4,}\b", "{order_id}"),
        (r"\b[A-Z]{1,4}-[A-Z0-9]{4,}\b", "{id}"),
        (rf"{_CURRENCY}\s?(?:{_AMOUNT_NUMBER})(?!\d)", "{amount}"),
        (rf"(?<![\d.,])(?:{_AMOUNT_NUMBER})\s?{_CURRENCY}\b", "{amount}"),
        (r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?", "{date}"),
        (r"\b\d{1,2}/\d{1,2}/\d{2,4}\b", "{date}"),
        (rf"\b\d{{1,2}} {_MONTHS}(?: \d{{4}})?(?!\w)", "{date}"),
        (rf"\b{_MONTHS} \d{{1,2}}(?:, \d{{4}})?\b", "{date}"),
        (r"\b\d{1,2}:\d{2}(?::\d{2})?(?:\s?[AaPp][Mm])?\b", "{time}"),
        # Where the driver, the buyer and the shop are: distances and travel times follow the map.
        (r"\b\d+(?:\.\d+)?\s?(?:km|m)\b", "{distance}"),
        (r"\b\d+\s?(?:min|mins|minutes)\b", "{duration}"),
        (r"(?<![\w*#])\+?\d{10,15}(?![\w*#])", "{phone}"),
        (r"(?<![\w*#])(?:\+?250 ?|0)7\d{2} ?\d{3} ?\d{3}(?![\w*#])", "{phone}"),  # 0788 123 456
        (r"(?<![\w*#.,])\d{4,8}(?![\w*#]|[.,]\d)", "{code}"),
        # Today's figures differ from run to run: a count a line ends on ("• Orders: 12"), "3 of 12", "25%".
        (r"\b\d+ of \d+\b", "{count} of {count}"),
        (r"(?<![\w.])\d+(?:\.\d+)?%", "{percent}"),
        (r"(?<=: )\d+(?=[ \t]*(?:\n|$))", "{count}"),
    )
)
# Tap ids: ``pay_momo:ORD-7F3K2Q``, ``offer:itm-42``: the part after the first colon is data, never wording.
_ID_DATA = re.compile(r"^([^:]+):(.+)$")
_EMOJI = regex.compile(r"\X")
_PICTOGRAPH = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}]")


@dataclass(frozen=True)
class RunValues:
    """What one test's run made up: replaced first, longest first, so a phone inside an id goes whole."""

    phones: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    usernames: frozenset[str] = frozenset()
    bsuids: frozenset[str] = frozenset()
    run_ids: frozenset[str] = frozenset()
    _pairs: tuple[tuple[str, str], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pairs = [(v, "{phone}") for v in self.phones]
        pairs += [(f"+{v}", "{phone}") for v in self.phones]
        pairs += [(v, "{name}") for v in self.names]
        pairs += [(f"@{v}", "{username}") for v in self.usernames]
        pairs += [(v, "{username}") for v in self.usernames]
        pairs += [(v, "{bsuid}") for v in self.bsuids] + [(v, "{run_id}") for v in self.run_ids]
        pairs = [(v, p) for v, p in pairs if len(v) >= 3]
        # "+" first, then longest: "+2507…" must not leave its "+" behind.
        object.__setattr__(self, "_pairs", tuple(sorted(pairs, key=lambda vp: (-len(vp[0]), vp[0]))))

    def replace(self, text: str) -> str:
        for value, placeholder in self._pairs:
            if value in text:
                text = _replace_word(text, value, placeholder)
        return text


def _replace_word(text: str, value: str, placeholder: str) -> str:
    # Word edges only for word-like values: "ann" must not eat "announcement".
    left = r"(?<!\w)" if value[0].isalnum() else ""
    right = r"(?!\w)" if value[-1].isalnum() else ""
    return re.sub(left + re.escape(value) + right, placeholder, text)


def normalise_text(text: str, values: RunValues | None = None) -> str:
    """The wording of a message without what changes between runs."""
    if values is not None:
        text = values.replace(text)
    for pattern, placeholder in _PATTERNS:
        text = pattern.sub(placeholder, text)
    # A list of records ("• {order_id}: paid, {amount}" per order) is as long as the run made it: one line.
    lines = text.splitlines()
    text = "\n".join(line for i, line in enumerate(lines) if i == 0 or line != lines[i - 1])
    return text.strip()


def normalise_id(tap_id: str, values: RunValues | None = None) -> str:
    """A button or row id: its data part (after the first colon) becomes a placeholder."""
    tap_id = values.replace(tap_id) if values is not None else tap_id
    match = _ID_DATA.match(tap_id)
    if match is None:
        return normalise_text(tap_id)
    data = normalise_text(match.group(2))
    return f"{match.group(1)}:{'{order_id}' if data == '{order_id}' else '{id}'}"


def emojis(text: str) -> list[str]:
    """Each distinct emoji of a text, in order of appearance (grapheme clusters: ZWJ sequences stay whole)."""
    found = [cluster.replace("\ufe0f", "") for cluster in _EMOJI.findall(text) if _PICTOGRAPH.search(cluster)]
    return list(dict.fromkeys(found))


def message_key(
    kind: str, text: str, buttons: Sequence[Mapping[str, str]] = (), rows: Sequence[Mapping[str, str]] = ()
) -> str:
    """A short, stable key of a normalised message: its kind and a hash of its text, buttons and rows
    (ids, titles, descriptions), so a changed word anywhere makes another key (``buttons-3f9a0c1d2e``)."""
    parts = json.dumps([kind, text, [dict(b) for b in buttons], [dict(r) for r in rows]], sort_keys=True)
    return f"{kind}-{hashlib.sha256(parts.encode('utf-8')).hexdigest()[:10]}"


def run_specific_words(sent: Iterable[str], literal: str) -> set[str]:
    """Words the users sent that their test's source does not contain, in a run id's shape (six lower-case
    letters, ``conversation/runner.py``): the run's own values.

    A journey writes ``2 jerrycans of water ${run_id}``; the user sends ``... water kqzmwb``, and the bot may
    echo it back.
    """
    source = {w.lower() for w in re.findall(r"[^\W\d_]+", literal)}
    words = {w for text in sent for w in re.findall(r"(?<![\w-])[a-z]{6}(?![\w-])", text)}
    return words - source
