"""Matching what reached a simulated user against what a test expects.

Replies are matched loosely (any order, strays left for later) or strictly (every reply must be expected,
or skippable, maybe in order); the bot's read / typing events are matched apart from replies, and are
never unexpected. Each function fills ``matched`` (one slot per expectation) and removes what it claims.
"""

from __future__ import annotations

from collections.abc import Callable, MutableSequence, Sequence

from easymo_qa.whatsapp.expect import Expectation, ReplyError
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.transcript import Transcript

Matched = list[OutboundMessage | None]


def match_loosely(
    pending: MutableSequence[OutboundMessage], expectations: Sequence[Expectation], matched: Matched
) -> None:
    """Each open reply expectation claims the first pending reply it matches, in any order."""
    for i, expectation in enumerate(expectations):
        if matched[i] is None and not expectation.is_event:
            hit = next((m for m in pending if expectation.matches(m)), None)
            if hit is not None:
                matched[i] = hit
                pending.remove(hit)


def match_strictly(
    pending: MutableSequence[OutboundMessage],
    expectations: Sequence[Expectation],
    matched: Matched,
    *,
    ordered: bool,
    may_skip: Callable[[OutboundMessage], str | None] | None,
    actor: str,
    transcript: Transcript,
) -> None:
    """Every pending reply, oldest first, must fit an open reply expectation (the next one when
    ``ordered``) or be skippable; else :class:`ReplyError` at once."""
    for message in sorted(pending, key=lambda m: m.seq):
        open_ = [i for i, m in enumerate(matched) if m is None and not expectations[i].is_event]
        fits = [i for i in open_ if expectations[i].matches(message)]
        if fits and (not ordered or fits[0] == open_[0]):
            matched[fits[0]] = message
            pending.remove(message)
            continue
        reason = may_skip(message) if may_skip is not None else None
        if reason is not None:
            pending.remove(message)
            transcript.note(actor, f"skipped seq {message.seq}: {reason}")
            continue
        if fits:  # ordered, and it matches a later expectation than the next one
            title = "a reply arrived out of order"
            expected = [f"next: {expectations[open_[0]].describe()}"]
        else:
            title = "the bot sent a message nobody expected"
            expected = [expectations[i].describe() for i in open_] or ["nothing more in this step"]
        rendered = transcript.render()
        raise ReplyError(title, actor=actor, expected=expected, arrived=[message], transcript=rendered)


def match_events(
    events: MutableSequence[OutboundMessage],
    expectations: Sequence[Expectation],
    matched: Matched,
    message_id: str | None,
) -> None:
    """Each open read / typing expectation claims the oldest event that fits it and names ``message_id``
    (the user's last message; any message when ``None``).

    Typing expectations go first. A typing request marks the message read as well (Meta's "Typing
    indicators" page), so a read expectation may also take a typing event a typing expectation of the same
    check already claimed: one request then satisfies both.
    """
    order = sorted(range(len(expectations)), key=lambda i: not expectations[i].typing)
    for i in order:
        expectation = expectations[i]
        if matched[i] is not None or not expectation.is_event:
            continue
        claimed = [(expectations[j].typing, m) for j, m in enumerate(matched) if m is not None]
        shared = [m for typing, m in claimed if typing and not any(o is m for t, o in claimed if not t)]
        for candidate in [*events, *shared]:
            if expectation.matches(candidate) and message_id in (None, candidate.message_id):
                matched[i] = candidate
                if candidate in events:
                    events.remove(candidate)
                break
