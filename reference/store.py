"""SQLite persistence: message claims, contacts, sessions and the event log.

One connection in autocommit mode, WAL journal, ``synchronous=NORMAL``: every write is a single short
statement that never waits on fsync, so calling it from the event loop costs microseconds and keeps
the code free of thread hand-offs. Methods never ``await``; between two awaits a coroutine therefore
owns the connection, and the lock only guards against a stray call from another thread.

The domain modules (catalog, orders, ledger, payments, support) install their own tables with
``install`` and group writes with ``transaction()``: a short ``BEGIN IMMEDIATE`` ... ``COMMIT`` that
never spans an ``await``. The lock is re-entrant, so events recorded inside a transaction commit (or
roll back) with the change they describe.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS wa_events (
    wamid TEXT PRIMARY KEY,
    claimed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    phone TEXT PRIMARY KEY,
    opted_out INTEGER NOT NULL DEFAULT 0,
    name TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    phone TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    correlation_id TEXT NOT NULL,
    name TEXT NOT NULL,
    phone TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_phone ON events (phone, id);
CREATE INDEX IF NOT EXISTS events_by_name ON events (name, id);
CREATE INDEX IF NOT EXISTS events_by_correlation ON events (correlation_id, id);
CREATE INDEX IF NOT EXISTS events_by_order ON events (json_extract(data, '$.order_id'), id);
"""

MAX_EVENTS_PAGE = 1000


@dataclass(frozen=True)
class Contact:
    phone: str
    opted_out: bool
    name: str | None


@dataclass(frozen=True)
class Session:
    state: dict[str, Any]
    updated_at: float


class Store:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: str) -> Store:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(_SCHEMA)
        conn.row_factory = sqlite3.Row
        return cls(conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- generic access for the domain modules ---------------------------------------------------

    def install(self, schema: str) -> None:
        with self._lock:
            self._conn.executescript(schema)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes atomically; nested use joins the outer transaction."""
        with self._lock:
            if self._conn.in_transaction:
                yield
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write; return the number of rows it changed."""
        with self._lock:
            return self._conn.execute(sql, params).rowcount

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self._lock:
            self._conn.execute("SELECT 1 FROM wa_events LIMIT 1").fetchall()

    # -- idempotency -------------------------------------------------------------------------------

    def claim_message(self, wamid: str) -> bool:
        """Claim a message id; False when it was already claimed (a redelivery)."""
        with self._lock:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO wa_events (wamid, claimed_at) VALUES (?, ?)", (wamid, time.time())
            )
            return cur.rowcount == 1

    def release_message(self, wamid: str) -> None:
        """Forget a claim after a failure, so a redelivery is processed again (as easyMO does)."""
        with self._lock:
            self._conn.execute("DELETE FROM wa_events WHERE wamid = ?", (wamid,))

    # -- contacts ----------------------------------------------------------------------------------

    def get_contact(self, phone: str) -> Contact | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT opted_out, name FROM contacts WHERE phone = ?", (phone,)
            ).fetchone()
        return None if row is None else Contact(phone, bool(row[0]), row[1])

    def save_name(self, phone: str, name: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO contacts (phone, opted_out, name, updated_at) VALUES (?, 0, ?, ?) "
                "ON CONFLICT (phone) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at",
                (phone, name, time.time()),
            )

    def set_opted_out(self, phone: str, opted_out: bool) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO contacts (phone, opted_out, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (phone) DO UPDATE SET opted_out = excluded.opted_out, "
                "updated_at = excluded.updated_at",
                (phone, int(opted_out), time.time()),
            )

    # -- sessions ----------------------------------------------------------------------------------

    def load_session(self, phone: str) -> Session | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT state, updated_at FROM sessions WHERE phone = ?", (phone,)
            ).fetchone()
        return None if row is None else Session(json.loads(row[0]), row[1])

    def save_session(self, phone: str, state: dict[str, Any]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO sessions (phone, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (phone) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                (phone, _dumps(state), time.time()),
            )

    def clear_session(self, phone: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM sessions WHERE phone = ?", (phone,))

    # -- events ------------------------------------------------------------------------------------

    def record_event(
        self, correlation_id: str, name: str, phone: str | None, data: dict[str, Any] | None = None
    ) -> int:
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO events (ts, correlation_id, name, phone, data) VALUES (?, ?, ?, ?, ?)",
                (time.time(), correlation_id, name, phone, _dumps(data or {})),
            )
        return int(cur.lastrowid or 0)

    def query_events(
        self,
        *,
        phone: str | None = None,
        name: str | None = None,
        correlation_id: str | None = None,
        order_id: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Events with ``id > after_id`` in id order, filtered by whichever fields are given."""
        where, params = ["id > ?"], [after_id]
        for column, value in (("phone", phone), ("name", name), ("correlation_id", correlation_id)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if order_id:
            where.append("json_extract(data, '$.order_id') = ?")
            params.append(order_id)
        params.append(max(1, min(limit, MAX_EVENTS_PAGE)))
        sql = (
            "SELECT id, ts, correlation_id, name, phone, data FROM events "  # noqa: S608 - columns are fixed
            f"WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [
            {
                "id": r[0],
                "ts": r[1],
                "correlation_id": r[2],
                "name": r[3],
                "phone": r[4],
                "data": json.loads(r[5]),
            }
            for r in rows
        ]


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
