"""The load test's journey mix: weights, think time, and errors that point at file:line."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from easymo_qa.load.driver import LoadSession
from easymo_qa.load.mix import MixError, load_mix
from easymo_qa.load.samples import LatencyRecorder
from easymo_qa.load.summary import LoadRunInfo, build_summary, format_table, merge_identity_counts

REPO = Path(__file__).resolve().parents[2]
JOURNEY = """\
journey: {name}
title: T
actors:
  user: {{role: user}}
  staff: {{role: station, phone: "250788200001"}}
steps:
  - actor: user
    send: "hi"
    expect: {{kind: list}}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("a", "b"):
        (tmp_path / f"{name}.journey.yaml").write_text(JOURNEY.format(name=name), encoding="utf-8")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "mix.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_mix_loads() -> None:
    mix = load_mix(REPO / "loadtests" / "mix.yaml")
    assert mix.entries
    assert "home-menu" in mix.describe()


def test_weights_decide_how_often_a_journey_is_picked(folder: Path) -> None:
    mix = load_mix(
        write(
            folder,
            "think_seconds: [0.5, 2]\njourneys:\n  - {journey: a.journey.yaml, weight: 3}\n"
            "  - {journey: b.journey.yaml, weight: 1}\n",
        )
    )
    rng = random.Random(7)
    picks = Counter(mix.pick(rng).journey.journey for _ in range(8000))
    assert picks["a"] / 8000 == pytest.approx(0.75, abs=0.02)
    assert mix.think_seconds == (0.5, 2.0)
    assert 0.5 <= mix.think(rng) <= 2.0
    assert mix.pinned_phones() == {"250788200001"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("journeys:\n  - {journey: missing.journey.yaml}\n", 2, "does not exist"),
        ("journeys:\n  - journey: a.journey.yaml\n    weight: 0\n", 3, "weight must be a whole number"),
        ("journeys:\n  - journey: a.journey.yaml\n    wieght: 2\n", 3, "unknown key 'wieght'"),
        ("think_seconds: [3, 1]\njourneys:\n  - {journey: a.journey.yaml}\n", 1, "min <= max"),
        ("journeys: []\n", 1, "at least one"),
        ("jouneys:\n  - {journey: a.journey.yaml}\n", 1, "unknown key 'jouneys'"),
        ("journeys:\n  - {weight: 2}\n", 2, "'journey'"),
    ],
)
def test_errors_point_at_the_mix_file_line(folder: Path, text: str, line: int, message: str) -> None:
    path = write(folder, text)
    with pytest.raises(MixError, match=message) as excinfo:
        load_mix(path)
    assert f"{path}:{line}:" in str(excinfo.value)


def test_an_invalid_journey_file_names_both_files(folder: Path) -> None:
    (folder / "bad.journey.yaml").write_text("journey: bad\ntitle: T\nactors: {}\nsteps:\n  - {nope: 1}\n")
    path = write(folder, "journeys:\n  - {journey: a.journey.yaml}\n  - {journey: bad.journey.yaml}\n")
    with pytest.raises(MixError) as excinfo:
        load_mix(path)
    text = str(excinfo.value)
    assert f"{path}:3:" in text
    assert f"{folder / 'bad.journey.yaml'}:5" in text


# --- kinds of WhatsApp user: identities ---------------------------------------------------------------------

KINDED = """\
journey: kinded
title: T
actors:
  buyer: {role: buyer}
  other: {role: user, identity: phone_and_username}
  staff: {role: station, phone: "250788200001"}
steps:
  - actor: buyer
    send: "hi"
    expect: {kind: list}
"""
SHARES = "identities: {phone: 0.6, phone_and_username: 0.2, username_only: 0.2}\n"


def test_shipped_mix_has_users_of_every_kind() -> None:
    mix = load_mix(REPO / "loadtests" / "mix.yaml")
    assert dict(mix.identities) == {"phone": 0.6, "phone_and_username": 0.2, "username_only": 0.2}
    assert "users: phone 60%, phone_and_username 20%, username_only 20%" in mix.describe()
    # MoMo asks a username-only buyer for a number first (R-PAY-13): a journey whose fresh actor pays by
    # MoMo, as written, is for users whose phone the bot sees; username-only-buyer is written for them.
    for entry in mix.entries:
        actors = entry.journey.actors
        payers = {
            s.actor
            for s in entry.journey.steps
            if str(s.tap or s.choose or "").startswith(("pay_momo", "topup"))
        }
        fresh = {a for a in payers if not actors[a].phone and "identity" not in actors[a].model_fields_set}
        if fresh:
            assert "username_only" not in entry.identities, entry.journey.journey
    only = {e.journey.journey for e in mix.entries if e.identities == ("username_only",)}
    assert only == {"username-only-buyer"}
    rng = random.Random(3)
    assert {mix.pick(rng, "username_only").journey.journey for _ in range(300)} <= {
        e.journey.journey for e in mix.entries if "username_only" in e.identities
    }


def test_an_entry_is_played_only_by_the_kinds_it_lists(folder: Path) -> None:
    mix = load_mix(
        write(
            folder,
            SHARES
            + "journeys:\n  - {journey: a.journey.yaml, weight: 3, identities: [phone, phone_and_username]}\n"
            "  - {journey: b.journey.yaml, weight: 1}\n",
        )
    )
    assert mix.entries[0].identities == ("phone", "phone_and_username")
    assert "a 75% (phone/phone_and_username users), b 25%;" in mix.describe()
    rng = random.Random(1)
    assert {mix.pick(rng, "username_only").journey.journey for _ in range(200)} == {"b"}
    phone = Counter(mix.pick(rng, "phone").journey.journey for _ in range(4000))
    assert phone["a"] / 4000 == pytest.approx(0.75, abs=0.03)  # the weights, among the entries open to it
    assert Counter(mix.pick(rng).journey.journey for _ in range(4000))["a"] / 4000 == pytest.approx(
        0.75, abs=0.03
    )


def test_without_identities_every_load_user_is_a_phone_user(folder: Path) -> None:
    mix = load_mix(write(folder, "journeys:\n  - {journey: a.journey.yaml}\n"))
    assert mix.identities == (("phone", 1.0),)
    assert {mix.next_kind({"phone": n}) for n in range(5)} == {"phone"}


def test_load_users_split_by_the_shares_as_closely_as_whole_users_can(folder: Path) -> None:
    mix = load_mix(write(folder, SHARES + "journeys:\n  - {journey: a.journey.yaml}\n"))
    started: Counter[str] = Counter()
    for n in range(1, 31):
        started[mix.next_kind(started)] += 1
        for kind, share in mix.identities:  # never a whole user away from its share, at any count
            assert abs(started[kind] - share * n) < 1, (n, dict(started))
    assert started == Counter({"phone": 18, "phone_and_username": 6, "username_only": 6})
    few: Counter[str] = Counter()
    for _ in range(5):
        few[mix.next_kind(few)] += 1
    assert few == Counter({"phone": 3, "phone_and_username": 1, "username_only": 1})  # every kind early


def test_fresh_actors_play_the_users_kind_staff_and_named_identities_do_not(folder: Path) -> None:
    (folder / "kinded.journey.yaml").write_text(KINDED, encoding="utf-8")
    mix = load_mix(write(folder, SHARES + "journeys:\n  - {journey: kinded.journey.yaml}\n"))
    journey = mix.entries[0].journey
    played = mix.played_as(journey, "username_only")
    assert {n: a.identity for n, a in played.actors.items()} == {
        "buyer": "username_only",  # fresh: the load user's kind
        "other": "phone_and_username",  # the journey file says who this actor is
        "staff": "phone",  # seeded staff stay phone users
    }
    assert journey.actors["buyer"].identity == "phone"  # the loaded journey is left as it was
    assert (played.steps, played.source) == (journey.steps, journey.source)
    assert mix.played_as(journey, "username_only") is played  # made once per journey and kind
    assert mix.played_as(journey, "phone").actors["buyer"].identity == "phone"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("identities:\n  phone: 0.5\n  email_only: 0.5\n", 3, "unknown kind of user 'email_only'"),
        ("identities:\n  phone: 1.5\n", 2, "a number from 0 to 1, got 1.5"),
        ("identities:\n  phone: true\n", 2, "a number from 0 to 1, got True"),
        ("identities:\n  phone: '0.6'\n  username_only: 0.4\n", 2, "a number from 0 to 1, got '0.6'"),
        ("identities:\n  phone: 0.6\n  username_only: 0.2\n", 1, "add up to 0.8, not 1"),
        ("identities: [phone, username_only]\n", 1, "identities maps kinds of user"),
        ("identities: {}\n", 1, "identities maps kinds of user"),
        ("identitees: {phone: 1}\n", 1, "unknown key 'identitees'"),
    ],
)
def test_identities_errors_point_at_the_mix_file_line(
    folder: Path, text: str, line: int, message: str
) -> None:
    path = write(folder, "journeys:\n  - {journey: a.journey.yaml}\n" + text)
    with pytest.raises(MixError, match=message) as excinfo:
        load_mix(path)
    assert f"{path}:{line + 2}:" in str(excinfo.value)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "  - journey: a.journey.yaml\n    identities: [phone, email_only]\n",
            4,
            "unknown kind of user 'email_only'",
        ),
        ("  - journey: a.journey.yaml\n    identities: phone\n", 4, "identities lists kinds of user"),
        ("  - journey: a.journey.yaml\n    identities: []\n", 4, "identities lists kinds of user"),
        (
            "  - {journey: a.journey.yaml, identities: [phone]}\n",
            1,
            "no journey of the mix is open to username_only users",
        ),
    ],
)
def test_entry_identities_errors_point_at_the_mix_file_line(
    folder: Path, text: str, line: int, message: str
) -> None:
    path = write(folder, "identities: {phone: 0.5, username_only: 0.5}\njourneys:\n" + text)
    with pytest.raises(MixError, match=message) as excinfo:
        load_mix(path)
    assert f"{path}:{line}:" in str(excinfo.value)


def test_the_load_summary_counts_users_and_journeys_by_kind(folder: Path) -> None:
    mix = load_mix(write(folder, SHARES + "journeys:\n  - {journey: a.journey.yaml}\n"))
    session = LoadSession(None, mix, None, None, None)  # type: ignore[arg-type]  # only the counts
    kinds = [session.new_user_kind() for _ in range(5)]
    for kind in kinds + kinds[:2]:  # the journeys those users played
        session.journeys_by_kind[kind] += 1
    worker = session.identity_counts()
    assert worker == {
        "phone": {"users": 3, "journeys": 4},
        "phone_and_username": {"users": 1, "journeys": 2},
        "username_only": {"users": 1, "journeys": 1},
    }
    merged = merge_identity_counts([worker, {"username_only": {"users": 2, "journeys": 7}}])
    assert merged["username_only"] == {"users": 3, "journeys": 8}
    run = LoadRunInfo("ci", "local", 1000.0, 1030.0, users=7, identities=merged)
    summary = build_summary(LatencyRecorder(), run, "x")
    assert summary["identities"] == merged
    assert format_table(summary)[-1] == (
        "users by kind of WhatsApp identity: phone 3 (4 journeys), phone_and_username 1 (2 journeys), "
        "username_only 3 (8 journeys)"
    )
    empty = build_summary(LatencyRecorder(), LoadRunInfo("ci", "local", 1000.0, 1030.0, users=0), "x")
    assert empty["identities"] == {}
