"""The catalog: every vendor's items in SQLite, searched and ranked for buyers, edited by vendors.

Seed items are inserted once (``INSERT OR IGNORE``), so what vendors change survives a restart on the
same database. An offer matches when its name or keywords share the most query words of any item; the
matches are ranked as easyMO's fallback ``scoreItem`` does: rating/5 × 0.6 + verified 0.2, plus up to
0.2 for being close to the buyer's area (linear to 0 at 10 km); ties go to the lower price, then the id.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass

from .seed import Seed, Vendor
from .store import Store
from .textsearch import AREAS, distance_km, singular, tokens, words

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    vendor_id TEXT NOT NULL,
    name TEXT NOT NULL,
    keywords TEXT NOT NULL,
    price INTEGER NOT NULL CHECK (price > 0),
    available INTEGER NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS items_by_vendor ON items (vendor_id, created_at);
"""
MATCH_RADIUS_KM = 10.0
MAX_OFFERS = 5


@dataclass(frozen=True)
class Item:
    id: str
    vendor_id: str
    name: str
    keywords: tuple[str, ...]
    price: int
    available: bool
    removed: bool


@dataclass(frozen=True)
class Offer:
    item: Item
    vendor: Vendor
    score: float
    distance_km: float | None


class Catalog:
    def __init__(self, store: Store, seed: Seed) -> None:
        self._store = store
        self._seed = seed
        store.install(SCHEMA)
        now = time.time()
        with store.transaction():
            for v_index, vendor in enumerate(seed.vendors):
                for i_index, item in enumerate(vendor.items):
                    created = now - (v_index * 100 + i_index) * 1e-3  # newest first = seed order
                    store.execute(
                        "INSERT OR IGNORE INTO items (id, vendor_id, name, keywords, price, available, "
                        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (item.id, vendor.id, item.name, json.dumps(item.keywords), item.price,
                         int(item.available), created, created),
                    )  # fmt: skip

    # -- reading -----------------------------------------------------------------------------------

    def item(self, item_id: str) -> Item | None:
        row = self._store.fetchone("SELECT * FROM items WHERE id = ?", (item_id,))
        return None if row is None else _item(row)

    def vendor_items(self, vendor_id: str) -> list[Item]:
        """A vendor's current items, newest first (what a vendor just added shows at the top)."""
        rows = self._store.fetchall(
            "SELECT * FROM items WHERE vendor_id = ? AND removed = 0 ORDER BY created_at DESC, id",
            (vendor_id,),
        )
        return [_item(r) for r in rows]

    def search(
        self,
        query: str,
        *,
        area: str | None = None,
        include_unavailable: bool = False,
        exclude_vendor: str | None = None,
        ranked: bool = True,
        limit: int = MAX_OFFERS,
    ) -> list[Offer]:
        wanted = tokens(query)
        if not wanted:
            return []
        rows = self._store.fetchall("SELECT * FROM items WHERE removed = 0")
        scored: list[tuple[int, Item]] = []
        for row in rows:
            item = _item(row)
            if (not item.available and not include_unavailable) or item.vendor_id == exclude_vendor:
                continue
            hits = _hits(wanted, item)
            if hits:
                scored.append((hits, item))
        if not scored:
            return []
        best = max(hits for hits, _ in scored)
        centre = AREAS.get(area) if area else None
        offers = []
        for hits, item in scored:
            vendor = self._seed.vendor(item.vendor_id)
            if hits == best and vendor is not None:
                offers.append(make_offer(item, vendor, centre))
        if ranked:
            offers.sort(key=lambda o: (-o.score, o.item.price, o.item.id))
        else:
            offers.sort(key=lambda o: (o.item.price, o.item.id))
        return offers[:limit]

    # -- vendor edits --------------------------------------------------------------------------------

    def add_item(self, vendor_id: str, name: str, price: int) -> Item:
        base = f"{vendor_id.removeprefix('v-')[:12]}-{_slug(name)}"
        item_id, n = base, 1
        now = time.time()
        keywords = json.dumps(sorted({singular(w) for w in words(name) if len(w) > 1}))
        with self._store.transaction():
            while self._store.fetchone("SELECT 1 FROM items WHERE id = ?", (item_id,)) is not None:
                n += 1
                item_id = f"{base}-{n}"
            self._store.execute(
                "INSERT INTO items (id, vendor_id, name, keywords, price, available, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                (item_id, vendor_id, name, keywords, price, now, now),
            )
        added = self.item(item_id)
        assert added is not None
        return added

    def set_price(self, item_id: str, price: int) -> None:
        self._store.execute(
            "UPDATE items SET price = ?, updated_at = ? WHERE id = ?", (price, time.time(), item_id)
        )

    def set_available(self, item_id: str, available: bool) -> None:
        self._store.execute(
            "UPDATE items SET available = ?, updated_at = ? WHERE id = ?",
            (int(available), time.time(), item_id),
        )

    def remove(self, item_id: str) -> None:
        """Soft delete: orders keep pointing at the item; buyers and the menu no longer see it."""
        self._store.execute(
            "UPDATE items SET removed = 1, updated_at = ? WHERE id = ?", (time.time(), item_id)
        )


def _item(r: sqlite3.Row) -> Item:
    return Item(
        id=r["id"],
        vendor_id=r["vendor_id"],
        name=r["name"],
        keywords=tuple(json.loads(r["keywords"])),
        price=int(r["price"]),
        available=bool(r["available"]),
        removed=bool(r["removed"]),
    )


def _hits(wanted: set[str], item: Item) -> int:
    """How many of the query words the item's name or keywords cover (prefixes of 4+ letters count)."""
    have = {singular(w) for w in words(item.name)} | {singular(k) for k in item.keywords}
    return sum(1 for w in wanted if any(_same_word(w, h) for h in have))


def _same_word(a: str, b: str) -> bool:
    if a == b:
        return True
    return min(len(a), len(b)) >= 4 and (a.startswith(b) or b.startswith(a))


def make_offer(item: Item, vendor: Vendor, centre: tuple[float, float] | None) -> Offer:
    score = vendor.rating / 5 * 0.6 + (0.2 if vendor.verified else 0.0)
    distance = None
    if centre is not None:
        distance = distance_km(centre, (vendor.lat, vendor.lng))
        score += 0.2 * max(0.0, 1 - distance / MATCH_RADIUS_KM)
    return Offer(item, vendor, round(score, 6), distance)


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:24].rstrip("-") or "item"
