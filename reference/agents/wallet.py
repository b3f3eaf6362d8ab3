"""The buyer's wallet: balance, and MoMo top-ups (credited when the callback, or a status poll, says so)."""

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
        amount = int(turn.arg) if turn.arg.isdigit() else 0
        if amount not in TOPUP_AMOUNTS:
            await self.choose(turn)
            return
        topup_id = new_id("TOP")
        try:
            payment = await self._ctx.payments.request(
                TOPUP, topup_id, turn.phone, amount, turn.correlation_id, "easyMO wallet top-up"
            )
        except PaymentsError:
            await turn.buttons(TOPUP_UNAVAILABLE, [TOPUP_BUTTON, m.HOME_BUTTON])
            return
        await turn.text(momo_requested(amount))
        watch_status(self._ctx, payment, turn.correlation_id)
