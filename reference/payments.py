"""MoMo payments end to end: request-to-pay records, and settling the provider's callbacks exactly once.

A payment row is written (``pending``) before the provider is asked, so even an instant callback finds
it. ``settle`` runs in one transaction: it claims the row (``WHERE status = 'pending'``), so a duplicate
callback, or a callback after a status poll settled the payment, changes nothing; then it moves the money:
an order payment becomes a ``momo_payment`` ledger entry and the order turns ``paid``; a top-up credits the
wallet. A payment that arrives for an order already paid another way is credited to the buyer's wallet
rather than lost.

Only ``SUCCESSFUL`` is paid and only ``FAILED`` fails (with MoMo's ``reason``). ``PENDING``, or a status
MoMo does not document, settles nothing: the payment stays pending and the status poll
(:mod:`reference.callbacks`) asks again.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass, replace

from . import defects
from .clients.payments import PaymentsClient, PaymentsError
from .config import Settings
from .ledger import REFUND, WALLET_TOPUP, Ledger
from .observability import PAYMENT_REQUEST_FAILED, PAYMENT_REQUESTED, EventLog
from .orders import PENDING_PAYMENT, Order, Orders
from .store import Store

ORDER, TOPUP = "order", "topup"
PENDING, SUCCESSFUL, FAILED, REQUEST_FAILED = "pending", "SUCCESSFUL", "FAILED", "request_failed"
FINAL_STATUSES = frozenset({SUCCESSFUL, FAILED})  # MoMo's other status, PENDING, is not an outcome
REMIND_WITHIN_SECONDS = 120.0  # a second tap this soon reminds the buyer instead of asking again
SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    reference_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    phone TEXT NOT NULL,
    amount INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    transaction_id TEXT,
    callbacks INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_by_external ON payments (external_id, created_at);
"""


@dataclass(frozen=True)
class Payment:
    reference_id: str
    kind: str
    external_id: str
    phone: str
    amount: int
    status: str
    created_at: float


@dataclass(frozen=True)
class Callback:
    reference_id: str
    external_id: str
    amount: int
    status: str
    transaction_id: str | None
    reason: str | None


@dataclass(frozen=True)
class Settlement:
    """What a callback did: ``outcome`` is one of the names below, the rest is what the notices need."""

    # order_paid, order_failed, order_late, topup_credited, topup_failed, duplicate, unknown, mismatch,
    # not_final (PENDING or an unknown status: nothing settled)
    outcome: str
    payment: Payment | None = None
    order: Order | None = None
    balance: int | None = None
    reason: str | None = None  # MoMo's failure reason, for the buyer's message


class Payments:
    def __init__(
        self,
        store: Store,
        events: EventLog,
        orders: Orders,
        ledger: Ledger,
        client: PaymentsClient,
        settings: Settings | None = None,
    ) -> None:
        self._store, self._events, self._orders, self._ledger = store, events, orders, ledger
        self.client = client
        has = settings.has_defect if settings is not None else lambda name: False
        self._replays = has(defects.CALLBACK_NOT_IDEMPOTENT)  # a duplicate callback settles again
        self._declined_is_paid = has(defects.DECLINED_MARKED_PAID)
        self._not_failed_is_paid = has(defects.NON_SUCCESSFUL_STATUS_PAID)
        self._order_replays = has(defects.ORDER_CALLBACK_NOT_IDEMPOTENT)
        store.install(SCHEMA)

    def get(self, reference_id: str) -> Payment | None:
        row = self._store.fetchone("SELECT * FROM payments WHERE reference_id = ?", (reference_id,))
        return None if row is None else _payment(row)

    def latest(self, external_id: str) -> Payment | None:
        row = self._store.fetchone(
            "SELECT * FROM payments WHERE external_id = ? ORDER BY created_at DESC LIMIT 1", (external_id,)
        )
        return None if row is None else _payment(row)

    def waiting(self, external_id: str) -> bool:
        """A request for this order is pending and recent: remind the buyer instead of asking again."""
        last = self.latest(external_id)
        return (
            last is not None
            and last.status == PENDING
            and time.time() - last.created_at < REMIND_WITHIN_SECONDS
        )

    async def request(
        self,
        kind: str,
        external_id: str,
        phone: str,
        amount: int,
        corr: str,
        note: str,
        *,
        payer: str | None = None,
    ) -> Payment:
        """Ask the provider for ``amount`` from ``payer`` (default: ``phone``, the user's key, which the
        payment is credited to); raise ``PaymentsError`` when it cannot be asked."""
        reference_id = str(uuid.uuid4())
        now = time.time()
        self._store.execute(
            "INSERT INTO payments (reference_id, kind, external_id, phone, amount, status, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (reference_id, kind, external_id, phone, amount, PENDING, now, now),
        )
        order_id = external_id if kind == ORDER else None
        if order_id is not None:  # before asking: the provider may call back before it answers us
            self._orders.set_payment(order_id, "momo", PENDING, reference_id)
        try:
            attempts = await self.client.request_to_pay(
                reference_id=reference_id, amount=amount, external_id=external_id, phone=payer or phone,
                payer_message=note, payee_note=f"easyMO {external_id}",
            )  # fmt: skip
        except PaymentsError as exc:
            self._set_status(reference_id, REQUEST_FAILED, exc.reason)
            if order_id is not None:
                self._orders.set_payment(order_id, "momo", REQUEST_FAILED, reference_id, if_ref=reference_id)
            self._events.record(
                corr, PAYMENT_REQUEST_FAILED, phone, reference_id=reference_id, external_id=external_id,
                order_id=order_id, kind=kind, amount=amount, reason=exc.reason,
            )  # fmt: skip
            raise
        self._events.record(
            corr, PAYMENT_REQUESTED, phone, reference_id=reference_id, external_id=external_id,
            order_id=order_id, kind=kind, amount=amount, attempts=attempts,
        )  # fmt: skip
        payment = self.get(reference_id)
        assert payment is not None
        return payment

    def settle(self, callback: Callback, corr: str) -> Settlement:
        with self._store.transaction():
            payment = self.get(callback.reference_id)
            if payment is None:
                return Settlement("unknown")
            replay = payment.status != PENDING and self._replays
            if payment.status == SUCCESSFUL and payment.kind == ORDER and self._order_replays:
                return self._collect_again(payment, corr)
            if payment.status != PENDING and not replay:
                self._store.execute(
                    "UPDATE payments SET callbacks = callbacks + 1 WHERE reference_id = ?",
                    (payment.reference_id,),
                )
                return Settlement("duplicate", payment)
            if callback.amount != payment.amount or callback.external_id != payment.external_id:
                return Settlement("mismatch", payment)
            status = callback.status
            if self._not_failed_is_paid:  # the defect: "not FAILED" read as paid
                status = FAILED if status == FAILED else SUCCESSFUL
            if status not in FINAL_STATUSES:
                return Settlement("not_final", payment)
            if status == FAILED and self._declined_is_paid:  # the declined_marked_paid defect
                status = SUCCESSFUL
            self._store.execute(
                "UPDATE payments SET status = ?, reason = ?, transaction_id = ?, callbacks = callbacks + 1, "
                "updated_at = ? WHERE reference_id = ? AND (status = ? OR ?)",
                (
                    status,
                    callback.reason,
                    callback.transaction_id,
                    time.time(),
                    payment.reference_id,
                    PENDING,
                    replay,
                ),
            )
            if payment.kind == TOPUP:
                settled = self._settle_topup(payment, status, corr)
            else:
                settled = self._settle_order(payment, status, corr)
            return replace(settled, reason=callback.reason if status == FAILED else None)

    def _collect_again(self, payment: Payment, corr: str) -> Settlement:
        """The order_callback_not_idempotent defect: a repeated callback collects and notifies again."""
        order = self._orders.get(payment.external_id)
        assert order is not None
        self._ledger.record_collection(
            payment.phone, payment.amount, corr, order_id=order.id, reference=payment.reference_id
        )
        return Settlement("order_paid", payment, order)

    def _settle_topup(self, payment: Payment, status: str, corr: str) -> Settlement:
        if status != SUCCESSFUL:
            return Settlement("topup_failed", payment)
        entry = self._ledger.credit_wallet(
            payment.phone, payment.amount, WALLET_TOPUP, corr, order_id=None, reference=payment.reference_id
        )
        return Settlement("topup_credited", payment, balance=entry.balance_after)

    def _settle_order(self, payment: Payment, status: str, corr: str) -> Settlement:
        order = self._orders.get(payment.external_id)
        if status != SUCCESSFUL:
            if order is not None:
                ref = payment.reference_id
                self._orders.set_payment(order.id, "momo", "failed", ref, if_ref=ref)
            return Settlement("order_failed", payment, order)
        if order is None or order.state != PENDING_PAYMENT:
            # Paid twice (or for an order that is gone): the money waits in the wallet, never lost.
            entry = self._ledger.credit_wallet(
                payment.phone, payment.amount, REFUND, corr, order_id=payment.external_id,
                reference=payment.reference_id,
            )  # fmt: skip
            return Settlement("order_late", payment, order, balance=entry.balance_after)
        self._ledger.record_collection(
            payment.phone, payment.amount, corr, order_id=order.id, reference=payment.reference_id
        )
        paid = self._orders.mark_paid(order.id, "momo", payment.reference_id, corr)
        return Settlement("order_paid", payment, paid)

    def _set_status(self, reference_id: str, status: str, reason: str | None) -> None:
        """Mark a request that could not be made; a callback that settled it meanwhile wins."""
        self._store.execute(
            "UPDATE payments SET status = ?, reason = ?, updated_at = ? "
            "WHERE reference_id = ? AND status = ?",
            (status, reason, time.time(), reference_id, PENDING),
        )


def pending_key(reference_id: str) -> str:
    """The deadline of the buyer's "still pending" notice for a payment."""
    return f"payment:{reference_id}"


def poll_key(reference_id: str) -> str:
    """The deadline of a payment's next status poll."""
    return f"poll:{reference_id}"


def _payment(r: sqlite3.Row) -> Payment:
    return Payment(
        reference_id=r["reference_id"],
        kind=r["kind"],
        external_id=r["external_id"],
        phone=r["phone"],
        amount=r["amount"],
        status=r["status"],
        created_at=r["created_at"],
    )
