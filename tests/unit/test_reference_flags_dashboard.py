"""The reference service's flag control (``/admin/flags``), its dashboard, metrics.json and /metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_reference_fakes import ADMIN, BUYER, BUYER2, Service, run_async, service, tool_call

from reference.flags import Flags, rollout_bucket

pytestmark = pytest.mark.unit

AUTH = {"X-Admin-Token": ADMIN}


async def flags(svc: Service, method: str = "GET", body: object = None) -> tuple[int, dict]:
    response = await svc.client.request(method, "/admin/flags", json=body, headers=AUTH)
    return response.status_code, response.json()


def kinds(svc: Service, phone: str) -> list[str]:
    """``offers`` / ``home`` / other per reply, as the harness tells AI from legacy."""
    out = []
    for message in svc.inbox(phone):
        rows = [
            r["id"]
            for s in message.get("interactive", {}).get("action", {}).get("sections", [])
            for r in s["rows"]
        ]
        out.append(
            "offers" if any(r.startswith("offer:") for r in rows) else "home" if "my_orders" in rows else "?"
        )
    return out


@run_async
async def test_flags_read_and_override_at_run_time(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        status, before = await flags(svc)
        assert status == 200
        assert before["flags"]["FEATURE_AI_AGENTS"] == {"value": True, "source": "env"}
        assert before["flags"]["FEATURE_MARKETPLACE_AGENT"] == {"value": False, "source": "env"}
        assert before["flags"]["FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE"]["value"] == 100

        svc.llm.default = (200, tool_call("water", 1))
        await svc.text(BUYER, "water please")
        status, after = await flags(svc, "PUT", {"FEATURE_AI_AGENTS": False})
        assert status == 200
        assert after["flags"]["FEATURE_AI_AGENTS"] == {"value": False, "source": "override"}
        await svc.text(BUYER, "water please")
        status, _ = await flags(svc, "PUT", {"FEATURE_AI_AGENTS": None})
        await svc.text(BUYER, "water please")
        assert kinds(svc, BUYER) == ["offers", "home", "offers"]

        [changed, dropped] = await svc.events(name="flag_changed")
        assert changed["data"]["changed"] == {"FEATURE_AI_AGENTS": False}
        assert changed["data"]["before"] == {"FEATURE_AI_AGENTS": True}
        assert dropped["data"]["overrides"] == {}


@run_async
async def test_rollout_percentage_override_uses_the_bucket(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        svc.llm.default = (200, tool_call("water", 1))
        inside, outside = sorted((BUYER, BUYER2), key=rollout_bucket)
        percentage = rollout_bucket(outside)  # the one with the lower bucket is in, the other out
        assert rollout_bucket(inside) < percentage
        status, _ = await flags(svc, "PUT", {"FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": percentage})
        assert status == 200
        await svc.text(inside, "water")
        await svc.text(outside, "water")
        assert (kinds(svc, inside), kinds(svc, outside)) == (["offers"], ["home"])
        status, snapshot = await flags(svc, "DELETE")
        assert snapshot["flags"]["FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE"] == {"value": 100, "source": "env"}


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"FEATURE_NOPE": True}, "unknown flag variable"),
        ({"FEATURE_AI_AGENTS": "false"}, "true, false or null"),
        ({"FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": 101}, "0-100"),
        ({"FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": True}, "0-100"),
        ({}, "non-empty"),
        ([1], "non-empty"),
    ],
)
@run_async
async def test_bad_flag_changes_are_refused_whole(tmp_path: Path, body: object, complaint: str) -> None:
    async with service(tmp_path) as svc:
        status, answer = await flags(svc, "PUT", body)
        assert status == 400
        assert complaint in answer["error"]
        assert "FEATURE_BUYER_AGENT" in answer["valid"]
        assert svc.app.state.settings.flags.overrides == {}
        no_token = await svc.client.put("/admin/flags", json={"FEATURE_AI_AGENTS": False})
        assert no_token.status_code == 401


def test_overrides_apply_on_top_of_the_environment() -> None:
    flags = Flags.from_env({"FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": "0"})
    assert not flags.decide("buyer", BUYER).enabled
    flags.set_overrides({"FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": 100, "FEATURE_BUYER_AGENT": False})
    assert flags.decide("buyer", BUYER).reason == "agent_off"
    assert flags.decide("vendor", BUYER).enabled
    flags.set_overrides({"FEATURE_BUYER_AGENT": None})
    assert flags.decide("buyer", BUYER).enabled
    assert (flags.current().rollout_percentage, flags.rollout_percentage) == (100, 0)


@run_async
async def test_dashboard_metrics_and_prometheus_move_with_traffic(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        empty = (await svc.client.get("/admin/metrics.json", headers=AUTH)).json()
        assert empty["messages_received_total"] == 0
        assert (empty["latency_p95_ms"], empty["success_rate_pct"]) == (None, None)

        svc.llm.replies.append((200, tool_call("water", 1)))
        await svc.text(BUYER, "water")
        svc.llm.default = (500, {"error": {"message": "down"}})  # every retry fails: ranking answers
        await svc.text(BUYER2, "water")
        await svc.text(BUYER, "hi")
        await flags(svc, "PUT", {"FEATURE_AI_AGENTS": False})

        numbers = (await svc.client.get("/admin/metrics.json?token=" + ADMIN)).json()
        assert numbers["messages_received_total"] == numbers["messages_received_5m"] == 3
        assert (numbers["messages_handled_total"], numbers["success_rate_pct"]) == (3, 100.0)
        assert (numbers["searches_total"], numbers["fallbacks_total"], numbers["fallback_rate_pct"]) == (
            2,
            1,
            50.0,
        )
        assert numbers["latency_samples"] == 3
        assert 0 < numbers["latency_p50_ms"] <= numbers["latency_p95_ms"] <= numbers["latency_p99_ms"]
        assert sum(numbers["messages_series"]) == 3
        assert (numbers["flag_ai_agents"], numbers["flag_changes_total"]) == ("off", 1)

        page = await svc.client.get("/admin/dashboard", params={"token": ADMIN})
        assert page.status_code == 200
        assert "nonce-" in page.headers["content-security-policy"]
        assert not re.search(r"""(src|href)=["']?https?:""", page.text), "no external assets"
        shown = dict(re.findall(r'data-metric="([a-z0-9_]+)">([^<]*)<', page.text))
        assert (shown["messages_received_total"], shown["fallback_rate_pct"]) == ("3", "50.0")
        for key in ("latency_p50_ms", "orders_per_hour", "failure_rate_pct", "flag_rollout_pct"):
            assert key in shown

        prometheus = await svc.client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
        assert prometheus.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "easymo_messages_received_total 3\n" in prometheus.text
        assert 'easymo_message_processing_seconds{quantile="0.95"}' in prometheus.text
        assert "easymo_message_processing_seconds_count 3\n" in prometheus.text
        assert "easymo_feature_ai_agents 0\n" in prometheus.text

        for path in ("/admin/dashboard", "/admin/metrics.json", "/metrics"):
            assert (await svc.client.get(path)).status_code == 401
            assert (await svc.client.get(path, params={"token": "wrong"})).status_code == 401
