"""The seeded marketplace: vendors (with their station and items), drivers and admins, from YAML.

``fixtures/seed/marketplace.yaml`` (or ``$REFERENCE_SEED_DIR/marketplace.yaml``) is loaded once at startup.
Every mapping keeps the line it started on, so a bad value is refused as ``file:line: what is wrong``
(``__main__`` turns a ``SeedError`` into exit status 2). Seeded numbers must be Rwandan MTN-style
``2507XXXXXXXX`` and must stay out of the test-user range ``25079…``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PHONE = re.compile(r"2507[0-9]{8}")
TEST_USER_PREFIX = "25079"
ID = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
SHORT_MAX = 10
# A catalogue import may carry long names; 72 is the most a list row shows (its description's limit).
ITEM_NAME_MAX = 72


class SeedError(ValueError):
    """The seed file is missing or invalid; the message starts with ``file:line``."""


@dataclass(frozen=True)
class SeedItem:
    id: str
    name: str
    keywords: tuple[str, ...]
    price: int
    available: bool


@dataclass(frozen=True)
class Station:
    id: str
    name: str
    vendor_id: str
    staff: tuple[str, ...]


@dataclass(frozen=True)
class Vendor:
    id: str
    name: str
    short: str
    area: str
    owner: str
    rating: float
    verified: bool
    lat: float
    lng: float
    station: Station
    items: tuple[SeedItem, ...]


@dataclass(frozen=True)
class Driver:
    phone: str
    name: str
    on_duty: bool


@dataclass(frozen=True)
class Seed:
    vendors: tuple[Vendor, ...]
    drivers: tuple[Driver, ...]
    admins: tuple[str, ...]

    def vendor(self, vendor_id: str) -> Vendor | None:
        return next((v for v in self.vendors if v.id == vendor_id), None)

    def vendor_of_owner(self, phone: str) -> Vendor | None:
        return next((v for v in self.vendors if v.owner == phone), None)

    def station(self, station_id: str) -> Station | None:
        return next((v.station for v in self.vendors if v.station.id == station_id), None)

    def station_of_staff(self, phone: str) -> Station | None:
        return next((v.station for v in self.vendors if phone in v.station.staff), None)

    def driver(self, phone: str) -> Driver | None:
        return next((d for d in self.drivers if d.phone == phone), None)

    def is_admin(self, phone: str) -> bool:
        return phone in self.admins

    def is_seeded_actor(self, phone: str) -> bool:
        """Vendors, station staff, drivers and admins: business accounts, not shoppers."""
        return bool(
            self.vendor_of_owner(phone) or self.station_of_staff(phone) or self.driver(phone)
        ) or self.is_admin(phone)


class _Marked(dict[str, Any]):
    line: int = 0


class _Loader(yaml.SafeLoader):
    """A SafeLoader whose mappings remember the (1-based) line they start on."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Marked:
    mapping = _Marked(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_seed(path: Path) -> Seed:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(f"{path}: cannot read the seed file ({exc.strerror or exc})") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise SeedError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return _Validator(path).seed(data)


class _Validator:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids: set[str] = set()
        self.phones: set[str] = set()

    def fail(self, node: Any, message: str) -> SeedError:
        line = getattr(node, "line", 0)
        return SeedError(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")

    def mapping(self, node: Any, where: str, required: set[str], optional: set[str], parent: Any) -> _Marked:
        if not isinstance(node, _Marked):
            raise self.fail(parent, f"{where} must be a mapping")
        unknown = sorted(node.keys() - required - optional)
        if unknown:  # first: a misspelt key is also a missing one, and this says which
            valid = ", ".join(sorted(required | optional))
            raise self.fail(node, f"{where} has unknown key(s) {', '.join(unknown)}; valid keys: {valid}")
        missing = sorted(required - node.keys())
        if missing:
            raise self.fail(node, f"{where} is missing {', '.join(missing)}")
        return node

    def text(self, node: _Marked, key: str, where: str, *, max_len: int = 60) -> str:
        value = node[key]
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > max_len:
            raise self.fail(node, f"{where}.{key} must be a non-empty string of at most {max_len} characters")
        return value.strip()

    def ident(self, node: _Marked, where: str) -> str:
        value = node.get("id")
        if not isinstance(value, str) or not ID.fullmatch(value):
            raise self.fail(node, f"{where}.id must match {ID.pattern}, got {value!r}")
        if value in self.ids:
            raise self.fail(node, f"{where}.id {value!r} is used twice")
        self.ids.add(value)
        return value

    def phone(self, node: _Marked, value: Any, where: str) -> str:
        if not isinstance(value, str) or not PHONE.fullmatch(value):
            raise self.fail(node, f"{where} must be a quoted phone number 2507XXXXXXXX, got {value!r}")
        if value.startswith(TEST_USER_PREFIX):
            raise self.fail(node, f"{where} {value} is in the test-user range {TEST_USER_PREFIX}…")
        if value in self.phones:
            raise self.fail(node, f"{where} {value} is seeded twice")
        self.phones.add(value)
        return value

    def number(self, node: _Marked, key: str, where: str, low: float, high: float) -> float:
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise self.fail(node, f"{where}.{key} must be a number between {low} and {high}, got {value!r}")
        return float(value)

    def flag(self, node: _Marked, key: str, where: str, default: bool) -> bool:
        value = node.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(node, f"{where}.{key} must be true or false, got {value!r}")
        return value

    def items(self, node: Any, where: str, parent: _Marked) -> list[Any]:
        if not isinstance(node, list) or not node:
            raise self.fail(parent, f"{where} must be a non-empty list")
        return node

    def seed(self, data: Any) -> Seed:
        root = self.mapping(data, "the seed", {"vendors", "drivers", "admins"}, set(), None)
        vendors = tuple(
            self.vendor(v, f"vendors[{i}]", root)
            for i, v in enumerate(self.items(root["vendors"], "vendors", root))
        )
        drivers = tuple(
            self.driver(d, f"drivers[{i}]", root)
            for i, d in enumerate(self.items(root["drivers"], "drivers", root))
        )
        admins = tuple(
            self.phone(root, a, f"admins[{i}]")
            for i, a in enumerate(self.items(root["admins"], "admins", root))
        )
        return Seed(vendors, drivers, admins)

    def vendor(self, node: Any, where: str, parent: _Marked) -> Vendor:
        keys = {"id", "name", "short", "area", "owner", "rating", "verified", "location", "station", "items"}
        node = self.mapping(node, where, keys, set(), parent)
        vendor_id = self.ident(node, where)
        location = self.mapping(node["location"], f"{where}.location", {"lat", "lng"}, set(), node)
        station_node = self.mapping(node["station"], f"{where}.station", {"id", "name", "staff"}, set(), node)
        staff = self.items(station_node["staff"], f"{where}.station.staff", station_node)
        station = Station(
            id=self.ident(station_node, f"{where}.station"),
            name=self.text(station_node, "name", f"{where}.station"),
            vendor_id=vendor_id,
            staff=tuple(
                self.phone(station_node, s, f"{where}.station.staff[{i}]") for i, s in enumerate(staff)
            ),
        )
        items = self.items(node["items"], f"{where}.items", node)
        return Vendor(
            id=vendor_id,
            name=self.text(node, "name", where),
            short=self.text(node, "short", where, max_len=SHORT_MAX),
            area=self.text(node, "area", where),
            owner=self.phone(node, node["owner"], f"{where}.owner"),
            rating=self.number(node, "rating", where, 0, 5),
            verified=self.flag(node, "verified", where, False),
            lat=self.number(location, "lat", f"{where}.location", -3.0, -1.0),
            lng=self.number(location, "lng", f"{where}.location", 28.8, 31.0),
            station=station,
            items=tuple(self.item(item, f"{where}.items[{i}]", node) for i, item in enumerate(items)),
        )

    def item(self, node: Any, where: str, parent: _Marked) -> SeedItem:
        node = self.mapping(node, where, {"id", "name", "price"}, {"keywords", "available"}, parent)
        price = node["price"]
        if isinstance(price, bool) or not isinstance(price, int) or not 0 < price <= 10_000_000:
            raise self.fail(
                node, f"{where}.price must be a whole number of RWF from 1 to 10,000,000, got {price!r}"
            )
        keywords = node.get("keywords", [])
        if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
            raise self.fail(node, f"{where}.keywords must be a list of words")
        return SeedItem(
            id=self.ident(node, where),
            name=self.text(node, "name", where, max_len=ITEM_NAME_MAX),
            keywords=tuple(k.strip().lower() for k in keywords),
            price=price,
            available=self.flag(node, "available", where, True),
        )

    def driver(self, node: Any, where: str, parent: _Marked) -> Driver:
        node = self.mapping(node, where, {"phone", "name"}, {"on_duty"}, parent)
        return Driver(
            phone=self.phone(node, node["phone"], f"{where}.phone"),
            name=self.text(node, "name", where, max_len=40),
            on_duty=self.flag(node, "on_duty", where, True),
        )
