"""The reference service's pure parts: flags and the rollout hash, query reading, LLM answer validation,
seed validation, the order state machine, ranking, prices, rate windows and the new settings."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reference.agents.vendor import parse_price
from reference.catalog import Catalog
from reference.clients.llm import Chat, SearchCall, parse_completion
from reference.clients.payments import sign, verify_signature
from reference.config import ConfigError, Settings
from reference.flags import FlagError, Flags, java_string_hash, rollout_bucket
from reference.observability import EventLog
from reference.orders import InvalidTransitionError, Line, Orders
from reference.ratelimit import RateLimiter
from reference.seed import SeedError, load_seed
from reference.store import Store
from reference.textsearch import AREAS, distance_km, parse_query

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "fixtures" / "seed" / "marketplace.yaml"
REQUIRED_ENV = {
    "WA_APP_SECRET": "s",
    "WA_VERIFY_TOKEN": "v",
    "WA_PHONE_ID": "1",
    "WA_TOKEN": "t",
    "WA_GRAPH_BASE_URL": "http://127.0.0.1:9",
    "REFERENCE_DB_PATH": "/tmp/x.sqlite3",
    "ADMIN_TOKEN": "a",
}


# -- flags ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("a", 97),
        ("ab", 97 * 31 + 98),  # 3105
        ("abc", (97 * 31 + 98) * 31 + 99),  # 96354
        ("Aa", 2112),
        ("BB", 2112),  # Java's classic collision
        ("hello", 99162322),
        ("polygenelubricants", -(2**31)),  # wraps to Integer.MIN_VALUE
        ("😀", 0xD83D * 31 + 0xDE00),  # UTF-16: a surrogate pair counts as two units
    ],
)
def test_java_string_hash(text: str, expected: int) -> None:
    assert java_string_hash(text) == expected


def _independent_bucket(phone: str) -> int:
    h = ctypes.c_int32(0)
    for unit in json.dumps(f"{phone}:ai_agents").strip('"').encode("utf-16-le")[::2]:
        h = ctypes.c_int32(31 * h.value + unit)
    return abs(h.value) % 100


def test_rollout_bucket_is_deterministic_and_matches_an_independent_count() -> None:
    phones = [f"2507900{n:05d}" for n in range(200)]
    buckets = [rollout_bucket(p) for p in phones]
    assert buckets == [_independent_bucket(p) for p in phones]
    assert buckets == [rollout_bucket(p) for p in phones]
    assert len(set(buckets)) > 50  # spread over the 100 buckets


def test_flag_decisions() -> None:
    phone = "250790000001"
    assert Flags().decide("buyer", phone).enabled
    assert not Flags().decide("marketplace", phone).enabled
    assert Flags().decide("marketplace", phone, force_on=True).enabled
    assert Flags(ai_agents=False).decide("buyer", phone).reason == "ai_agents_off"
    assert not Flags(rollout_percentage=0).decide("buyer", phone).enabled
    inside = Flags(rollout_percentage=rollout_bucket(phone) + 1).decide("buyer", phone)
    outside = Flags(rollout_percentage=rollout_bucket(phone)).decide("buyer", phone)
    assert (inside.enabled, outside.reason) == (True, "outside_rollout")


def test_flags_from_env() -> None:
    flags = Flags.from_env(
        {
            "FEATURE_AI_AGENTS": "YES",
            "FEATURE_BUYER_AGENT": "off",
            "FEATURE_VENDOR_AGENT": "banana",
            "FEATURE_MARKETPLACE_AGENT": " On ",
            "FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": "25",
        }
    )
    assert flags.ai_agents
    assert flags.rollout_percentage == 25
    assert flags.agents["buyer"] is False
    assert flags.agents["vendor"] is False
    assert flags.agents["marketplace"] is True
    assert flags.agents["station"] is True
    assert Flags.from_env({"FEATURE_AI_AGENTS": "0"}).ai_agents is False
    for bad in ("abc", "101", "-1"):
        with pytest.raises(FlagError, match="FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE"):
            Flags.from_env({"FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": bad})


# -- settings -------------------------------------------------------------------------------------------


def test_new_settings_defaults_and_values() -> None:
    settings = Settings.from_env(REQUIRED_ENV)
    assert (settings.llm_base_url, settings.llm_model, settings.agent_timeout_ms) == (
        "",
        "gpt-4o-mini",
        30000,
    )
    assert (settings.agent_max_retries, settings.agent_retry_base_ms, settings.rate_limit_per_user) == (
        5,
        200,
        60,
    )
    assert settings.delivery_fee_rwf == 500
    assert settings.callback_url == "http://127.0.0.1:8000/payments/callback"
    assert settings.seed_path == SEED
    custom = Settings.from_env(
        {**REQUIRED_ENV, "LLM_BASE_URL": "http://llm:1/", "REFERENCE_PUBLIC_URL": "https://sut.example/"}
    )
    assert custom.llm_base_url == "http://llm:1"
    assert custom.callback_url == "https://sut.example/payments/callback"
    with pytest.raises(ConfigError, match="PAYMENTS_BASE_URL"):
        Settings.from_env({**REQUIRED_ENV, "PAYMENTS_BASE_URL": "ftp://x"})
    with pytest.raises(ConfigError, match="AGENT_MAX_RETRIES"):
        Settings.from_env({**REQUIRED_ENV, "AGENT_MAX_RETRIES": "many"})


# -- reading the buyer's text and the LLM's answer -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "query", "quantity", "area"),
    [
        ("2 jerrycans of water near Kimironko", "jerrycan water", 2, "Kimironko"),
        ("I need rice please", "rice", 1, None),
        ("Muraho neza! Ndashaka amazi kabiri i Remera", "amazi", 2, "Remera"),
        ("three eggs trays", "egg tray", 3, None),
        ("مرحبا، أريد طلب ماء", "مرحبا أريد طلب ماء", 1, None),
    ],
)
def test_parse_query(text: str, query: str, quantity: int, area: str | None) -> None:
    parsed = parse_query(text)
    assert (parsed.query, parsed.quantity, parsed.area) == (query, quantity, area)


def _answer(message: dict) -> dict:
    return {"choices": [{"message": message, "finish_reason": "stop"}]}


def _call(arguments: object, name: str = "search_offers") -> dict:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return _answer({"tool_calls": [{"type": "function", "function": {"name": name, "arguments": raw}}]})


def test_parse_completion_accepts_valid_answers() -> None:
    assert parse_completion(_call({"query": " water ", "quantity": 2, "area": "Remera"})) == SearchCall(
        "water", 2, "Remera"
    )
    assert parse_completion(_call({"query": "rice"})) == SearchCall("rice", 1, None)
    assert parse_completion(_answer({"content": "What would you like?"})) == Chat("What would you like?")


@pytest.mark.parametrize(
    "payload",
    [
        _call({"query": "water"}, name="search_everything"),
        _call("{not json"),
        _call("[1, 2]"),
        _call({"query": 7}),
        _call({"query": "water", "quantity": "2"}),
        _call({"query": "water", "quantity": 0}),
        _call({"query": "water", "area": 3}),
        _answer({"content": ""}),
        _answer("text"),
        {"choices": []},
        {},
    ],
)
def test_parse_completion_refuses_anything_else(payload: dict) -> None:
    with pytest.raises((ValueError, KeyError, IndexError, TypeError)):
        parse_completion(payload)


def test_callback_signature() -> None:
    body = b'{"referenceId":"r"}'
    assert verify_signature(body, sign(body, "k"), "k")
    assert verify_signature(body, sign(body, "k").upper().replace("SHA256=", "sha256="), "k")
    assert not verify_signature(body, sign(body, "other"), "k")
    assert not verify_signature(body, sign(body, "k"), "")  # no secret configured: refuse everything
    assert not verify_signature(body + b" ", sign(body, "k"), "k")


# -- seed ----------------------------------------------------------------------------------------------------


def test_the_shipped_seed_loads() -> None:
    seed = load_seed(SEED)
    areas = ["Kimironko", "Remera", "Nyamirambo", "Kicukiro", "Gikondo", "Kacyiru", "Kanombe", "Gisozi"]
    areas += ["Kinyinya", "Kagugu"]
    assert [v.area for v in seed.vendors] == areas
    assert all(len(v.short) <= 10 for v in seed.vendors)
    assert len(seed.drivers) == 3
    assert seed.admins == ("250788400001",)
    water = [i.price for v in seed.vendors for i in v.items if i.name == "Water 20L jerrycan"]
    assert len(set(water)) == len(water) >= 2
    assert seed.is_seeded_actor("250788200001")
    assert not seed.is_seeded_actor("250790000001")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("short: Kimironko", "short: KimironkoXL"), "short must be a non-empty string of at most 10"),
        (('owner: "250788100002"', 'owner: "250790000002"'), "test-user range"),
        (('owner: "250788100002"', 'owner: "250788100001"'), "seeded twice"),
        (("price: 2800}", "price: 0}"), "price must be a whole number"),
        (("rating: 4.1", "rating: 7"), "rating must be a number between 0 and 5"),
        (("id: rem-sugar-1kg", "id: kim-rice-5kg"), "is used twice"),
        (("verified: false", "verifed: false"), "unknown key(s) verifed"),
        (
            (
                '  - {phone: "250788300003", name: Eric, on_duty: true}',
                "  - {phone: 250788300003, name: Eric}",
            ),
            "quoted",
        ),
    ],
)
def test_seed_errors_point_at_the_line(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = SEED.read_text(encoding="utf-8")
    assert change[0] in text
    line = text[: text.index(change[0])].count("\n") + 1  # the mapping may start a few lines above
    bad = tmp_path / "marketplace.yaml"
    bad.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(SeedError) as caught:
        load_seed(bad)
    assert str(caught.value).startswith(f"{bad}:"), caught.value
    assert message in str(caught.value)
    reported = int(str(caught.value)[len(str(bad)) + 1 :].split(":")[0])
    assert 0 <= line - reported <= 10, caught.value


def test_bad_seed_exits_2(tmp_path: Path) -> None:
    (tmp_path / "marketplace.yaml").write_text("vendors: []\ndrivers: []\nadmins: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "reference"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **REQUIRED_ENV, "REFERENCE_SEED_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"{tmp_path / 'marketplace.yaml'}:1: vendors must be a non-empty list" in result.stderr


# -- orders, catalog, prices, rate windows ------------------------------------------------------------------


def test_order_state_machine_refuses_skips_and_races() -> None:
    store = Store.open(":memory:")
    orders = Orders(store, EventLog(store))
    order = orders.create(
        "250790000001", "v-kimironko", "st-kimironko", Line("i", "Item", 2, 1500), 500, "c1"
    )
    assert (order.state, order.subtotal, order.total) == ("pending_payment", 3000, 3500)
    assert order.id.startswith("ORD-")
    assert len(order.id) == 10
    with pytest.raises(InvalidTransitionError) as skipped:
        orders.transition(order.id, "delivered", "c2")
    assert (skipped.value.current, skipped.value.wanted) == ("pending_payment", "delivered")
    paid = orders.mark_paid(order.id, "wallet", None, "c3")
    assert paid.delivery_code is not None
    assert len(paid.delivery_code) == 4
    assert paid.delivery_code.isdigit()
    with pytest.raises(InvalidTransitionError):
        orders.mark_paid(order.id, "momo", "ref", "c4")  # paid once only
    assert [h["to"] for h in orders.history(order.id)] == ["pending_payment", "paid"]
    events = store.query_events(name="order_state_changed", order_id=order.id)
    assert [(e["data"]["from"], e["data"]["to"], e["correlation_id"]) for e in events] == [
        (None, "pending_payment", "c1"),
        ("pending_payment", "paid", "c3"),
    ]


def test_catalog_ranks_matches() -> None:
    store = Store.open(":memory:")
    catalog = Catalog(store, load_seed(SEED))
    water = catalog.search("water jerrycan", area="Nyamirambo")
    assert [o.item.id for o in water] == ["kim-water-20l", "rem-water-20l", "nya-water-20l"]
    assert water[2].distance_km is not None
    assert water[2].distance_km < 0.5
    assert [o.item.id for o in catalog.search("water", ranked=False)] == [
        "nya-water-20l",
        "rem-water-20l",
        "kim-water-20l",
        "kac-filter",
    ]
    eggs = catalog.search("amagi")  # rem-eggs is seeded as paused
    assert [o.item.id for o in eggs] == ["kim-eggs-30", "kic-eggs-30"]
    assert "rem-eggs-30" in [o.item.id for o in catalog.search("amagi", include_unavailable=True)]
    assert catalog.search("the please") == []
    assert [o.item.id for o in catalog.search("gas", exclude_vendor="v-kicukiro")] == ["rem-gas-12kg"]


@pytest.mark.parametrize("area", sorted(AREAS))
def test_every_named_area_is_a_kigali_neighbourhood(area: str) -> None:
    # A typo in one centre (-0.938 for -1.938) sends "near <area>" rankings 110 km off.
    kigali = (-1.95, 30.06)
    assert distance_km(kigali, AREAS[area]) < 8, f"{area} at {AREAS[area]} is not in Kigali"
    store = Store.open(":memory:")
    offers = Catalog(store, load_seed(SEED)).search("water jerrycan", area=area)
    assert offers
    assert all(o.distance_km is not None and o.distance_km < 12 for o in offers)


@pytest.mark.parametrize(
    ("text", "price"),
    [("3500", 3500), ("3,500", 3500), ("3 500 RWF", 3500), ("1800frw", 1800), ("0", None), ("abc", None)],
)
def test_parse_price(text: str, price: int | None) -> None:
    assert parse_price(text) == price


def test_rate_limiter_windows() -> None:
    now = [0.0]
    limiter = RateLimiter(2, exempt=lambda p: p == "staff", clock=lambda: now[0])
    verdicts = [limiter.check("u") for _ in range(4)]
    assert [(v.allowed, v.notify) for v in verdicts] == [
        (True, False),
        (True, False),
        (False, True),
        (False, False),
    ]
    assert all(limiter.check("staff").allowed for _ in range(10))
    now[0] = 60.0
    assert limiter.check("u").allowed
    assert RateLimiter(0).check("u").allowed  # 0 turns the limit off
