"""SQLite persistence: message claims, identities, contacts, sessions and the event log.

One connection in autocommit mode, WAL journal, ``synchronous=NORMAL``: every write is a single short
statement that never waits on fsync, so calling it from the event loop costs microseconds and keeps
the code free of thread hand-offs. Methods never ``await``; between two awaits a coroutine therefore
owns the connection, and the lock only guards against a stray call from another thread.

The domain modules (catalog, orders, ledger, payments, support) install their own tables with
``install`` and group writes with ``transaction()``: a short ``BEGIN IMMEDIATE`` ... ``COMMIT`` that
never spans an ``await``. The lock is re-entrant, so events recorded inside a transaction commit (or
roll back) with the change they describe.

Users are known by a *user key*, fixed at their first message: the phone of a user first known by phone
(seeded staff, every user before 2026), else the business-scoped user id (BSUID) they first wrote with.
Every table of the domain (contacts, sessions, orders, wallets...) is keyed by it, so a user keeps
everything when Meta re-issues their BSUID or shows their phone later. ``identities`` holds what the
user is known by now (their BSUID, their phone when Meta shows it, their username); ``user_ids`` every
BSUID they ever had. :mod:`reference.identity` writes both; events are filed under the user key with the
BSUID and phone known when they were recorded.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A business-scoped user id: ISO country code, a dot, up to 128 alphanumerics (``RW.1502576394655843``);
# parent ids of linked portfolios carry ``.ENT`` (Meta, "Business-scoped user IDs", 2026-03-31:
# https://developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/).
BSUID = re.compile(r"[A-Z]{2}(\.ENT)?\.[A-Za-z0-9]{1,128}")

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
CREATE TABLE IF NOT EXISTS identities (
    user_key TEXT PRIMARY KEY,
    user_id TEXT UNIQUE,
    phone TEXT UNIQUE,
    username TEXT,
    momo_number TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS user_ids (
    user_id TEXT PRIMARY KEY,
    user_key TEXT NOT NULL,
    since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    correlation_id TEXT NOT NULL,
    name TEXT NOT NULL,
    phone TEXT,
    data TEXT NOT NULL,
    user_id TEXT,
    user_key TEXT
);
CREATE INDEX IF NOT EXISTS events_by_name ON events (name, id);
CREATE INDEX IF NOT EXISTS events_by_correlation ON events (correlation_id, id);
CREATE INDEX IF NOT EXISTS events_by_order ON events (json_extract(data, '$.order_id'), id);
"""
# Indexes on columns a database file of an older version lacks until _migrate adds them.
_EVENT_INDEXES = """
CREATE INDEX IF NOT EXISTS events_by_user ON events (user_key, id);
CREATE INDEX IF NOT EXISTS events_by_phone ON events (phone, id);
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
        _migrate(conn)
        conn.executescript(_EVENT_INDEXES)
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
        self, correlation_id: str, name: str, who: str | None, data: dict[str, Any] | None = None
    ) -> int:
        """Record an event about ``who`` (a user key, phone or BSUID; None: about no one in particular)."""
        with self._lock:
            key, phone, user_id = self.who(who) if who else (None, None, None)
            cur = self._conn.execute(
                "INSERT INTO events (ts, correlation_id, name, phone, data, user_id, user_key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (time.time(), correlation_id, name, phone, _dumps(data or {}), user_id, key),
            )
        return int(cur.lastrowid or 0)

    def user_key(self, who: str) -> str | None:
        """The user key of the user with this phone, BSUID (current or former) or key; None if unknown."""
        with self._lock:
            row = self._conn.execute(
                "SELECT user_key FROM identities WHERE user_key = ? OR phone = ? "
                "UNION ALL SELECT user_key FROM user_ids WHERE user_id = ? LIMIT 1",
                (who, who, who),
            ).fetchone()
        return None if row is None else str(row[0])

    def who(self, who: str) -> tuple[str, str | None, str | None]:
        """``(user key, phone, BSUID)`` of a user named by key, phone or BSUID, as far as they are known."""
        with self._lock:
            key = self.user_key(who) or who
            row = self._conn.execute(
                "SELECT phone, user_id FROM identities WHERE user_key = ?", (key,)
            ).fetchone()
        if row is not None:
            return key, row[0], row[1]
        if key.isdigit():
            return key, key, None
        return key, None, key if BSUID.fullmatch(key) else None

    def query_events(
        self,
        *,
        phone: str | None = None,
        user_id: str | None = None,
        name: str | None = None,
        correlation_id: str | None = None,
        order_id: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Events with ``id > after_id`` in id order, filtered by whichever fields are given.

        ``phone`` and ``user_id`` (a BSUID, current or former) name a user: their events are all those
        filed under that user's key, whatever the user was known by when each was recorded.
        """
        where, params = ["id > ?"], [after_id]
        for value, column in ((phone, "phone"), (user_id, "user_id")):
            if value:
                key = self.user_key(value)
                where.append("user_key = ?" if key is not None else f"{column} = ?")
                params.append(key if key is not None else value)
        for column, value in (("name", name), ("correlation_id", correlation_id)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if order_id:
            where.append("json_extract(data, '$.order_id') = ?")
            params.append(order_id)
        params.append(max(1, min(limit, MAX_EVENTS_PAGE)))
        sql = (
            "SELECT id, ts, correlation_id, name, phone, user_id, data FROM events "  # noqa: S608 - columns are fixed
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
                "user_id": r[5],
                "data": json.loads(r[6]),
            }
            for r in rows
        ]


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the identity columns to the events table of a database file an older version wrote."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    for column in ("user_id", "user_key"):
        if column not in columns:
            conn.execute(f"ALTER TABLE events ADD COLUMN {column} TEXT")
    if "user_key" not in columns:
        conn.execute("UPDATE events SET user_key = phone")


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
