"""The nightly workflow: valid YAML with the keys GitHub needs, and valid against the workflow schema."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "nightly.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_triggers(workflow: dict[Any, Any]) -> None:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert on is not None, "no `on:` triggers"
    assert "workflow_dispatch" in on
    [schedule] = on["schedule"]
    assert len(schedule["cron"].split()) == 5


def test_every_step_uses_an_action_or_runs_a_command(workflow: dict[Any, Any]) -> None:
    assert workflow["jobs"]
    for name, job in workflow["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{name}: {step}"


def steps_of(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", step.get("uses"))) for step in job["steps"])


def test_local_sign_off_job(workflow: dict[Any, Any]) -> None:
    job = workflow["jobs"]["signoff-local"]
    text = steps_of(job)
    assert "actions/checkout@" in text
    assert "actions/setup-python@" in text
    assert (
        next(s for s in job["steps"] if "setup-python" in s.get("uses", ""))["with"]["python-version"]
        == "3.11"
    )
    assert "apt-get install -y chromium" in text
    assert "make signoff" in text  # exits non-zero on NO-GO, failing the job
    assert job["env"]["EASYMO_LOAD_PROFILE"] == "ci"
    upload = next(s for s in job["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "reports/"


def test_staging_job_runs_only_when_staging_is_configured(workflow: dict[Any, Any]) -> None:
    gate = workflow["jobs"]["staging-configured"]
    assert "secrets.STAGING_WEBHOOK_URL" in str(gate)
    job = workflow["jobs"]["signoff-staging"]
    assert job["needs"] == "staging-configured"
    assert job["if"] == "needs.staging-configured.outputs.configured == 'true'"
    assert "easymo-qa signoff --env staging --skip-load --suites smoke,synthetic" in steps_of(job)
    assert next(s for s in job["steps"] if "upload-artifact" in s.get("uses", ""))["if"] == "always()"


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema ships the GitHub workflow schema: no network needed."""
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    return subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=120, check=False)


needs_check_jsonschema = pytest.mark.skipif(
    importlib.util.find_spec("check_jsonschema") is None, reason="check-jsonschema (dev extra) not installed"
)


@needs_check_jsonschema
def test_valid_against_the_github_workflow_schema(tmp_path: Path) -> None:
    out = check_schema(WORKFLOW)
    assert out.returncode == 0, out.stdout + out.stderr
    broken = tmp_path / "broken.yml"  # the check can fail: a step with neither `uses` nor `run`
    broken.write_text(
        WORKFLOW.read_text(encoding="utf-8").replace("run: make signoff", "name2: make signoff")
    )
    assert check_schema(broken).returncode != 0
