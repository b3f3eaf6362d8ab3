"""Paying for an order: ``pay_momo:<id>`` (request-to-pay, settled by the callback) or ``pay_wallet:<id>``.

A wallet payment is one transaction: debit (one ledger entry) and ``pending_payment → paid``; if either
fails nothing is written, and the buyer hears "Nothing was charged" with the pay buttons again (the
``database_down`` test fault with ``op: checkout`` makes that write fail). The receipt with the delivery
code goes to the buyer, the new-order notice to the station staff. MoMo payments finish in
:mod:`reference.callbacks` (the callback, or the status poll when it never comes); when neither settled it
by ``PAYMENT_PENDING_NOTICE_MS`` the buyer is told once that the payment is still pending (a deadline,
cancelled by the settlement). A user whose phone the bot never saw (username-only) is first asked which
number pays (:mod:`reference.agents.momo_number`).
"""

from __future__ import annotations

import sqlite3

from .. import defects
from .. import messages as m
from ..callbacks import watch_status
from ..clients.payments import PaymentsError
from ..context import Context
from ..flags import BUYER
from ..ledger import InsufficientFundsError
from ..observability import CHECKOUT_FAILED, PAYMENT_PENDING_NOTIFIED
from ..orders import PENDING_PAYMENT, InvalidTransitionError, Order
from ..payments import ORDER, PENDING, Payment, pending_key
from ..router import Router, Turn
from ..testfaults import CHECKOUT, DATABASE_DOWN
from ..texts import (
    CHECKOUT_WRITE_FAILED,
    MOMO_UNAVAILABLE,
    SHARE_LOCATION,
    momo_pending,
    momo_requested,
    momo_still_pending,
    receipt,
    state_label,
    wallet_short,
)
from .momo_number import MOMO_NUMBER_STATE, ask_for_momo_number, momo_number_given
from .station import announce_paid
from .wallet import request_topup


class CheckoutAgent:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def register(self, router: Router) -> None:
        router.on_prefix("pay_momo", self.pay_momo, BUYER)
        router.on_prefix("pay_wallet", self.pay_wallet, BUYER)
        router.on_state(MOMO_NUMBER_STATE, self.momo_number, BUYER)

    async def momo_number(self, turn: Turn) -> None:
        resume = {"pay_momo": self._pay_momo, "topup": self._topup}
        await momo_number_given(self._ctx, turn, resume)

    async def _topup(self, turn: Turn, amount: str) -> None:
        await request_topup(self._ctx, turn, int(amount) if amount.isdigit() else 0)

    async def _payable(self, turn: Turn, order_id: str | None = None) -> Order | None:
        """The buyer's own unpaid order with a drop-off, or None after saying why not."""
        order_id = turn.arg if order_id is None else order_id
        order = self._ctx.orders.get(order_id) if order_id else None
        if order is None or order.buyer != turn.phone:
            await turn.buttons(f"😔 I can't find order {order_id or '(none)'}.", [m.HOME_BUTTON])
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
        await self._pay_momo(turn, turn.arg)

    async def _pay_momo(self, turn: Turn, order_id: str) -> None:
        order = await self._payable(turn, order_id)
        if order is None:
            return
        payments = self._ctx.payments
        if payments.waiting(order.id):
            await turn.text(momo_pending(order.id))
            return
        payer = self._ctx.payer(turn.phone)
        if payer is None:
            await ask_for_momo_number(turn, order.total, f"pay_momo:{order.id}")
            return
        try:
            self._checkout_write(turn)
            payment = await payments.request(
                ORDER, order.id, turn.phone, order.total, turn.correlation_id, f"easyMO order {order.id}",
                payer=payer,
            )  # fmt: skip
        except sqlite3.Error as exc:
            await self._not_confirmed(turn, order, exc)
            return
        except PaymentsError:
            choices = [
                m.Button(f"pay_momo:{order.id}", "📲 Try MoMo again"),
                _wallet_button(order),
                m.HOME_BUTTON,
            ]
            await turn.buttons(MOMO_UNAVAILABLE, choices)
            return
        await turn.text(momo_requested(order.total))
        watch_payment(self._ctx, order, payment, turn.correlation_id)
        watch_status(self._ctx, payment, turn.correlation_id)

    def _checkout_write(self, turn: Turn) -> None:
        """Where the order / payment write happens: the test fault makes it fail like the database would."""
        if self._ctx.faults.take(DATABASE_DOWN, turn.phone, CHECKOUT):
            raise sqlite3.OperationalError("database is unavailable (test fault database_down)")

    async def _not_confirmed(self, turn: Turn, order: Order, exc: Exception) -> None:
        self._ctx.events.record(
            turn.correlation_id, CHECKOUT_FAILED, turn.phone, order_id=order.id, error=type(exc).__name__
        )
        choices = [
            m.Button(f"pay_wallet:{order.id}", "💳 Wallet"),
            m.Button(f"pay_momo:{order.id}", "📲 MoMo"),
            m.HOME_BUTTON,
        ]
        await turn.buttons(CHECKOUT_WRITE_FAILED, choices)

    async def pay_wallet(self, turn: Turn) -> None:
        order = await self._payable(turn)
        if order is None:
            return
        ctx, corr = self._ctx, turn.correlation_id
        early = ctx.has_defect(defects.CHARGE_BEFORE_COMMIT)
        try:
            if early:  # the defect: the debit commits on its own, before the order write
                ctx.ledger.debit_wallet(turn.phone, order.total, corr, order_id=order.id)
            with ctx.store.transaction():
                if not early:
                    overdraft = ctx.has_defect(defects.WALLET_OVERDRAFT)
                    ctx.ledger.debit_wallet(
                        turn.phone, order.total, corr, order_id=order.id, allow_negative=overdraft
                    )
                if ctx.has_defect(defects.WALLET_DOUBLE_DEBIT):
                    ctx.ledger.debit_wallet(
                        turn.phone, order.total, corr, order_id=order.id, allow_negative=True
                    )
                self._checkout_write(turn)
                paid = ctx.orders.mark_paid(order.id, "wallet", None, corr)
        except sqlite3.Error as exc:  # rolled back: nothing was debited
            await self._not_confirmed(turn, order, exc)
            return
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
        await announce_paid(ctx, paid, corr, tell_buyer=False)


def _wallet_button(order: Order) -> m.Button:
    return m.Button(f"pay_wallet:{order.id}", "💳 Wallet")


def watch_payment(ctx: Context, order: Order, payment: Payment, corr: str) -> None:
    """No callback by ``PAYMENT_PENDING_NOTICE_MS``: tell the buyer once that it is still pending."""
    if payment.status != PENDING:  # the callback came before the provider answered us
        return
    reference_id = payment.reference_id

    async def still_pending() -> None:
        current = ctx.payments.get(reference_id)
        if current is None or current.status != PENDING:
            return
        fresh = ctx.orders.get(order.id)
        if fresh is None or fresh.state != PENDING_PAYMENT or fresh.payment_ref != reference_id:
            return
        ctx.events.record(
            corr, PAYMENT_PENDING_NOTIFIED, order.buyer, order_id=order.id, reference_id=reference_id
        )
        await ctx.notify.text(order.buyer, momo_still_pending(order.id), corr, order_id=order.id)

    ctx.deadlines.schedule(
        pending_key(reference_id), ctx.settings.payment_pending_notice_ms / 1000, order.buyer, still_pending,
        name="payment_pending_notice", correlation_id=corr,
    )  # fmt: skip
