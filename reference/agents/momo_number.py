"""The MoMo number of a user whose phone the bot never saw (a username-only WhatsApp user, 2026).

MTN MoMo asks a phone number to pay (``payer.partyIdType: MSISDN``). A user who writes with a username and
no phone has none the bot knows, so before the first request-to-pay the bot asks for the number that pays
and remembers it (``momo_number_saved``); replies still go to the user's BSUID, not to that number. Then
the payment (an order's, a top-up) goes on as if the user had just tapped it (R-PAY-13).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from ..context import Context
from ..observability import MOMO_NUMBER_SAVED
from ..router import Turn
from ..texts import NOT_A_MOMO_NUMBER, ask_momo_number

MOMO_NUMBER_STATE = "momo_number"
_RWANDA_MOBILE = re.compile(r"(?:\+?250|0)(7[0-9]{8})")
_SEPARATORS = re.compile(r"[\s().-]")

# What to do with the number once given: "pay_momo:<order id>" or "topup:<amount>" → a coroutine.
Resume = Callable[[Turn, str], Awaitable[None]]


def normalise_momo_number(text: str) -> str | None:
    """``2507XXXXXXXX`` from a Rwandan mobile number as people type it (``0788 123 456``,
    ``+250 788-123-456``), else None."""
    match = _RWANDA_MOBILE.fullmatch(_SEPARATORS.sub("", text))
    return f"250{match.group(1)}" if match else None


async def ask_for_momo_number(turn: Turn, amount: int, then: str) -> None:
    """Ask which number pays ``amount``; ``then`` is what the user did ("pay_momo:<id>", "topup:<n>")."""
    turn.state.clear()
    turn.state.update({"key": MOMO_NUMBER_STATE, "data": {"then": then}})
    await turn.text(ask_momo_number(amount))


async def momo_number_given(ctx: Context, turn: Turn, resume: dict[str, Resume]) -> None:
    """The user typed (we hope) their MoMo number: remember it and carry on with what they asked."""
    number = normalise_momo_number(turn.inbound.text or "")
    if number is None:
        await turn.text(NOT_A_MOMO_NUMBER)  # the state stays: the next text is tried again
        return
    then = str(turn.state.get("data", {}).get("then", ""))
    turn.state.clear()
    if ctx.identities is not None:
        ctx.identities.remember_momo_number(turn.phone, number)
    ctx.events.record(turn.correlation_id, MOMO_NUMBER_SAVED, turn.phone, ending=number[-3:])
    kind, _, arg = then.partition(":")
    handler = resume.get(kind)
    if handler is not None:
        await handler(turn, arg)
