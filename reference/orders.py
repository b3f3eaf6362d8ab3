"""Orders: a validated state machine in SQLite, with every change in ``order_history`` and the event log.

``pending_payment → paid → accepted → preparing → ready → out_for_delivery → delivered``; a paid order may
be ``rejected`` by its station, an unpaid one ``cancelled`` (a paid one too, refunded, when its station
cannot be reached). A change is one conditional ``UPDATE ... WHERE
state = <from>`` inside a transaction, so two staff (or two drivers) tapping at once cannot both win: the
loser gets ``InvalidTransitionError`` carrying the state the order is really in.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
import time
from dataclasses import dataclass
from typing import Any

from .observability import ORDER_STATE_CHANGED, EventLog
from .store import Store

PENDING_PAYMENT, PAID, ACCEPTED, PREPARING, READY = (
    "pending_payment",
    "paid",
    "accepted",
    "preparing",
    "ready",
)
OUT_FOR_DELIVERY, DELIVERED, REJECTED, CANCELLED = "out_for_delivery", "delivered", "rejected", "cancelled"
TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({PENDING_PAYMENT}),
    PENDING_PAYMENT: frozenset({PAID, CANCELLED}),
    PAID: frozenset({ACCEPTED, REJECTED, CANCELLED}),  # cancelled: no staff phone could be reached
    ACCEPTED: frozenset({PREPARING}),
    PREPARING: frozenset({READY}),
    READY: frozenset({OUT_FOR_DELIVERY}),
    OUT_FOR_DELIVERY: frozenset({DELIVERED}),
}
CLOSED = frozenset({DELIVERED, REJECTED, CANCELLED})
_ALPHABET = string.ascii_uppercase + string.digits
SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    buyer TEXT NOT NULL,
    vendor_id TEXT NOT NULL,
    station_id TEXT NOT NULL,
    driver TEXT,
    state TEXT NOT NULL,
    items TEXT NOT NULL,
    subtotal INTEGER NOT NULL,
    delivery_fee INTEGER NOT NULL,
    total INTEGER NOT NULL,
    drop_lat REAL,
    drop_lng REAL,
    payment_method TEXT,
    payment_status TEXT NOT NULL DEFAULT 'unpaid',
    payment_ref TEXT,
    delivery_code TEXT,
    code_attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_buyer ON orders (buyer, created_at);
CREATE INDEX IF NOT EXISTS orders_by_vendor ON orders (vendor_id, created_at);
CREATE TABLE IF NOT EXISTS order_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    ts REAL NOT NULL,
    correlation_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_order ON order_history (order_id, id);
"""


def new_id(prefix: str) -> str:
    """``ORD-7F3K2Q``-style ids: a prefix and 6 of ``[A-Z0-9]``."""
    return prefix + "-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))


class InvalidTransitionError(Exception):
    def __init__(self, order_id: str, current: str | None, wanted: str) -> None:
        super().__init__(f"order {order_id}: {current} -> {wanted} is not allowed")
        self.order_id, self.current, self.wanted = order_id, current, wanted


@dataclass(frozen=True)
class Line:
    item_id: str
    name: str
    quantity: int
    unit_price: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "name": self.name,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
        }


@dataclass(frozen=True)
class Order:
    id: str
    buyer: str
    vendor_id: str
    station_id: str
    driver: str | None
    state: str
    lines: tuple[Line, ...]
    subtotal: int
    delivery_fee: int
    total: int
    dropoff: tuple[float, float] | None
    payment_method: str | None
    payment_status: str
    payment_ref: str | None
    delivery_code: str | None
    code_attempts: int
    created_at: float


class Orders:
    def __init__(self, store: Store, events: EventLog) -> None:
        self._store, self._events = store, events
        store.install(SCHEMA)

    def create(self, buyer: str, vendor_id: str, station_id: str, line: Line, fee: int, corr: str) -> Order:
        subtotal = line.unit_price * line.quantity
        items = json.dumps([line.as_dict()])
        now = time.time()
        while True:
            order_id = new_id("ORD")
            try:
                with self._store.transaction():
                    self._store.execute(
                        "INSERT INTO orders (id, buyer, vendor_id, station_id, state, items, subtotal, "
                        "delivery_fee, total, created_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (order_id, buyer, vendor_id, station_id, PENDING_PAYMENT, items, subtotal, fee,
                         subtotal + fee, now, now),
                    )  # fmt: skip
                    self._history(order_id, None, PENDING_PAYMENT, buyer, corr)
                break
            except sqlite3.IntegrityError:
                continue  # an id collision: draw another
        return self.require(order_id)

    def get(self, order_id: str) -> Order | None:
        row = self._store.fetchone("SELECT * FROM orders WHERE id = ?", (order_id,))
        return None if row is None else _order(row)

    def require(self, order_id: str) -> Order:
        order = self.get(order_id)
        if order is None:
            raise KeyError(order_id)
        return order

    def set_dropoff(self, order_id: str, lat: float, lng: float) -> None:
        self._store.execute(
            "UPDATE orders SET drop_lat = ?, drop_lng = ?, updated_at = ? WHERE id = ?",
            (lat, lng, time.time(), order_id),
        )

    def set_payment(
        self, order_id: str, method: str, status: str, reference: str | None, *, if_ref: str | None = None
    ) -> None:
        """Record how an unpaid order is being paid (a MoMo request, its failure), without a state change.

        Only while the order waits for payment, so a callback that already paid it is never overwritten;
        ``if_ref`` limits the change to the order's current payment request.
        """
        sql = (
            "UPDATE orders SET payment_method = ?, payment_status = ?, payment_ref = ?, updated_at = ? "
            "WHERE id = ? AND state = ?"
        )
        params: list[Any] = [method, status, reference, time.time(), order_id, PENDING_PAYMENT]
        if if_ref is not None:
            sql += " AND payment_ref = ?"
            params.append(if_ref)
        self._store.execute(sql, params)

    def transition(self, order_id: str, to: str, corr: str, **fields: Any) -> Order:
        """Move the order to ``to`` (setting ``fields`` too), or raise ``InvalidTransitionError``."""
        with self._store.transaction():
            current = self.get(order_id)
            if current is None:
                raise KeyError(order_id)
            if to not in TRANSITIONS.get(current.state, frozenset()):
                raise InvalidTransitionError(order_id, current.state, to)
            columns = {"state": to, "updated_at": time.time(), **fields}
            assignments = ", ".join(f"{name} = ?" for name in columns)
            changed = self._store.execute(
                f"UPDATE orders SET {assignments} WHERE id = ? AND state = ?",  # noqa: S608 - fixed names
                (*columns.values(), order_id, current.state),
            )
            if changed != 1:
                raise InvalidTransitionError(order_id, current.state, to)
            self._history(order_id, current.state, to, current.buyer, corr)
        return self.require(order_id)

    def mark_paid(self, order_id: str, method: str, reference: str | None, corr: str) -> Order:
        code = f"{secrets.randbelow(10_000):04d}"
        return self.transition(
            order_id, PAID, corr, payment_method=method, payment_status="paid", payment_ref=reference,
            delivery_code=code,
        )  # fmt: skip

    def add_code_attempt(self, order_id: str) -> int:
        """Count one wrong delivery code; return the attempts so far."""
        self._store.execute("UPDATE orders SET code_attempts = code_attempts + 1 WHERE id = ?", (order_id,))
        return self.require(order_id).code_attempts

    def history(self, order_id: str) -> list[dict[str, Any]]:
        rows = self._store.fetchall(
            "SELECT from_state, to_state, ts FROM order_history WHERE order_id = ? ORDER BY id", (order_id,)
        )
        return [{"from": r["from_state"], "to": r["to_state"], "ts": r["ts"]} for r in rows]

    def of_buyer(self, buyer: str, limit: int = 5) -> list[Order]:
        rows = self._store.fetchall(
            "SELECT * FROM orders WHERE buyer = ? ORDER BY created_at DESC LIMIT ?", (buyer, limit)
        )
        return [_order(r) for r in rows]

    def since(
        self, since: float, *, vendor_id: str | None = None, station_id: str | None = None
    ) -> list[Order]:
        """Orders created since ``since`` (optionally of one vendor or station), oldest first."""
        sql, params = "SELECT * FROM orders WHERE created_at >= ?", [since]
        for column, value in (("vendor_id", vendor_id), ("station_id", station_id)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        return [_order(r) for r in self._store.fetchall(sql + " ORDER BY created_at", params)]

    def last_activity(self, order_ids: list[str]) -> dict[str, float]:
        """When each order last changed state (its creation when it never did)."""
        if not order_ids:
            return {}
        marks = ",".join("?" * len(order_ids))
        sql = (
            f"SELECT order_id, MAX(ts) AS ts FROM order_history WHERE order_id IN ({marks}) GROUP BY order_id"  # noqa: S608, E501 - only placeholders are formatted in
        )
        rows = self._store.fetchall(sql, order_ids)
        return {str(r["order_id"]): float(r["ts"]) for r in rows}

    def reached_since(self, state: str, since: float) -> list[str]:
        """Ids of the orders that entered ``state`` since ``since``."""
        rows = self._store.fetchall(
            "SELECT DISTINCT order_id FROM order_history WHERE to_state = ? AND ts >= ?", (state, since)
        )
        return [r["order_id"] for r in rows]

    def _history(self, order_id: str, from_state: str | None, to: str, buyer: str, corr: str) -> None:
        self._store.execute(
            "INSERT INTO order_history (order_id, from_state, to_state, ts, correlation_id) "
            "VALUES (?, ?, ?, ?, ?)",
            (order_id, from_state, to, time.time(), corr),
        )
        self._events.record(
            corr, ORDER_STATE_CHANGED, buyer, order_id=order_id, **{"from": from_state, "to": to}
        )


def _order(r: sqlite3.Row) -> Order:
    lines = tuple(Line(**line) for line in json.loads(r["items"]))
    dropoff = None if r["drop_lat"] is None else (float(r["drop_lat"]), float(r["drop_lng"]))
    return Order(
        id=r["id"],
        buyer=r["buyer"],
        vendor_id=r["vendor_id"],
        station_id=r["station_id"],
        driver=r["driver"],
        state=r["state"],
        lines=lines,
        subtotal=r["subtotal"],
        delivery_fee=r["delivery_fee"],
        total=r["total"],
        dropoff=dropoff,
        payment_method=r["payment_method"],
        payment_status=r["payment_status"],
        payment_ref=r["payment_ref"],
        delivery_code=r["delivery_code"],
        code_attempts=r["code_attempts"],
        created_at=r["created_at"],
    )
