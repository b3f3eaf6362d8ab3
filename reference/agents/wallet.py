"""The buyer's wallet: balance, and MoMo top-ups (credited when the callback, or a status poll, says so).

A user whose phone the bot never saw is asked for the MoMo number first (:mod:`.momo_number`, answered in
:mod:`.checkout`).
"""

from __future__ import annotations

from .. import messages as m
from ..callbacks import watch_status
from ..clients.payments import PaymentsError
from ..context import Context
from ..flags import BUYER
from ..orders import new_id
from ..payments import TOPUP
from ..router import Router, Turn
from ..texts import TOPUP_CHOOSE, TOPUP_UNAVAILABLE, momo_requested, money, wallet_balance
from .momo_number import ask_for_momo_number

TOPUP_AMOUNTS = (5000, 10000, 20000)
TOPUP_BUTTON = m.Button("wallet_topup", "➕ Top up")


class WalletAgent:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def register(self, router: Router) -> None:
        router.on_id("my_wallet", self.balance, BUYER)
        router.on_id("wallet_topup", self.choose, BUYER)
        router.on_prefix("topup", self.top_up, BUYER)

    async def balance(self, turn: Turn) -> None:
        await turn.buttons(
            wallet_balance(self._ctx.ledger.balance(turn.phone)), [TOPUP_BUTTON, m.HOME_BUTTON]
        )

    async def choose(self, turn: Turn) -> None:
        rows = [m.Row(f"topup:{amount}", f"➕ {money(amount)}") for amount in TOPUP_AMOUNTS]
        await turn.rows(TOPUP_CHOOSE, "Top up", rows, "Amounts")

    async def top_up(self, turn: Turn) -> None:
        await request_topup(self._ctx, turn, int(turn.arg) if turn.arg.isdigit() else 0)


async def request_topup(ctx: Context, turn: Turn, amount: int) -> None:
    """Ask MoMo for a top-up of ``amount`` (the amounts list again for any other amount)."""
    if amount not in TOPUP_AMOUNTS:
        await WalletAgent(ctx).choose(turn)
        return
    payer = ctx.payer(turn.phone)
    if payer is None:
        await ask_for_momo_number(turn, amount, f"topup:{amount}")
        return
    topup_id = new_id("TOP")
    try:
        payment = await ctx.payments.request(
            TOPUP, topup_id, turn.phone, amount, turn.correlation_id, "easyMO wallet top-up", payer=payer
        )
    except PaymentsError:
        await turn.buttons(TOPUP_UNAVAILABLE, [TOPUP_BUTTON, m.HOME_BUTTON])
        return
    await turn.text(momo_requested(amount))
    watch_status(ctx, payment, turn.correlation_id)
