"""Production safety: only `readonly` tests run against a production environment unless allowed; runs of
synthetic faults, reliability storms and the sign-off are refused before anything is sent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from easymo_qa import cli
from easymo_qa.envs import declares_production
from easymo_qa.safety import selects_marker, unsafe_selection

PROD_ENV = """name: prod-like
production: true
stack: none
webhook:
  url: http://127.0.0.1:9/wa-webhook
  app_secret: ${PROD_LIKE_SECRET}
business:
  phone_number_id: "1"
capabilities: []
"""
TESTS = """import pytest

@pytest.mark.readonly
def test_health():
    pass

def test_sends_messages():
    pass

@pytest.mark.synthetic
def test_fault():
    pass
"""


@pytest.mark.parametrize(
    ("expr", "marker", "selected"),
    [
        ("synthetic", "synthetic", True),
        ("smoke or synthetic", "synthetic", True),
        ("smoke and not synthetic", "synthetic", False),
        ("smoke", "synthetic", False),
        ("not smoke", "synthetic", False),  # not asked for: production deselects it anyway
        ("not (synthetic or reliability)", "reliability", False),
        ("(smoke or reliability) and not protocol", "reliability", True),
        ("needs(observability) and reliability", "reliability", True),
        ("readonly", "reliability", False),
    ],
)
def test_selects_marker(expr: str, marker: str, selected: bool) -> None:
    assert selects_marker(expr, marker) is selected


def test_malformed_expression_is_an_error() -> None:
    with pytest.raises(ValueError):
        selects_marker("smoke and (synthetic", "synthetic")


def test_unsafe_selection() -> None:
    assert unsafe_selection("", ["tests/smoke"]) is None
    assert unsafe_selection("smoke", []) is None
    assert unsafe_selection("reliability", []) == "-m 'reliability' selects reliability tests"
    assert unsafe_selection("", ["tests/synthetic"]) == "tests/synthetic holds synthetic tests"
    assert unsafe_selection("", ["tests/reliability/test_webhook_reliability.py::test_x"]) is not None
    assert unsafe_selection("", ["x/01-llm.scenario.yaml"]) is not None
    assert unsafe_selection("", ["tests/cutover"]) is not None


def test_declares_production(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    for text, expected, environ in [
        ("production: true\n", True, {}),
        ("production: false\n", False, {}),
        ("name: x\n", False, {}),
        ("production: ${PROD_FLAG:-false}\n", False, {}),
        ("production: ${PROD_FLAG:-false}\n", True, {"PROD_FLAG": "true"}),
        ("production: ${PROD_FLAG}\n", True, {}),  # unknown: assume the worst
    ]:
        path.write_text(text)
        assert declares_production(path, environ) is expected, text
    assert declares_production(tmp_path / "missing.yaml") is False


def run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "prod.yaml").write_text(PROD_ENV)
    (tmp_path / "test_prod.py").write_text(TESTS)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "test_prod.py", "-p", "no:cacheprovider", "-q",
         "--env-file", "prod.yaml", "--rootdir", str(tmp_path), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "PROD_LIKE_SECRET": "s3cret-value"},
    )  # fmt: skip


def test_production_runs_only_readonly_tests(tmp_path: Path) -> None:
    out = run_pytest(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed, 2 deselected" in out.stdout
    allowed = run_pytest(tmp_path, "--allow-production")
    assert "3 passed" in allowed.stdout, allowed.stdout


@pytest.mark.parametrize("args", [["-m", "synthetic"], ["-m", "smoke or reliability"]])
def test_production_refuses_synthetic_and_reliability_runs(tmp_path: Path, args: list[str]) -> None:
    out = run_pytest(tmp_path, *args)
    assert out.returncode == 4, out.stdout + out.stderr
    assert "refused: environment 'prod-like' is marked production" in out.stderr
    assert "pytest -m readonly --env-file prod.yaml" in out.stderr
    assert "--allow-production" in out.stderr
    allowed = run_pytest(tmp_path, *args, "--allow-production")
    assert allowed.returncode in (0, 5), allowed.stdout + allowed.stderr  # 5: nothing carries the marker


def test_the_refusal_comes_before_missing_secrets(tmp_path: Path) -> None:
    (tmp_path / "prod.yaml").write_text(PROD_ENV)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "synthetic", "--env-file", "prod.yaml",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert "refused" in out.stderr, out.stderr


def test_signoff_refuses_production(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = tmp_path / "prod.yaml"
    env.write_text(PROD_ENV)  # PROD_LIKE_SECRET unset: refused for being production all the same
    assert cli.main(["signoff", "--env-file", str(env)]) == 2
    assert "the sign-off runs journeys, synthetic faults" in capsys.readouterr().err


def test_cleanup_refuses_production_without_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROD_LIKE_SECRET", "s3cret-value")
    env = tmp_path / "prod.yaml"
    env.write_text(PROD_ENV)
    assert cli.main(["cleanup", "--env-file", str(env)]) == 2
    assert "cleanup deletes data there" in capsys.readouterr().err
    assert cli.main(["cleanup", "--env-file", str(env), "--allow-production"]) == 3
    assert "offers no cleanup API" in capsys.readouterr().err
