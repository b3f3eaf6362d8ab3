"""The webhook reliability machinery (easymo_qa/reliability.py) and its sign-off evidence, without a SUT."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from signoff_evidence import stage_runs

from easymo_qa.gates import load_gates
from easymo_qa.reliability import (
    EventReader,
    Plan,
    SendResult,
    account,
    build_plan,
    kind_counts,
    send_plan,
    users_needed,
)
from easymo_qa.signoff.assess import assess
from easymo_qa.signoff.model import RunInfo
from easymo_qa.signoff.reliability import RELIABILITY_SCHEMA, ReliabilityResult, ReliabilityResultError
from easymo_qa.signoff.render import render_html, render_markdown
from easymo_qa.signoff.report import build_report
from easymo_qa.signoff.results import RunResults
from easymo_qa.target import Target
from easymo_qa.whatsapp.ids import parse_wamid
from easymo_qa.whatsapp.signing import SIGNATURE_HEADER, signature_for

REPO = Path(__file__).resolve().parents[2]
PHONES = [f"2507900000{i:02d}" for i in range(55)]


def test_users_needed_keeps_everyone_under_the_rate_limit() -> None:
    assert users_needed(1000, 55, 60) == (55, 19)
    users, per_user = users_needed(1000, 55, 10)
    assert per_user * 1.3 <= 10
    assert users * per_user >= 1000
    assert users_needed(1000, 55, 0) == (55, 19)  # no limit


def test_plan_shape() -> None:
    plan = build_plan(PHONES, 19, seed=7)
    copies = plan.copies()
    assert len(plan.messages) == 1045 == len(copies)
    assert 0.08 <= sum(n > 1 for n in copies.values()) / len(copies) <= 0.12  # ~10 % delivered twice
    assert 0.08 <= plan.batched / len(plan.messages) <= 0.12  # ~10 % in multi-message webhooks
    assert 0.05 <= plan.out_of_order / len(plan.messages) <= 0.15
    batches = [d for d in plan.deliveries if d.kind == "batch"]
    sizes = sorted(len(d.messages) for d in batches)  # shuffled: the short remainder may be anywhere
    assert all(2 <= n <= 5 for n in sizes[1:])
    assert any(len({m["from"] for m in d.messages}) > 1 for d in batches)  # several users in one webhook
    same = [d for d in plan.deliveries if d.kind == "retry_same_payload"]
    assert same
    assert all(d.messages[0]["id"] == d.messages[1]["id"] for d in same)
    kinds = Counter(d.kind for d in plan.deliveries)
    assert set(kinds) == {"single", "batch", "retry", "retry_same_payload"}
    backwards = 0
    for phone in PHONES:
        stamps = [int(plan.messages[w]["timestamp"]) for w in plan.wamids_of(phone)]
        assert len(stamps) == 19
        backwards += sum(later < earlier for earlier, later in zip(stamps, stamps[1:], strict=False))
    assert backwards == plan.out_of_order  # each one older than the message before it


def test_same_seed_same_shape() -> None:
    first, second = build_plan(PHONES, 19, seed=3), build_plan(PHONES, 19, seed=3)
    assert [d.kind for d in first.deliveries] == [d.kind for d in second.deliveries]
    assert [len(d.messages) for d in first.deliveries] == [len(d.messages) for d in second.deliveries]


# --- users of every kind -----------------------------------------------------------------------------------

TARGET = Target(
    env_name="unit", webhook_url="http://127.0.0.1:9/wa-webhook", app_secret="s3cret", verify_token="v",
    phone_number_id="123456789012345", display_phone_number="15550001111",
    admin_url="http://127.0.0.1:9", admin_token="admin-token",
)  # fmt: skip


@pytest.mark.parametrize(
    ("users", "shares", "expected"),
    [
        (55, {"phone": 0.6, "phone_and_username": 0.2, "username_only": 0.2}, (33, 11, 11)),
        (10, {"phone": 0.6, "phone_and_username": 0.2, "username_only": 0.2}, (6, 2, 2)),
        (2, {"phone": 0.6, "phone_and_username": 0.2, "username_only": 0.2}, (1, 1, 0)),  # ties: list order
        (7, {"username_only": 1}, (0, 0, 7)),
        (5, {"phone": 1, "username_only": 1}, (3, 0, 2)),  # relative, like weights
    ],
)
def test_kind_counts_add_up(users: int, shares: dict[str, float], expected: tuple[int, int, int]) -> None:
    counts = kind_counts(users, shares)
    assert (counts["phone"], counts["phone_and_username"], counts["username_only"]) == expected


@pytest.mark.parametrize("shares", [{"emailonly": 1.0}, {"phone": 0}, {"phone": -1, "username_only": 2}])
def test_kind_counts_refuse_bad_shares(shares: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="shares of phone, phone_and_username, username_only"):
        kind_counts(5, shares)


def test_storm_users_are_of_every_kind_and_keep_it() -> None:
    plan = build_plan(PHONES, 19, seed=7)
    assert plan.kinds() == Counter({"phone": 33, "phone_and_username": 11, "username_only": 11})
    assert build_plan(PHONES, 19, seed=7).identities == plan.identities  # seeded: a replay has the same
    hidden = [p for p in PHONES if not plan.identity(p).phone_visible]
    for phone in hidden:
        assert plan.label(phone) == plan.identity(phone).bsuid
        for wamid in plan.wamids_of(phone):  # the chat key of a username-only user's ids is its BSUID
            assert parse_wamid(wamid).phone == plan.identity(phone).bsuid
            assert phone not in wamid
    assert plan.label(PHONES[0]) in (PHONES[0], plan.identity(PHONES[0]).bsuid)


class Recorder:
    """An httpx.Client stand-in: records every POST and GET, answers 200."""

    def __init__(self, pages: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.posts: list[tuple[bytes, dict[str, str]]] = []
        self.gets: list[dict[str, Any]] = []
        self.pages = pages or {}

    def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> httpx.Response:
        self.posts.append((content, headers))
        return httpx.Response(200, request=httpx.Request("POST", url))

    def get(self, url: str, *, params: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        self.gets.append(params)
        who = params.get("user_id") or params.get("phone")
        events = self.pages.get(str(who), []) if params["after_id"] == 0 else []
        return httpx.Response(200, json={"events": events}, request=httpx.Request("GET", url))


def test_storm_webhooks_are_shaped_for_each_senders_kind() -> None:
    plan = build_plan(PHONES[:10], 4, seed=5)
    before = {w: dict(m) for w, m in plan.messages.items()}
    client = Recorder()
    results = send_plan(plan, client, TARGET, concurrency=4)  # type: ignore[arg-type]
    assert [r.status for r in results] == [200] * len(plan.deliveries)
    assert plan.messages == before  # the plan's items are never reshaped (threads share them)
    seen: Counter[str] = Counter()
    for body, headers in client.posts:
        assert headers[SIGNATURE_HEADER] == signature_for(body, TARGET.app_secret)
        value = json.loads(body)["entry"][0]["changes"][0]["value"]
        contacts = {c["user_id"]: c for c in value["contacts"]}
        for message in value["messages"]:
            seen[message["id"]] += 1
            phone = before[message["id"]]["from"]
            who = plan.identity(phone)
            assert message["from_user_id"] == who.bsuid
            contact = contacts[who.bsuid]
            if who.kind == "username_only":
                assert "from" not in message
                assert "wa_id" not in contact
                assert phone not in body.decode()  # the withheld phone is nowhere in the webhook
            else:
                assert message["from"] == phone == contact["wa_id"]
            assert contact["profile"].get("username") == who.username
    assert seen == plan.copies()  # every delivery of every message went out, each once


def test_events_of_username_only_users_are_read_by_bsuid() -> None:
    plan = build_plan(PHONES[:10], 2, seed=5)
    hidden = next(p for p in plan.users if plan.identity(p).kind == "username_only")
    shown = next(p for p in plan.users if plan.identity(p).kind == "phone_and_username")
    bsuid = plan.identity(hidden).bsuid
    pages = {
        bsuid: [event(1, "message_received", "", "c1", wamid=plan.wamids_of(hidden)[0])],
        shown: [event(2, "message_received", shown, "c2", wamid=plan.wamids_of(shown)[0])],
    }
    client = Recorder(pages)
    reader = EventReader(client, TARGET, plan.identities)  # type: ignore[arg-type]
    assert [e["id"] for e in reader.refresh(hidden)] == [1]
    assert [e["id"] for e in reader.refresh(shown)] == [2]
    asked = [{k: v for k, v in params.items() if k in ("phone", "user_id")} for params in client.gets]
    assert asked == [{"user_id": bsuid}, {"phone": shown}]
    assert reader.events[hidden][0]["data"]["wamid"] == plan.wamids_of(hidden)[0]  # filed under the phone


def test_account_is_exact_for_username_only_users() -> None:
    plan = build_plan(["250790000001", "250790000002"], 2, seed=1, retry_share=0, batch_share=0,
                      kinds={"username_only": 1})  # fmt: skip
    a, b = plan.users
    wa, wb = plan.wamids_of(a), plan.wamids_of(b)
    events = {
        a: [event(1, "message_received", "", "c1", wamid=wa[0]), event(2, "reply_sent", "", "c1"),
            event(3, "message_received", "", "c2", wamid=wa[1]), event(4, "reply_sent", "", "c2")],
        b: [event(5, "message_received", "", "c3", wamid=wb[0]), event(6, "reply_sent", "", "c3")],
    }  # fmt: skip
    acc = account(plan, [SendResult(d, 200) for d in plan.deliveries], events, {a: 2, b: 2})
    assert (acc.sent, acc.accepted, acc.replied, acc.lost, acc.duplicate_replies) == (4, 4, 3, 1, 1)
    bsuid_b = plan.identity(b).bsuid
    assert any(p.startswith(f"{bsuid_b} ") and "lost" in p for p in acc.problems)
    assert f"{bsuid_b}: the simulator recorded 2 replies, the events explain 1" in acc.problems
    assert not any(a in p or b in p for p in acc.problems)  # problems never name a withheld phone


def event(n: int, name: str, phone: str, corr: str, **data: Any) -> dict[str, Any]:
    return {"id": n, "ts": 0.0, "correlation_id": corr, "name": name, "phone": phone, "data": data}


def small_plan() -> Plan:
    return build_plan(["250790000001", "250790000002"], 3, seed=1, retry_share=0, batch_share=0)


def test_account_gives_each_message_one_outcome() -> None:
    plan = small_plan()
    a, b = plan.users
    wa, wb = plan.wamids_of(a), plan.wamids_of(b)
    results = [SendResult(d, 200) for d in plan.deliveries]
    events = {
        a: [
            # replied once
            event(1, "message_received", a, "c1", wamid=wa[0]),
            event(2, "reply_sent", a, "c1", wamid="out1"),
            event(3, "message_handled", a, "c1", wamid=wa[0], replies=1),
            # a redelivery processed again and answered twice
            event(4, "message_received", a, "c2", wamid=wa[1]),
            event(5, "reply_sent", a, "c2"),
            event(6, "message_received", a, "c3", wamid=wa[1]),
            event(7, "reply_sent", a, "c3"),
            # no reply, with a recorded reason
            event(8, "message_received", a, "c4", wamid=wa[2]),
            event(9, "reply_suppressed", a, "c4", reason="opted_out"),
            event(10, "message_handled", a, "c4", wamid=wa[2], replies=0),
        ],
        b: [
            # handled, silent, no reason: lost; the others never arrived: lost
            event(11, "message_received", b, "c5", wamid=wb[0]),
            event(12, "message_handled", b, "c5", wamid=wb[0], replies=0),
        ],
    }
    acc = account(plan, results, events, {a: 3, b: 1})
    assert (acc.sent, acc.accepted, acc.replied, acc.no_reply_with_reason, acc.lost) == (6, 6, 2, 1, 3)
    assert acc.duplicate_replies == 1 + 1  # one extra reply by the events, one the simulator can't explain
    assert acc.reasons == Counter({"reply_suppressed": 1})
    assert any("processed 2 times" in p for p in acc.problems)


def test_account_counts_suppressed_duplicates_and_rate_limit_notices() -> None:
    plan = build_plan(["250790000001"], 2, seed=1, retry_share=0.5, batch_share=0)
    (phone,) = plan.users
    w0, w1 = plan.wamids_of(phone)
    retried = next(w for w, n in plan.copies().items() if n > 1)
    events = {
        phone: [
            event(1, "message_received", phone, "c1", wamid=w0),
            event(2, "rate_limited", phone, "c1"),
            event(3, "reply_sent", phone, "c1"),  # the notice
            event(4, "reply_sent", phone, "c1"),  # the answer
            event(5, "message_received", phone, "c2", wamid=w1),
            event(6, "reply_sent", phone, "c2"),
            event(7, "duplicate_ignored", phone, "r9", wamid=retried, scope="store"),
        ]
    }
    acc = account(plan, [SendResult(d, 200) for d in plan.deliveries], events, {phone: 3})
    assert (acc.replied, acc.lost, acc.duplicate_replies) == (2, 0, 0)
    assert (acc.duplicates_sent, acc.duplicates_suppressed) == (1, 1)


def test_failed_handling_is_a_failure_not_a_reason_even_with_an_apology() -> None:
    plan = small_plan()
    a, b = plan.users
    wa, wb = plan.wamids_of(a), plan.wamids_of(b)
    events = {
        a: [
            # Graph refused the reply: reply_failed, then message_failed (the reference's event names)
            event(1, "message_received", a, "c1", wamid=wa[0]),
            event(2, "reply_failed", a, "c1", status=400),
            event(3, "message_failed", a, "c1", wamid=wa[0], error="ReplyFailedError"),
            # the handler crashed and apologised: a reply went out, still a failure
            event(4, "message_received", a, "c2", wamid=wa[1]),
            event(5, "message_failed", a, "c2", wamid=wa[1], error="KeyError"),
            event(6, "reply_sent", a, "c2"),
            # deliberately silent: a reason
            event(7, "message_received", a, "c3", wamid=wa[2]),
            event(8, "reply_suppressed", a, "c3", reason="opted_out"),
        ],
        b: [
            *(event(10 + i, "message_received", b, f"d{i}", wamid=w) for i, w in enumerate(wb)),
            *(event(20 + i, "reply_sent", b, f"d{i}") for i in range(len(wb))),
            event(30, "job_failed", b, "d0", job="payment notices", error="RuntimeError"),
        ],
    }
    acc = account(plan, [SendResult(d, 200) for d in plan.deliveries], events, {a: 1, b: 3})
    assert (acc.failed_handling, acc.replied, acc.no_reply_with_reason, acc.lost) == (3, 2, 1, 0)
    assert acc.failures == Counter({"message_failed": 2, "reply_failed": 1, "job_failed": 1})
    assert acc.reasons == Counter({"reply_suppressed": 1})
    assert sum("handling failed" in p for p in acc.problems) == 3


def test_not_accepted_is_counted() -> None:
    plan = small_plan()
    results = [SendResult(d, 200 if i else 500) for i, d in enumerate(plan.deliveries)]
    assert account(plan, results, {}, {}).accepted == 5


# --- the sign-off evidence -------------------------------------------------------------------------------


def result_dict(**changes: Any) -> dict[str, Any]:
    return {
        "schema": RELIABILITY_SCHEMA, "users": 60, "sent": 1045, "accepted": 1045, "replied": 1045,
        "no_reply_with_reason": 0, "lost": 0, "duplicates_sent": 124, "duplicates_suppressed": 124,
        "duplicate_replies": 0, "deliveries": 1078, "batched": 104, "out_of_order": 109,
        "orders_checked": 15, "duplicate_effects": 0, "seconds": 11.8, **changes,
    }  # fmt: skip


def test_result_file_round_trip_and_errors(tmp_path: Path) -> None:
    path = ReliabilityResult.from_dict(result_dict()).write(tmp_path / "reliability.json")
    read = ReliabilityResult.from_json(tmp_path)
    assert (read.sent, read.source) == (1045, str(path))
    path.write_text(json.dumps(result_dict(schema="nope")))
    with pytest.raises(ReliabilityResultError, match="schema is 'nope'"):
        ReliabilityResult.from_json(path)
    path.write_text(json.dumps(result_dict(lost=-1)))
    with pytest.raises(ReliabilityResultError, match="lost"):
        ReliabilityResult.from_json(path)
    with pytest.raises(ReliabilityResultError, match="cannot read"):
        ReliabilityResult.from_json(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("changes", "failed"),
    [
        ({}, set()),
        ({"lost": 2, "replied": 1043}, {"reliability_lost"}),
        ({"duplicate_replies": 5}, {"reliability_duplicate_replies"}),
        ({"duplicate_effects": 1}, {"reliability_duplicate_effects"}),
        ({"failed_handling": 3, "replied": 1042}, {"reliability_failed_handling"}),
    ],
)
def test_shipped_gates_read_the_reliability_result(changes: dict[str, Any], failed: set[str]) -> None:
    gates = load_gates(REPO / "signoff.yaml")
    reliability_result = ReliabilityResult.from_dict(result_dict(**changes))
    a = assess(RunResults(), gates, reliability=reliability_result, stage_runs=stage_runs())
    reliability = {r.gate.id: r for r in a.gates if r.gate.stage == "reliability"}
    assert set(reliability) == {
        "reliability_lost",
        "reliability_duplicate_replies",
        "reliability_duplicate_effects",
        "reliability_failed_handling",
        "reliability_checks",
    }
    assert {i for i, r in reliability.items() if r.blocking} == failed
    assert reliability["reliability_lost"].measurement.samples == 1045
    assert "1045 sent, 1045 accepted" in reliability["reliability_lost"].measurement.source


def test_without_evidence_the_reliability_gates_fail_and_skipping_says_so() -> None:
    gates = load_gates(REPO / "signoff.yaml")
    missing = assess(RunResults(), gates)
    assert {r.status for r in missing.gates if r.gate.stage == "reliability"} == {"fail"}
    assert {r.reason for r in missing.gates if r.gate.stage == "reliability"} == {
        "no samples: a gate without evidence fails"
    }
    skipped = assess(RunResults(), gates, skipped_stages={"reliability": "skipped by --skip-reliability"})
    assert {r.status for r in skipped.gates if r.gate.stage == "reliability"} == {"not run"}
    assert "Reliability stage skipped: this verdict does not cover webhook reliability" in skipped.warnings


def test_hygiene_measurement_and_report_sections() -> None:
    results = RunResults()
    violation = {
        "rule": "raw_i18n_key", "description": "d", "where": "body", "detail": "raw translation key 'a.b_c'",
        "to": "250790000001", "seq": 3, "message": 'text "a.b_c"',
    }  # fmt: skip
    results.record_hygiene(
        "tests/smoke/test_hygiene.py::test_walk", {"checked": 9, "violations": [violation]}
    )
    results.record_hygiene(
        "x::y", {"checked": 3, "violations": [], "known": [{**violation, "rule": "apology_emoji"}]}
    )
    m = results.measurements()["hygiene.violations"]
    assert (m.value, m.samples) == (1.0, 12)
    assert "1 known issues not counted" in m.source
    gates = load_gates(REPO / "signoff.yaml")
    a = assess(results, gates, reliability=ReliabilityResult.from_dict(result_dict(problems=["one <b>"])))
    [gate] = [r for r in a.gates if r.gate.id == "message_hygiene"]
    assert gate.blocking
    report = build_report(a, results, RunInfo("local", datetime.now(UTC)))
    assert report["hygiene"]["violations"][0]["test"] == "tests/smoke/test_hygiene.py::test_walk"
    md = render_markdown(report)
    assert "## Webhook reliability" in md
    assert "| sent | accepted (HTTP 200) | replied |" in md
    assert "## Message hygiene" in md
    assert "12 messages the bot sent were checked: 1 violations." in md
    assert "raw translation key 'a.b_c'" in md
    assert "Known issues (warnings, not counted)" in md
    html = render_html(report)
    assert 'id="reliability"' in html
    assert 'id="hygiene"' in html
    assert "one &lt;b&gt;" in html  # escaped
    assert "apology_emoji" in html
