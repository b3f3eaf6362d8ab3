"""Quote requests: when the catalogue has nothing for a search, vendors are asked for a price.

A request (``Q-XXXXXX``) records the buyer, the query, how many and where, and which vendors were asked.
Each asked vendor may answer once with a price (a later answer replaces the earlier one) or decline,
while the request is ``open``. Closing is one conditional ``UPDATE ... WHERE status = 'open'``, so the
deadline and the last vendor's answer cannot both close it (and both tell the buyer). Stored in SQLite
like orders: the deadline timer is in memory, the request and its quotes are not.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from .orders import new_id
from .store import Store

OPEN, CLOSED = "open", "closed"
SCHEMA = """
CREATE TABLE IF NOT EXISTS quote_requests (
    id TEXT PRIMARY KEY,
    buyer TEXT NOT NULL,
    query TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    area TEXT,
    vendors TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    closed_at REAL
);
CREATE INDEX IF NOT EXISTS quote_requests_by_buyer ON quote_requests (buyer, created_at);
CREATE TABLE IF NOT EXISTS quotes (
    request_id TEXT NOT NULL,
    vendor_id TEXT NOT NULL,
    price INTEGER,
    declined INTEGER NOT NULL DEFAULT 0,
    ts REAL NOT NULL,
    PRIMARY KEY (request_id, vendor_id)
);
"""


@dataclass(frozen=True)
class QuoteRequest:
    id: str
    buyer: str
    query: str
    quantity: int
    area: str | None
    vendors: tuple[str, ...]  # vendor ids, in the order they were asked
    status: str
    created_at: float


@dataclass(frozen=True)
class Quote:
    vendor_id: str
    price: int | None  # None: declined
    ts: float


class QuoteBook:
    def __init__(self, store: Store) -> None:
        self._store = store
        store.install(SCHEMA)

    def open(
        self, buyer: str, query: str, quantity: int, area: str | None, vendors: list[str]
    ) -> QuoteRequest:
        now = time.time()
        while True:
            request_id = new_id("Q")
            try:
                self._store.execute(
                    "INSERT INTO quote_requests (id, buyer, query, quantity, area, vendors, status, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (request_id, buyer, query, quantity, area, json.dumps(vendors), OPEN, now),
                )
                break
            except sqlite3.IntegrityError:
                continue  # an id collision: draw another
        request = self.get(request_id)
        assert request is not None
        return request

    def get(self, request_id: str) -> QuoteRequest | None:
        row = self._store.fetchone("SELECT * FROM quote_requests WHERE id = ?", (request_id.upper(),))
        if row is None:
            return None
        return QuoteRequest(
            id=row["id"],
            buyer=row["buyer"],
            query=row["query"],
            quantity=int(row["quantity"]),
            area=row["area"],
            vendors=tuple(json.loads(row["vendors"])),
            status=row["status"],
            created_at=float(row["created_at"]),
        )

    def open_for(self, buyer: str, query: str) -> QuoteRequest | None:
        """The buyer's open request for this very query, if any (asking again would spam vendors)."""
        row = self._store.fetchone(
            "SELECT id FROM quote_requests WHERE buyer = ? AND query = ? AND status = ? "
            "ORDER BY created_at DESC LIMIT 1",
            (buyer, query, OPEN),
        )
        return None if row is None else self.get(row["id"])

    def answer(self, request_id: str, vendor_id: str, price: int | None) -> None:
        """Record a vendor's price (or, with ``None``, that it declines); the latest answer counts."""
        self._store.execute(
            "INSERT INTO quotes (request_id, vendor_id, price, declined, ts) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (request_id, vendor_id) DO UPDATE SET price = excluded.price, "
            "declined = excluded.declined, ts = excluded.ts",
            (request_id, vendor_id, price, int(price is None), time.time()),
        )

    def answers(self, request_id: str) -> list[Quote]:
        rows = self._store.fetchall(
            "SELECT vendor_id, price, declined, ts FROM quotes WHERE request_id = ? ORDER BY ts",
            (request_id,),
        )
        return [Quote(r["vendor_id"], None if r["declined"] else int(r["price"]), r["ts"]) for r in rows]

    def quote(self, request_id: str, vendor_id: str) -> Quote | None:
        return next((q for q in self.answers(request_id) if q.vendor_id == vendor_id), None)

    def close(self, request_id: str) -> bool:
        """Close an open request; False when it was already closed (someone else tells the buyer)."""
        changed = self._store.execute(
            "UPDATE quote_requests SET status = ?, closed_at = ? WHERE id = ? AND status = ?",
            (CLOSED, time.time(), request_id, OPEN),
        )
        return changed == 1
