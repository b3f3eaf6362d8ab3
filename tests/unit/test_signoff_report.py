"""The sign-off report: signoff.json (v2) fields, the HTML page and the Markdown, secrets, re-rendering."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from signoff_evidence import rollback, stage_runs

from easymo_qa.envs import Redactor
from easymo_qa.gates import load_gates
from easymo_qa.rerun import Invocation
from easymo_qa.signoff.assess import assess
from easymo_qa.signoff.files import ReportError, rerender, sign_off, write_reports
from easymo_qa.signoff.load import LOAD_SCHEMA, LoadSummary
from easymo_qa.signoff.model import RunInfo
from easymo_qa.signoff.reliability import RELIABILITY_SCHEMA, ReliabilityResult
from easymo_qa.signoff.render import render_html, render_markdown
from easymo_qa.signoff.report import SCHEMA, build_report
from easymo_qa.signoff.results import RunResults
from easymo_qa.signoff.waivers import Waiver, Waivers

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 25)
SECRET = "wa-app-secret-&<7f3k2q>"  # HTML would escape it: it must be masked before rendering
TOKEN = "EAAG-access-token-0042"
XSS = "<script>alert('pwned')</script>"
START = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
INFO = RunInfo("staging", START, START + timedelta(seconds=42.5), "pytest --signoff", ("no_dedupe",))

TOP_LEVEL = {
    "schema", "verdict", "failed_gates", "skipped_stages", "warnings", "environment", "target",
    "reference_defects", "command", "timing", "git_commit", "git_dirty", "versions", "stages", "gates",
    "tests", "suites", "failures", "not_covered", "waivers", "load", "reliability", "hygiene", "contract",
    "messages",
}  # fmt: skip
GATE_FIELDS = {
    "id", "title", "metric", "stage", "op", "threshold", "unit", "critical", "report_only", "measured",
    "samples", "source", "margin", "passed", "waived", "not_run", "blocking", "status", "reason", "waiver",
}  # fmt: skip


def load_summary() -> LoadSummary:
    return LoadSummary.from_dict(
        {
            "schema": LOAD_SCHEMA,
            "requests": {
                "reply": {
                    "count": 600,
                    "failures": 3,
                    "p50_ms": 30,
                    "p95_ms": 90,
                    "p99_ms": 150,
                    "max_ms": 400,
                }
            },
            "error_rate_pct": 0.5,
            "reply_p95_ms": 90,
            "ack_p95_ms": 8,
            "samples": 600,
            "reply_samples": 597,
            "ack_samples": 600,
            "timeseries": [
                {"t": t, "requests": 60, "failures": int(t == 4), "p95_ms": 80 + t} for t in range(10)
            ],
            "histogram": [
                {"le_ms": 50, "count": 400},
                {"le_ms": 100, "count": 190},
                {"le_ms": None, "count": 7},
            ],
            "source": "reports/load/samples.csv",
        }
    )


def reliability() -> ReliabilityResult:
    return ReliabilityResult.from_dict(
        {
            "schema": RELIABILITY_SCHEMA, "users": 60, "sent": 1045, "accepted": 1045, "replied": 1045,
            "no_reply_with_reason": 0, "lost": 0, "duplicates_sent": 124, "duplicates_suppressed": 124,
            "duplicate_replies": 0, "deliveries": 1078, "batched": 104, "out_of_order": 109,
            "orders_checked": 15, "duplicate_effects": 0, "seconds": 11.8,
            "source": "reports/reliability.json",
        }
    )  # fmt: skip


def results(*, failing: bool = True) -> RunResults:
    r = RunResults()
    r.record_hygiene("tests/smoke/test_hygiene.py::test_walk", {"checked": 40, "violations": []})
    r.record_latency({"samples_ms": [40.0, 55.0, 80.0, 120.0], "timed_out": 0, "censor_ms": 5000.0})

    def test(
        nodeid: str, outcome: str, markers: tuple[str, ...], message: str = "", transcript: str = ""
    ) -> None:
        if outcome == "skipped":
            r.record(nodeid, "setup", "skipped", markers=markers, message=message)
            return
        r.record(nodeid, "setup", "passed", markers=markers)
        r.record(
            nodeid, "call", outcome, markers=markers, duration=0.25, message=message, transcript=transcript
        )

    test("tests/smoke/test_protocol.py::test_verify[<b>bold</b>]", "passed", ("smoke",))
    test("tests/smoke/test_easymo.py::test_faults_hook", "skipped", ("smoke",), "not covered: lacks 'faults'")
    test("tests/e2e/buyer.journey.yaml::buyer_momo", "passed", ("e2e", "critical"))
    for i in range(1, 22):
        bad = failing and i == 11
        test(
            f"tests/synthetic/{i:02d}.scenario.yaml::scenario-{i}",
            "failed" if bad else "passed",
            ("synthetic", "critical"),
            f"expected 'pending', got {XSS} (secret {SECRET})" if bad else "",
            f"buyer → bot: hi\nbot → buyer: {XSS}\nAuthorization: Bearer {TOKEN}" if bad else "",
        )
    return r


def report(
    *,
    failing: bool = True,
    load: LoadSummary | None = None,
    skip_load: bool = False,
    more_waivers: tuple[Waiver, ...] = (),
    info: RunInfo = INFO,
) -> dict[str, Any]:
    waivers = Waivers(
        (
            Waiver(
                "no fault hook on staging",
                "platform",
                date(2026, 12, 31),
                test="test_faults_hook",
                where="w:2",
            ),
            Waiver("old tier", "qa-harness", date(2026, 11, 1), gate="load_reply_p95", where="w:6"),
            *more_waivers,
        ),
        "waivers.yaml",
    )
    a = assess(
        results(failing=failing),
        load_gates(REPO / "signoff.yaml"),
        waivers=waivers,
        load=load,
        rollback=rollback(),
        reliability=reliability(),
        skipped_stages={"load": "skipped by --skip-load"} if skip_load else None,
        today=TODAY,
        stage_runs=stage_runs(),
    )
    return build_report(a, results(failing=failing), info)


def written(tmp_path: Path, data: dict[str, Any]) -> dict[str, str]:
    paths = write_reports(data, tmp_path, Redactor([SECRET, TOKEN]))
    return {p.suffix: p.read_text(encoding="utf-8") for p in paths}


def test_json_has_every_documented_field(tmp_path: Path) -> None:
    data = json.loads(written(tmp_path, report(load=load_summary()))[".json"])
    assert set(data) == TOP_LEVEL
    assert data["schema"] == SCHEMA == "easymo-qa/signoff/v2"
    assert data["verdict"] == "NO-GO"
    assert data["failed_gates"] == ["tests_pass", "no_critical_failures", "synthetic_coverage"]
    assert all(set(g) == GATE_FIELDS for g in data["gates"])
    assert data["timing"] == {
        "started_at": "2026-11-25T20:00:00+00:00",
        "finished_at": "2026-11-25T20:00:42+00:00",
        "duration_seconds": 42.5,
    }
    assert set(data["versions"]) >= {"python", "harness", "pytest", "locust"}
    assert data["reference_defects"] == ["no_dedupe"]
    assert data["tests"] == {"passed": 22, "failed": 1, "error": 0, "skipped": 1, "total": 24}
    suites = {s["id"]: s for s in data["suites"]}
    assert list(suites) == ["smoke", "journeys", "synthetic"]
    assert suites["synthetic"]["counts"] == {"pass": 20, "fail": 1, "not_covered": 0}
    assert suites["smoke"]["counts"] == {"pass": 1, "fail": 0, "not_covered": 1}
    assert {t["status"] for t in suites["synthetic"]["tests"]} == {"pass", "fail"}
    [failure] = data["failures"]
    assert failure["test"].endswith("::scenario-11")
    assert failure["rerun"].startswith("REFERENCE_DEFECTS=no_dedupe ")  # the defects in force
    assert failure["rerun"].endswith("pytest tests/synthetic/11.scenario.yaml::scenario-11 --env staging")
    assert "Bearer ***" in failure["transcript"]
    [nc] = data["not_covered"]
    assert (nc["waived"], nc["waiver"]["owner"]) == (True, "platform")
    assert [w["applies_to"] for w in data["waivers"]["applied"]] == [
        ["tests/smoke/test_easymo.py::test_faults_hook"]
    ]
    assert [w["gate"] for w in data["waivers"]["expired"]] == ["load_reply_p95"]
    assert data["load"]["reply_p95_ms"] == 90
    assert data["stages"]["load"]["status"] == "run"
    gates = {g["id"]: g for g in data["gates"]}
    assert gates["load_reply_p95"]["margin"] == 410
    assert gates["load_reply_p95"]["samples"] == 597
    assert (gates["rollback_time"]["report_only"], gates["rollback_time"]["status"]) == (True, "pass")
    assert data["stages"]["rollback"] == {
        "status": "run", "reason": "passed", "command": ".venv/bin/python -m pytest rollback",
        "exit_code": 0, "seconds": 0.0,
    }  # fmt: skip


def test_html_shows_the_verdict_gates_and_charts(tmp_path: Path) -> None:
    data = report(load=load_summary())
    html = written(tmp_path, data)[".html"]
    assert re.search(r'class="banner nogo".*?<div class="verdict">NO-GO</div>', html, re.S)
    for gate in data["gates"]:
        assert gate["title"] in html  # every gate is named
    failed_banner = html[html.index("Failed gates") : html.index("</header>")]
    assert "Synthetic scenarios 21/21 covered and passing" in failed_banner
    assert html.count("<svg") == 3
    assert "Throughput and errors per second" in html
    assert "No load run in this sign-off" not in html
    assert "scenario-11" in html


def test_html_escapes_every_value(tmp_path: Path) -> None:
    html = written(tmp_path, report())[".html"]
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert re.search(r"<pre>[^<]*&lt;script&gt;", html)  # the transcript sits in a <pre>, escaped


def test_html_is_self_contained(tmp_path: Path) -> None:
    html = written(tmp_path, report(load=load_summary()))[".html"]
    assert not re.search(r"<(script|link|img|iframe)\b|@import|url\(|\bsrc=", html)
    assert "@media print" in html


def test_no_secret_in_any_file(tmp_path: Path) -> None:
    files = written(tmp_path, report(load=load_summary()))
    for suffix, text in files.items():
        for secret in (SECRET, TOKEN, "wa-app-secret", "7f3k2q&gt;", "EAAG-access"):
            assert secret not in text, f"{secret!r} leaked into signoff{suffix}"
        assert "***" in text


def test_without_load_the_page_says_so(tmp_path: Path) -> None:
    data = report(failing=False)
    html = written(tmp_path, data)[".html"]
    assert data["verdict"] == "NO-GO"
    assert data["failed_gates"] == ["load_error_rate", "load_reply_p95"]
    assert "No load run in this sign-off" in html
    assert "<svg" not in html
    assert data["load"] is None
    assert data["stages"]["load"] == {"status": "missing", "reason": "no evidence given to this sign-off"}


def test_skipped_load_is_no_go_and_says_loudly_what_it_does_not_cover(tmp_path: Path) -> None:
    data = report(failing=False, skip_load=True)
    files = written(tmp_path, data)
    warning = "Load stage skipped: this verdict does not cover performance"
    assert (data["verdict"], data["skipped_stages"], data["warnings"]) == ("NO-GO", ["load"], [warning])
    assert data["failed_gates"] == ["load_error_rate", "load_reply_p95"]  # not run blocks (fail closed)
    assert {g["status"] for g in data["gates"] if g["stage"] == "load"} == {"not run"}
    assert re.search(
        r'class="banner nogo".*</header>\s*<div class="warning"[^>]*>⚠ ' + warning, files[".html"], re.S
    )
    assert f"> **{warning}**" in files[".md"]


def test_skipped_load_waived_is_go_with_waivers_and_lists_them(tmp_path: Path) -> None:
    load_waiver = Waiver("no load rig on staging", "ops", date(2026, 12, 31), gate="load_*", where="w:9")
    data = report(failing=False, skip_load=True, more_waivers=(load_waiver,))
    files = written(tmp_path, data)
    assert (data["verdict"], data["failed_gates"]) == ("GO with waivers", [])
    statuses = {g["id"]: g["status"] for g in data["gates"] if g["stage"] == "load"}
    assert statuses == {"load_error_rate": "waived", "load_reply_p95": "waived", "load_ack_p95": "not run"}
    [applied] = [w for w in data["waivers"]["applied"] if w["gate"] == "load_*"]
    assert applied["applies_to"] == ["load_error_rate", "load_reply_p95"]
    banner = files[".html"][: files[".html"].index("</header>")]
    assert 'class="banner waived"' in banner
    assert "GO with waivers" in banner
    assert "<code>load_error_rate, load_reply_p95</code> by ops until 2026-12-31" in banner
    assert files[".md"].startswith("# QA sign-off — staging: **GO with waivers**\n\nWaivers applied:\n")
    assert (
        "- `load_error_rate, load_reply_p95` by ops until 2026-12-31: no load rig on staging" in files[".md"]
    )


def test_markdown_report(tmp_path: Path) -> None:
    md = written(tmp_path, report(load=load_summary()))[".md"]
    assert md.startswith("# QA sign-off — staging: **NO-GO**\n")
    assert "Failed gates: All automated tests pass (`tests_pass`)" in md
    assert (
        "| Reply latency p95 below 500 ms (webhook sent → reply seen) | < 500 ms | 90 ms | 410 ms | 597 |"
        in md
    )
    assert "### Synthetic failure scenarios: 20 pass, 1 fail, 0 not covered" in md
    assert "```\nbuyer → bot: hi\nbot → buyer: <script>" in md  # inside a fence, as text
    assert "| expired | gate load_reply_p95 | old tier | qa-harness | 2026-11-01 | — | w:6 |" in md
    assert "| request | count | failures | p50 ms | p95 ms | p99 ms | max ms |" in md


def test_markdown_cells_cannot_break_the_table() -> None:
    data = report(failing=False, skip_load=True)
    data["gates"][0]["source"] = "a | b\nc"
    assert "| a \\| b c |" in render_markdown(data)


def test_rerender_round_trip(tmp_path: Path) -> None:
    first = written(tmp_path, report(load=load_summary()))
    for name in ("signoff.md", "signoff.html"):
        (tmp_path / name).unlink()
    paths = rerender(tmp_path / "signoff.json")
    assert [p.name for p in paths] == ["signoff.md", "signoff.html"]
    assert (tmp_path / "signoff.md").read_text() == first[".md"]
    assert (tmp_path / "signoff.html").read_text() == first[".html"]
    elsewhere = rerender(tmp_path / "signoff.json", tmp_path / "copy")
    assert elsewhere[1].read_text() == first[".html"]
    json_data = json.loads(first[".json"])
    assert render_html(json_data) == first[".html"]  # rendering needs nothing but the JSON


def test_rerender_rejects_other_schemas(tmp_path: Path) -> None:
    old = tmp_path / "signoff.json"
    old.write_text(json.dumps({"schema": "easymo-qa/signoff/v1", "verdict": "GO"}))
    with pytest.raises(ReportError, match="only 'easymo-qa/signoff/v2' can be re-rendered"):
        rerender(old)
    with pytest.raises(ReportError, match="cannot read"):
        rerender(tmp_path / "missing.json")
    old.write_text(json.dumps({"schema": SCHEMA, "verdict": "GO"}))
    with pytest.raises(ReportError, match=r"incomplete easymo-qa/signoff/v2 report \(KeyError"):
        rerender(old)


def test_report_command_rerenders(tmp_path: Path) -> None:
    """The one subprocess: ``easymo-qa report`` end to end."""
    written(tmp_path / "run", report(failing=False, skip_load=True))
    out = subprocess.run(
        [sys.executable, "-m", "easymo_qa.cli", "report", "--from", str(tmp_path / "run" / "signoff.json"),
         "--reports-dir", str(tmp_path / "again")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Re-rendered from" in out.stdout
    assert "Load stage skipped" in (tmp_path / "again" / "signoff.html").read_text()
    bad = subprocess.run(
        [sys.executable, "-m", "easymo_qa.cli", "report", "--from", str(tmp_path / "nope.json")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "cannot read the sign-off report" in bad.stderr


def test_sign_off_reads_its_inputs_and_writes_three_files(tmp_path: Path) -> None:
    (tmp_path / "load").mkdir()
    (tmp_path / "load" / "summary.json").write_text(json.dumps(load_summary().to_dict()))
    reliability().write(tmp_path / "reliability.json")
    rollback().write(tmp_path / "rollback.json")
    stage_runs().write(tmp_path / "stages.json")
    (tmp_path / "waivers.yaml").write_text(
        "- test: test_faults_hook\n  reason: no fault hook\n  owner: platform\n  expires: 2026-12-31\n"
    )
    assessment, paths = sign_off(
        results(failing=False),
        gates_path=REPO / "signoff.yaml",
        waivers_path=tmp_path / "waivers.yaml",
        reports_dir=tmp_path / "reports",
        redact=Redactor([SECRET]),
        info=INFO,
        load_results=tmp_path / "load",
        reliability_results=tmp_path / "reliability.json",
        rollback_results=tmp_path / "rollback.json",
        stage_runs=tmp_path / "stages.json",
        today=TODAY,
    )
    assert assessment.verdict.decision == "GO with waivers"  # a not-covered test was waived
    assert [p.name for p in paths] == ["signoff.json", "signoff.md", "signoff.html"]
    data = json.loads(paths[0].read_text())
    assert data["stages"]["load"]["status"] == "run"
    assert data["waivers"]["applied"][0]["where"] == f"{tmp_path / 'waivers.yaml'}:1"
    with pytest.raises(ValueError, match="contradict"):
        sign_off(
            results(),
            gates_path=REPO / "signoff.yaml",
            waivers_path=tmp_path / "waivers.yaml",
            reports_dir=tmp_path / "reports",
            redact=Redactor(),
            info=INFO,
            load_results=tmp_path / "load",
            skip_load=True,
        )


def test_a_long_failure_keeps_its_head() -> None:
    from easymo_qa.pytest_plugin.outcomes import clip_failure

    text = "journey 'no-driver' failed at step 7 (file.yaml:31)\n" + "x" * 9000
    clipped = clip_failure(text)
    assert clipped.startswith("journey 'no-driver' failed at step 7 (file.yaml:31)")
    assert clipped.endswith("more characters in reports/junit.xml)")
    assert clip_failure("short") == "short"
    assert clip_failure("[gw0] linux -- Python 3.11.7 /x/python3\njourney 'a' failed") == "journey 'a' failed"


def test_the_load_stages_failed_turns_appear_with_their_transcripts() -> None:
    summary = load_summary().to_dict()
    detail = f"journey 'x' failed at step 2\n  transcript:\n    buyer → bot: hi\n    bot → buyer: {XSS}"
    summary["failed_turns"] = [
        {"turn": "x:2 buyer send hi", "error": "no reply within 5 s", "detail": detail}
    ]
    data = report(load=LoadSummary.from_dict(summary))
    assert data["load"]["failed_turns"] == summary["failed_turns"]
    html, markdown = render_html(data), render_markdown(data)
    for text in (html, markdown):
        assert "Failed turns" in text
        assert "x:2 buyer send hi" in text
        assert "buyer → bot: hi" in text
    assert XSS not in html  # escaped like every transcript


# --- the banner names what was signed off; the reply p95 says how exact it is across machines ---------------


def test_the_banner_names_the_reference_stack_when_only_it_was_tested(tmp_path: Path) -> None:
    local = RunInfo("local", START, START, "pytest --signoff", invocation=Invocation(REPO, "local"))
    data = report(load=load_summary(), info=local)
    assert data["target"] == "reference stack (local)"
    files = written(tmp_path, data)
    assert "<strong>QA sign-off — reference stack (local)</strong>" in files[".html"]
    assert files[".md"].startswith("# QA sign-off — reference stack (local): **NO-GO**\n")
    assert "easyMO WhatsApp agents" not in files[".html"] + files[".md"]


def test_the_banner_names_a_deployed_bot_by_its_environment_and_webhook_host(tmp_path: Path) -> None:
    env_file = tmp_path / "staging.yaml"
    env_file.write_text(
        "name: staging\nstack: none\n"
        "webhook: {url: 'https://wa.staging.example.com/functions/v1/wa-webhook', app_secret: s, "
        "verify_token: v}\n"
    )
    info = RunInfo("staging", START, START, invocation=Invocation(REPO, "staging", env_file=env_file))
    data = report(info=info)
    assert data["target"] == "staging (wa.staging.example.com)"
    files = written(tmp_path / "out", data)
    assert "<strong>QA sign-off — staging (wa.staging.example.com)</strong>" in files[".html"]
    assert files[".md"].startswith("# QA sign-off — staging (wa.staging.example.com): **NO-GO**")
    unreadable = RunInfo("nowhere", START, START, invocation=Invocation(tmp_path, "nowhere"))
    assert report(info=unreadable)["target"] == "nowhere"  # no file to read: its name, nothing invented


def test_the_reply_p95_carries_the_clock_offsets_uncertainty(tmp_path: Path) -> None:
    clock = {"offset_ms": 41.2, "uncertainty_ms": 1.8, "samples": 8, "drift_ms": 0.4}
    with_clock = LoadSummary.from_dict({**load_summary().to_dict(), "clock": clock})
    data = report(load=with_clock)
    assert data["load"]["clock"] == clock
    files = written(tmp_path, data)
    assert "90 ms ± 1.8 ms (clock offset to the simulators)" in files[".html"]
    assert "reply p95 90 ms ± 1.8 ms (clock offset to the simulators)" in files[".md"]
    plain = written(tmp_path / "plain", report(load=load_summary()))  # no clock measured: no claim
    assert "clock offset" not in plain[".html"] + plain[".md"]
