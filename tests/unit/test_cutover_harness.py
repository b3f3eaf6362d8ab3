"""The cutover machinery without a stack: buckets, the flag client, reply classification, the drill's
arithmetic, and the sign-off reading ``rollback.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from easymo_qa.cutover import AI, LEGACY, OTHER, _Lane, population, served_by
from easymo_qa.flags import FlagClient, FlagError, in_rollout, java_string_hash, rollout_bucket
from easymo_qa.gates import load_gates
from easymo_qa.rollback import RollbackResult, RollbackResultError
from easymo_qa.signoff.assess import assess
from easymo_qa.signoff.results import RunResults
from easymo_qa.target import Target
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.user import WhatsAppUser

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_java_string_hash_known_values() -> None:
    assert java_string_hash("") == 0
    assert java_string_hash("a") == 97
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(2**31)  # Integer.MIN_VALUE
    assert java_string_hash("😀") == 31 * 0xD83D + 0xDE00  # UTF-16 code units, not code points
    assert rollout_bucket("polygenelubricants", "x") == abs(java_string_hash("polygenelubricants:x")) % 100


def test_in_rollout_edges() -> None:
    phones = population("25079", 12, 200)
    assert not any(in_rollout(p, 0) for p in phones)
    assert all(in_rollout(p, 100) for p in phones)
    ten, fifty = {p for p in phones if in_rollout(p, 10)}, {p for p in phones if in_rollout(p, 50)}
    assert ten < fifty  # a ramp only ever adds users


def test_population_is_fixed_distinct_and_in_range() -> None:
    first, again = population("25079", 12, 400), population("25079", 12, 400)
    assert first == again
    assert len(set(first)) == 400
    assert all(p.startswith("25079") and len(p) == 12 and p.isdigit() for p in first)
    assert population("25079", 12, 400, seed="other") != first
    with pytest.raises(ValueError, match="too small"):
        population("2507912345", 12, 400)


def reply(kind: str, rows: tuple[str, ...] = (), received_at: float = 0.0) -> OutboundMessage:
    return OutboundMessage(1, "w", "250790000001", kind, "", received_at, row_ids=rows)


def test_served_by_tells_ai_from_legacy() -> None:
    assert served_by(reply("list", ("offer:a", "offer:b"))) == AI
    assert served_by(reply("list", ("buyer_search", "my_orders", "my_wallet"))) == LEGACY
    assert served_by(reply("buttons")) == OTHER
    assert served_by(reply("list", ("topup:1000",))) == OTHER


def test_lane_switch_moment_is_after_the_last_other_reply() -> None:
    target = Target("t", "http://sut", "s", "v", "1", "2", graph_api_url="http://graph")
    lane = _Lane(WhatsAppUser(target, httpx.Client(), "250790000001"))
    offers, home = ("offer:a",), ("buyer_search", "my_orders")
    lane.replies = [
        reply("list", r, t) for r, t in ((offers, 1), (home, 2), (offers, 3), (home, 4), (home, 5))
    ]
    assert lane.switched_at(0, 10, LEGACY) == 4
    assert lane.switched_at(0, 3.5, LEGACY) is None
    assert lane.settled(3.5, LEGACY, 2)
    assert not lane.settled(3.5, LEGACY, 3)


class FakeFlagControl:
    def __init__(self) -> None:
        self.env = {"FEATURE_AI_AGENTS": True, "FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": 100}
        self.overrides: dict[str, Any] = {}
        self.requests: list[tuple[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-admin-token") != "tok":
            return httpx.Response(401, json={"error": "unauthorized"})
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, body))
        for name, value in (body or {}).items():
            if value is None:
                self.overrides.pop(name, None)
            else:
                self.overrides[name] = value
        source = {n: "override" if n in self.overrides else "env" for n in self.env}
        flags = {n: {"value": self.overrides.get(n, v), "source": source[n]} for n, v in self.env.items()}
        return httpx.Response(200, json={"flags": flags})


def test_flag_client_sets_and_restores_only_what_changed() -> None:
    control = FakeFlagControl()
    control.overrides["FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE"] = 10  # an operator's override, kept
    client = FlagClient(httpx.Client(transport=httpx.MockTransport(control)), "http://sut/", "tok")
    before = client.get()
    assert before.overrides == {"FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": 10}
    now = client.set({"FEATURE_AI_AGENTS": False, "FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": 50})
    assert now.values == {"FEATURE_AI_AGENTS": False, "FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": 50}
    client.restore(before)
    assert control.overrides == {"FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": 10}
    assert control.requests[-1] == (
        "PUT",
        {"FEATURE_AI_AGENTS": None, "FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE": 10},
    )


def test_flag_client_refuses_production_and_reports_errors() -> None:
    transport = httpx.MockTransport(FakeFlagControl())
    prod = FlagClient(httpx.Client(transport=transport), "http://sut", "tok", production=True)
    with pytest.raises(FlagError, match="production"):
        prod.set({"FEATURE_AI_AGENTS": False})
    wrong_token = FlagClient(httpx.Client(transport=transport), "http://sut", "nope")
    with pytest.raises(FlagError, match="401"):
        wrong_token.get()
    target = Target("staging", "http://sut", "s", "v", "1", "2", capabilities=("easymo",))
    with pytest.raises(FlagError, match="'flags' capability"):
        FlagClient.for_target(target, httpx.Client(transport=transport))


def drill_file(tmp_path: Path, **fields: Any) -> Path:
    data = {"schema": "easymo-qa/rollback/v1", "rollback_seconds": 0.25, "restore_seconds": 0.3,
            "messages": 400, "lost": 0, "users": 20, **fields}  # fmt: skip
    path = tmp_path / "rollback.json"
    path.write_text(json.dumps(data))
    return path


def test_signoff_reads_the_rollback_drill_into_its_gate(tmp_path: Path) -> None:
    result = RollbackResult.from_json(drill_file(tmp_path))
    gates = load_gates(ROOT / "signoff.yaml")
    assessment = assess(RunResults(), gates, rollback=result)
    [gate] = [g for g in assessment.gates if g.gate.id == "rollback_time"]
    assert gate.status == "pass"
    assert (gate.measurement.value, gate.measurement.samples) == (0.25, 20)
    assert "0 lost" in gate.measurement.source
    assert "restored in 0.3 s" in gate.measurement.source
    never = assess(
        RunResults(), gates, rollback=RollbackResult.from_json(drill_file(tmp_path, rollback_seconds=None))
    )
    [gate] = [g for g in never.gates if g.gate.id == "rollback_time"]
    assert gate.status == "report only"  # no samples, and report-only: shown, never blocking


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [({"schema": "x"}, "schema is 'x'"), ({"lost": -1}, "lost"), ({"messages": "many"}, "messages")],
)
def test_bad_rollback_files_name_the_field(tmp_path: Path, fields: dict[str, Any], complaint: str) -> None:
    with pytest.raises(RollbackResultError, match=complaint):
        RollbackResult.from_json(drill_file(tmp_path, **fields))
    with pytest.raises(RollbackResultError, match="cannot read"):
        RollbackResult.from_json(tmp_path / "missing.json")


def test_cli_rollback_stage_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from easymo_qa.stages.runner import Stages

    def stages(**kw: object) -> Stages:
        args = argparse.Namespace(**{"rollback_results": None, "skip_rollback": False, **kw})
        return Stages(args, ["--env", "local"], tmp_path / "reports", run=lambda c: pytest.fail(str(c)))

    monkeypatch.chdir(tmp_path)  # no drill here: nothing to run, and the stage says it did not run
    (none := stages()).rollback()
    assert (none.options, none.runs[0].status, none.runs[0].reason) == (
        [], "skipped", "no tests/cutover/test_rollback.py here"
    )  # fmt: skip
    (given := stages(rollback_results="r/rollback.json")).rollback()
    assert given.options == ["--rollback-results", str(tmp_path / "r" / "rollback.json")]
    (tmp_path / "tests" / "cutover").mkdir(parents=True)
    (tmp_path / "tests" / "cutover" / "test_rollback.py").write_text("")
    (skipped := stages(skip_rollback=True)).rollback()
    assert (skipped.options, skipped.runs[0].reason) == ([], "skipped by --skip-rollback")


def test_plugin_reads_rollback_results(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "test_it.py").write_text("def test_ok():\n    assert True\n")
    (tmp_path / "signoff.yaml").write_text(
        "gates:\n"
        "  - {id: tests_pass, title: Tests, metric: tests.pass_rate, op: '>=', threshold: 100}\n"
        "  - {id: rollback_time, title: Rollback, metric: rollback.seconds, op: '<', threshold: 600,"
        " stage: rollback, report_only: true}\n"
    )
    drill_file(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "test_it.py", "--signoff", "-p", "no:cacheprovider",
         "--env-file", str(ROOT / "environments" / "local.yaml"), "--rootdir", str(tmp_path),
         "--rollback-results", "rollback.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads((tmp_path / "reports" / "signoff.json").read_text())
    gate = report["gates"][1]
    assert (gate["measured"], gate["status"], report["stages"]["rollback"]["status"]) == (0.25, "pass", "run")
