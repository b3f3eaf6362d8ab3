"""Rules of easyMO's message conventions (the audit): which emoji leads a message, and a way back home."""

from __future__ import annotations

import re
from collections.abc import Iterator

from easymo_qa.hygiene.message_parts import body_text, leading_emojis
from easymo_qa.hygiene.registry import Registry
from easymo_qa.whatsapp.outbound import OutboundMessage

CONVENTIONS = Registry()

# easyMO's domain ("subject") emojis: what the message is about (the audit: one leads each message).
SUBJECT_EMOJIS = frozenset(
    "🛒 🏪 ⛽ 🛵 🆘 💳 📦 🚖 💊 🏠 🔧 🛍 🤖 🧾 📲 💬 📊 🎫 🚗 📋 📨 🍽 🏍 🚚 💰 👛".split()
)
APOLOGY_EMOJI = "😔"
OTHER_SAD_FACES = frozenset("😢 😞 🙁 ☹ 😟 😕 😥 😓 😭 🥺 😿 😩 😫 😖 😣".split())
SUCCESS_EMOJI = "✅"
OTHER_CHECKS = frozenset("✔ ☑ 🆗 👌 🟢".split())
WARNING_EMOJI = "⚠"


@CONVENTIONS.rule("one_subject_emoji", "at most one subject emoji (🛒 🏪 ⛽ 🛵 🆘 💳 📦 …) leads the message")
def _one_subject_emoji(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    leading = leading_emojis(body_text(message))
    subjects = [e for e in leading if e in SUBJECT_EMOJIS]
    if len(subjects) > 1:
        yield "body", f"{len(subjects)} subject emojis lead the message: {' '.join(subjects)}"


_APOLOGY_WORDS = re.compile(r"\bsorry\b|\bapologi[sz]e", re.IGNORECASE)


@CONVENTIONS.rule(
    "apology_emoji", "an apology starts with 😔 (not 😢 / 🙁 / none); service warnings may use ⚠️"
)
def _apology_emoji(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    body = body_text(message)
    leading = leading_emojis(body)
    sad = [e for e in leading if e in OTHER_SAD_FACES]
    if sad:
        yield "body", f"apology emoji {sad[0]} instead of {APOLOGY_EMOJI}"
    elif _APOLOGY_WORDS.search(body) and not {APOLOGY_EMOJI, WARNING_EMOJI} & set(leading):
        yield "body", f"an apology that does not start with {APOLOGY_EMOJI}"


_SUCCESS_WORDS = re.compile(r"\bsuccess(?:ful(?:ly)?)?\b", re.IGNORECASE)


@CONVENTIONS.rule("success_emoji", "a success message starts with ✅ (not ✔️ / ☑️ / 👌)")
def _success_emoji(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    body = body_text(message)
    leading = leading_emojis(body)
    checks = [e for e in leading if e in OTHER_CHECKS]
    if checks:
        yield "body", f"success emoji {checks[0]} instead of {SUCCESS_EMOJI}"
    elif _SUCCESS_WORDS.search(body) and SUCCESS_EMOJI not in leading:
        yield "body", f"a success message that does not start with {SUCCESS_EMOJI}"


_HOME_ID = re.compile(r"home|^(?:main_)?menu$|^back(?:_|$)", re.IGNORECASE)
_HOME_TITLE = re.compile(r"\bhome\b|\bmain menu\b|^\W*menu\b", re.IGNORECASE)


def offers_a_way_home(message: OutboundMessage) -> bool:
    """Whether one of the message's buttons or rows leads back home (by its id or its title)."""
    ids = [*message.button_ids, *message.row_ids]
    titles = [*message.button_titles, *message.row_titles]
    return any(_HOME_ID.search(i) for i in ids) or any(_HOME_TITLE.search(t) for t in titles)


def is_apology(message: OutboundMessage) -> bool:
    """A message that apologises: led by a sad face or ⚠, or saying sorry."""
    body = body_text(message)
    sad = {APOLOGY_EMOJI, WARNING_EMOJI, *OTHER_SAD_FACES}
    return bool(sad & set(leading_emojis(body))) or _APOLOGY_WORDS.search(body) is not None


@CONVENTIONS.rule(
    "way_back_home", "an interactive error or apology offers a way back (🏠 Home), never a dead end"
)
def _way_back_home(message: OutboundMessage) -> Iterator[tuple[str, str]]:
    if message.kind not in ("buttons", "list"):
        return
    if is_apology(message) and not offers_a_way_home(message):
        options = ", ".join([*message.button_ids, *message.row_ids]) or "none"
        yield "body", f"an apology whose options ({options}) include no way back home"
