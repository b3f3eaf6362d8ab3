"""Money: wallet balances and the ledger of every movement, in whole RWF.

Each movement is one ``ledger`` row (``account``, ``kind``, signed ``amount``, ``balance_after`` for wallet
accounts, the order or top-up it belongs to) and a ``ledger_entry_added`` event, written in the same
transaction as the balance change. Accounts: ``wallet:<phone>`` (the buyer's easyMO wallet) and
``momo:<phone>`` (money collected from the buyer's MoMo account for an order).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from .observability import LEDGER_ENTRY_ADDED, EventLog
from .store import Store

WALLET_DEBIT, WALLET_TOPUP, REFUND, MOMO_PAYMENT = "wallet_debit", "wallet_topup", "refund", "momo_payment"
SCHEMA = """
CREATE TABLE IF NOT EXISTS wallets (
    phone TEXT PRIMARY KEY,
    balance INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    account TEXT NOT NULL,
    phone TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount INTEGER NOT NULL,
    balance_after INTEGER,
    order_id TEXT,
    reference TEXT,
    correlation_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_by_order ON ledger (order_id, id);
CREATE INDEX IF NOT EXISTS ledger_by_phone ON ledger (phone, id);
"""


class InsufficientFundsError(Exception):
    def __init__(self, balance: int, needed: int) -> None:
        super().__init__(f"balance {balance} is below {needed}")
        self.balance, self.needed = balance, needed


@dataclass(frozen=True)
class Entry:
    id: int
    ts: float
    account: str
    kind: str
    amount: int
    balance_after: int | None
    order_id: str | None
    reference: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": self.ts,
            "account": self.account,
            "kind": self.kind,
            "amount": self.amount,
            "balance_after": self.balance_after,
            "order_id": self.order_id,
            "reference": self.reference,
        }


class Ledger:
    def __init__(self, store: Store, events: EventLog) -> None:
        self._store, self._events = store, events
        store.install(SCHEMA)

    def balance(self, phone: str) -> int:
        row = self._store.fetchone("SELECT balance FROM wallets WHERE phone = ?", (phone,))
        return 0 if row is None else int(row["balance"])

    def debit_wallet(
        self, phone: str, amount: int, corr: str, *, order_id: str, allow_negative: bool = False
    ) -> Entry:
        """Take ``amount`` from the wallet, or raise ``InsufficientFundsError`` (nothing written)."""
        with self._store.transaction():
            balance = self.balance(phone)
            if balance < amount and not allow_negative:
                raise InsufficientFundsError(balance, amount)
            return self._wallet_entry(phone, WALLET_DEBIT, -amount, corr, order_id=order_id, reference=None)

    def credit_wallet(
        self, phone: str, amount: int, kind: str, corr: str, *, order_id: str | None, reference: str | None
    ) -> Entry:
        with self._store.transaction():
            return self._wallet_entry(phone, kind, amount, corr, order_id=order_id, reference=reference)

    def record_collection(
        self, phone: str, amount: int, corr: str, *, order_id: str, reference: str
    ) -> Entry:
        """Money collected from the buyer's MoMo account for an order (no wallet balance moves)."""
        with self._store.transaction():
            return self._insert(f"momo:{phone}", phone, MOMO_PAYMENT, amount, None, order_id, reference, corr)

    def for_order(self, order_id: str) -> list[Entry]:
        rows = self._store.fetchall("SELECT * FROM ledger WHERE order_id = ? ORDER BY id", (order_id,))
        return [_entry(r) for r in rows]

    def for_phone(self, phone: str, limit: int = 100) -> list[Entry]:
        rows = self._store.fetchall(
            "SELECT * FROM ledger WHERE phone = ? ORDER BY id LIMIT ?", (phone, limit)
        )
        return [_entry(r) for r in rows]

    def _wallet_entry(
        self, phone: str, kind: str, amount: int, corr: str, *, order_id: str | None, reference: str | None
    ) -> Entry:
        self._store.execute(
            "INSERT INTO wallets (phone, balance) VALUES (?, ?) "
            "ON CONFLICT (phone) DO UPDATE SET balance = balance + excluded.balance",
            (phone, amount),
        )
        after = self.balance(phone)
        return self._insert(f"wallet:{phone}", phone, kind, amount, after, order_id, reference, corr)

    def _insert(
        self,
        account: str,
        phone: str,
        kind: str,
        amount: int,
        after: int | None,
        order_id: str | None,
        reference: str | None,
        corr: str,
    ) -> Entry:
        now = time.time()
        with self._store.transaction():
            self._store.execute(
                "INSERT INTO ledger (ts, account, phone, kind, amount, balance_after, order_id, reference, "
                "correlation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now, account, phone, kind, amount, after, order_id, reference, corr),
            )
            row = self._store.fetchone("SELECT * FROM ledger WHERE id = last_insert_rowid()")
            assert row is not None
            entry = _entry(row)
            self._events.record(
                corr, LEDGER_ENTRY_ADDED, phone, entry_id=entry.id, account=account, kind=kind, amount=amount,
                balance_after=after, order_id=order_id, reference=reference,
            )  # fmt: skip
        return entry


def _entry(r: sqlite3.Row) -> Entry:
    return Entry(
        id=r["id"],
        ts=r["ts"],
        account=r["account"],
        kind=r["kind"],
        amount=r["amount"],
        balance_after=r["balance_after"],
        order_id=r["order_id"],
        reference=r["reference"],
    )
