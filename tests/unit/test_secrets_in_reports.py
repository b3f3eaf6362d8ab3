"""No secret of a session ever reaches its reports, logs or transcripts.

A real sign-off (smoke suite + the reliability storm) runs on the local stack with secrets pinned by the
environment file, into a temporary reports directory; then every file under it (JSON, Markdown, HTML,
JUnit XML, Allure results, the stack's logs and database, reliability.json) is searched for each secret.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def files_containing(root: Path, needles: dict[str, str]) -> list[str]:
    """``path: secret name`` for every file under ``root`` that holds one of ``needles`` (raw bytes)."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [
            f"{path.relative_to(root)}: {name}" for name, value in needles.items() if value.encode() in data
        ]
    return found


def test_the_search_finds_a_planted_secret(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "log.txt").write_bytes(b"x token=abc-123-secret y")
    assert files_containing(tmp_path, {"admin token": "abc-123-secret"}) == ["a/b/log.txt: admin token"]


def test_sign_off_reports_hold_no_secret(tmp_path: Path) -> None:
    pinned = {
        "app secret": "app-" + secrets.token_hex(16),
        "verify token": "verify-" + secrets.token_hex(12),
        "access token": "EAAG" + secrets.token_hex(16),
        "admin token": "admin-" + secrets.token_hex(16),
    }
    env = tmp_path / "local-pinned.yaml"
    env.write_text(
        (REPO / "environments" / "local.yaml").read_text()
        + f"\nwebhook:\n  app_secret: {pinned['app secret']}\n  verify_token: {pinned['verify token']}\n"
        f"graph_simulator:\n  access_token: {pinned['access token']}\n"
        f"observability:\n  admin_token: {pinned['admin token']}\n"
    )
    reports = tmp_path / "reports"
    out = subprocess.run(
        [sys.executable, "-m", "easymo_qa.cli", "signoff", "--env-file", str(env),
         "--reports-dir", str(reports), "--suites", "smoke", "-n", "2", "--skip-load", "--skip-rollback",
         "--skip-cutover"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    report = json.loads((reports / "signoff.json").read_text())
    # The run really used the secrets: signed webhooks, the verify handshake, the admin API.
    assert report["tests"]["passed"] > 20, out.stdout[-3000:] + out.stderr[-3000:]
    assert report["reliability"]["sent"] >= 1000, out.stdout[-3000:]
    for expected in ("signoff.md", "signoff.html", "junit.xml", "reliability.json"):
        assert (reports / expected).is_file(), expected
    assert any((reports / "allure-results").iterdir())
    assert list((reports / "stack").glob("*.log"))
    assert files_containing(reports, pinned) == []
    assert [name for name, value in pinned.items() if value in out.stdout + out.stderr] == []
