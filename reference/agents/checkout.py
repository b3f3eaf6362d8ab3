"""Paying for an order: ``pay_momo:<id>`` (request-to-pay, settled by the callback) or ``pay_wallet:<id>``.

A wallet payment is one transaction: debit (one ledger entry) and ``pending_payment → paid``; if either
fails nothing is written. The receipt with the delivery code goes to the buyer, the new-order notice to
the station staff. MoMo payments finish in :mod:`reference.callbacks`.
"""

from __future__ import annotations

from .. import defects
from .. import messages as m
from ..clients.payments import PaymentsError
from ..context import Context
from ..flags import BUYER
from ..ledger import InsufficientFundsError
from ..orders import PENDING_PAYMENT, InvalidTransitionError, Order
from ..payments import ORDER
from ..router import Router, Turn
from ..texts import (
    MOMO_UNAVAILABLE,
    SHARE_LOCATION,
    momo_pending,
    momo_requested,
    receipt,
    state_label,
    wallet_short,
)


class CheckoutAgent:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def register(self, router: Router) -> None:
        router.on_prefix("pay_momo", self.pay_momo, BUYER)
        router.on_prefix("pay_wallet", self.pay_wallet, BUYER)

    async def _payable(self, turn: Turn) -> Order | None:
        """The buyer's own unpaid order with a drop-off, or None after saying why not."""
        order = self._ctx.orders.get(turn.arg) if turn.arg else None
        if order is None or order.buyer != turn.phone:
            await turn.buttons(f"😔 I can't find order {turn.arg or '(none)'}.", [m.HOME_BUTTON])
            return None
        if order.state != PENDING_PAYMENT:
            await turn.buttons(f"ℹ️ Order {order.id} is already {state_label(order.state)}.", [m.HOME_BUTTON])
            return None
        if order.dropoff is None:
            turn.state.clear()
            turn.state.update({"key": "buyer_location", "data": {"order_id": order.id}})
            await turn.text(SHARE_LOCATION)
            return None
        return order

    async def pay_momo(self, turn: Turn) -> None:
        order = await self._payable(turn)
        if order is None:
            return
        payments = self._ctx.payments
        if payments.waiting(order.id):
            await turn.text(momo_pending(order.id))
            return
        try:
            await payments.request(
                ORDER, order.id, turn.phone, order.total, turn.correlation_id, f"easyMO order {order.id}"
            )
        except PaymentsError:
            choices = [
                m.Button(f"pay_momo:{order.id}", "📲 Try MoMo again"),
                _wallet_button(order),
                m.HOME_BUTTON,
            ]
            await turn.buttons(MOMO_UNAVAILABLE, choices)
            return
        await turn.text(momo_requested(order.total))

    async def pay_wallet(self, turn: Turn) -> None:
        order = await self._payable(turn)
        if order is None:
            return
        ctx, corr = self._ctx, turn.correlation_id
        try:
            with ctx.store.transaction():
                ctx.ledger.debit_wallet(turn.phone, order.total, corr, order_id=order.id)
                if ctx.has_defect(defects.WALLET_DOUBLE_DEBIT):
                    ctx.ledger.debit_wallet(
                        turn.phone, order.total, corr, order_id=order.id, allow_negative=True
                    )
                paid = ctx.orders.mark_paid(order.id, "wallet", None, corr)
        except InsufficientFundsError as short:
            choices = [
                m.Button(f"pay_momo:{order.id}", "📲 MoMo"),
                m.Button("wallet_topup", "➕ Top up"),
                m.HOME_BUTTON,
            ]
            await turn.buttons(wallet_short(short.balance, order.total), choices)
            return
        except InvalidTransitionError as exc:  # paid meanwhile (a MoMo callback won the race)
            await turn.buttons(
                f"ℹ️ Order {order.id} is already {state_label(exc.current or '')}.", [m.HOME_BUTTON]
            )
            return
        await turn.text(receipt(paid))
        await ctx.notify.order_paid(paid, corr, tell_buyer=False)


def _wallet_button(order: Order) -> m.Button:
    return m.Button(f"pay_wallet:{order.id}", "💳 Wallet")
