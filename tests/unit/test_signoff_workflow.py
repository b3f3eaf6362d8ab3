"""The CI workflows, offline: valid YAML with the keys GitHub needs, valid against the workflow schema, and
every command they run exists (a Makefile target, an ``easymo-qa`` command, a file).

``nightly.yml``: the sign-off on the local stack, mutation testing, and the complete sign-off against
staging (the doctor first); ``pull-request.yml``: ``./.ci/run``, i.e. what CI runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
NIGHTLY = WORKFLOWS / "nightly.yml"
PULL_REQUEST = WORKFLOWS / "pull-request.yml"
STAGING_ENV = ROOT / "environments" / "staging.yaml"

# What environments/staging.yaml reads (required, then optional); the staging job gets exactly these.
STAGING_REQUIRED = {
    "STAGING_WEBHOOK_URL",
    "STAGING_APP_SECRET",
    "STAGING_VERIFY_TOKEN",
    "STAGING_PHONE_NUMBER_ID",
    "STAGING_WA_TOKEN",
    "SIM_URL",
    "SIM_HARNESS_TOKEN",
}
STAGING_OPTIONAL = {
    "STAGING_DISPLAY_PHONE_NUMBER",
    "STAGING_HEALTH_URL",
    "STAGING_ADMIN_URL",
    "STAGING_ADMIN_TOKEN",
    "STAGING_MAX_USERS",
}

_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
_SECRET = re.compile(r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def load(path: Path) -> dict[Any, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    return load(NIGHTLY)


@pytest.fixture(scope="module")
def pull_request() -> dict[Any, Any]:
    return load(PULL_REQUEST)


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert on is not None, "no `on:` triggers"
    return on


def steps_of(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", step.get("uses"))) for step in job["steps"])


def step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if action in s.get("uses", ""))


def runs(path: Path) -> list[tuple[str, str]]:
    """Every ``run:`` script of a workflow, as (job, script)."""
    return [
        (name, step["run"])
        for name, job in load(path)["jobs"].items()
        for step in job["steps"]
        if "run" in step
    ]


# ---- both workflows --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [NIGHTLY, PULL_REQUEST], ids=lambda p: p.name)
def test_every_step_uses_an_action_or_runs_a_command(path: Path) -> None:
    workflow = load(path)
    assert workflow["jobs"]
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{name}: {step}"


def makefile_targets() -> set[str]:
    rule = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*:(?!=)", re.MULTILINE)
    return set(rule.findall((ROOT / "Makefile").read_text(encoding="utf-8")))


def cli_commands() -> dict[str, set[str]]:
    """``easymo-qa``'s commands, from the parser that ``easymo-qa --help`` prints: each command with its
    subcommands (``simulators serve``), empty when it has none."""
    from easymo_qa.cli import build_parser

    def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in parser._actions:  # noqa: SLF001 - argparse keeps its subparsers only here
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                return dict(action.choices)
        return {}

    return {name: set(subcommands(sub)) for name, sub in subcommands(build_parser()).items()}


def invocations(script: str, program: str) -> list[list[str]]:
    """The arguments of every call of ``program`` (a command name, or a path's last part) in a script."""
    script = _EXPRESSION.sub("X", script.replace("\\\n", " "))
    calls = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for i, word in enumerate(words):
            if word == program or word.endswith("/" + program):
                args = []
                for arg in words[i + 1 :]:
                    if arg and set(arg) <= set("();<>|&"):
                        break
                    args.append(arg)
                calls.append(args)
    return calls


def test_invocations_reads_shell_lines() -> None:
    script = (
        "command -v x || (make setup && .venv/bin/easymo-qa simulators serve --port ${{ a }}); "
        "make \\\n  t V=1"
    )
    assert invocations(script, "make") == [["setup"], ["t", "V=1"]]
    assert invocations(script, "easymo-qa") == [["simulators", "serve", "--port", "X"]]


@pytest.mark.parametrize("path", [NIGHTLY, PULL_REQUEST], ids=lambda p: p.name)
def test_every_make_target_and_easymo_qa_command_exists(path: Path) -> None:
    targets, commands = makefile_targets(), cli_commands()
    assert {"setup", "signoff", "test", "mutation"} <= targets
    assert {"signoff", "doctor", "simulators", "verdict"} <= set(commands)
    for job, script in runs(path):
        for args in invocations(script, "make"):
            named = [a for a in args if "=" not in a and not a.startswith("-")]
            assert named, f"{path.name} {job}: `make` without a target (the default is not what we mean)"
            assert set(named) <= targets, f"{path.name} {job}: no Makefile target {set(named) - targets}"
        for args in invocations(script, "easymo-qa"):
            assert args, f"{path.name} {job}: easymo-qa without a command"
            assert args[0] in commands, f"{path.name} {job}: no easymo-qa command {args[0]!r}"
            if commands[args[0]]:
                assert args[1:2], f"{path.name} {job}: easymo-qa {args[0]} without its subcommand"
                assert args[1] in commands[args[0]], f"{path.name} {job}: no easymo-qa {args[0]} {args[1]!r}"


def test_the_checks_find_a_missing_command() -> None:
    targets, commands = makefile_targets(), cli_commands()
    assert "sign-off" not in targets
    assert "signof" not in commands
    assert "serve" in commands["simulators"]
    assert "serve" not in commands["doctor"]


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema ships the GitHub workflow schema: no network needed."""
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    return subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=120, check=False)


needs_check_jsonschema = pytest.mark.skipif(
    importlib.util.find_spec("check_jsonschema") is None, reason="check-jsonschema (dev extra) not installed"
)


@needs_check_jsonschema
def test_valid_against_the_github_workflow_schema(tmp_path: Path) -> None:
    out = check_schema(NIGHTLY)  # one call for several files would not say which one is wrong
    assert out.returncode == 0, out.stdout + out.stderr
    out = check_schema(PULL_REQUEST)
    assert out.returncode == 0, out.stdout + out.stderr
    broken = tmp_path / "broken.yml"  # the check can fail: a step with neither `uses` nor `run`
    broken.write_text(PULL_REQUEST.read_text(encoding="utf-8").replace("run: ./.ci/run", "name2: ./.ci/run"))
    assert check_schema(broken).returncode != 0


# ---- pull-request.yml ------------------------------------------------------------------------------------


def test_pull_request_triggers(pull_request: dict[Any, Any]) -> None:
    on = triggers(pull_request)
    assert set(on) == {"pull_request", "push"}
    assert on["push"]["branches"] == ["main"]


def test_pull_request_runs_what_ci_runs(pull_request: dict[Any, Any]) -> None:
    [(name, job)] = pull_request["jobs"].items()
    assert 30 <= job["timeout-minutes"] <= 45, name  # make test: about 13 minutes on 2 cores
    assert "actions/checkout@" in steps_of(job)
    assert step_using(job, "setup-python")["with"]["python-version"] == "3.11"
    assert [s["run"] for s in job["steps"] if "run" in s] == ["./.ci/run"]
    ci_run = ROOT / ".ci" / "run"
    assert os.access(ci_run, os.X_OK)
    assert invocations(ci_run.read_text(encoding="utf-8"), "make") == [["test"]]
    upload = step_using(job, "upload-artifact")
    assert upload["if"] == "failure()"
    assert upload["with"]["path"] == "reports/"


def test_pull_request_cancels_only_superseded_runs(pull_request: dict[Any, Any]) -> None:
    concurrency = pull_request["concurrency"]
    assert concurrency["cancel-in-progress"] is True
    # one group per PR; a push to main falls back to its run id: a group of its own, never cancelled
    assert "github.event.pull_request.number || github.run_id" in concurrency["group"]


# ---- nightly.yml -----------------------------------------------------------------------------------------


def test_nightly_triggers(workflow: dict[Any, Any]) -> None:
    on = triggers(workflow)
    assert "workflow_dispatch" in on
    [schedule] = on["schedule"]
    assert len(schedule["cron"].split()) == 5


def test_local_sign_off_job(workflow: dict[Any, Any]) -> None:
    job = workflow["jobs"]["signoff-local"]
    text = steps_of(job)
    assert "actions/checkout@" in text
    assert step_using(job, "setup-python")["with"]["python-version"] == "3.11"
    assert "apt-get install -y chromium" in text
    assert "make signoff" in text  # exits non-zero on NO-GO, failing the job
    assert job["env"]["EASYMO_LOAD_PROFILE"] == "ci"
    upload = step_using(job, "upload-artifact")
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "reports/"


def gate_output(script: str, tmp_path: Path, **env: str) -> tuple[str, str]:
    """Run the gate's script as the runner would; its output line and its log."""
    output = tmp_path / "output"
    output.write_text("")
    environ = {"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), **env}
    out = subprocess.run(
        ["bash", "-e", "-c", script], env=environ, capture_output=True, text=True, timeout=10, check=True
    )
    return output.read_text().strip(), out.stdout


def test_staging_job_runs_only_when_staging_and_its_simulators_are_configured(
    workflow: dict[Any, Any], tmp_path: Path
) -> None:
    gate = workflow["jobs"]["staging-configured"]
    [check] = gate["steps"]
    assert check["env"] == {name: f"${{{{ secrets.{name} }}}}" for name in ("STAGING_WEBHOOK_URL", "SIM_URL")}
    both = {"STAGING_WEBHOOK_URL": "https://x", "SIM_URL": "https://sim"}
    assert gate_output(check["run"], tmp_path, **both) == ("configured=true", "")
    output, log = gate_output(check["run"], tmp_path, STAGING_WEBHOOK_URL="https://x", SIM_URL="")
    assert output == "configured=false"
    assert log.startswith("::notice::")
    assert "SIM_URL" in log
    assert "STAGING_WEBHOOK_URL" not in log
    output, log = gate_output(check["run"], tmp_path, STAGING_WEBHOOK_URL="", SIM_URL="")
    assert output == "configured=false"
    assert "STAGING_WEBHOOK_URL SIM_URL" in log

    job = workflow["jobs"]["signoff-staging"]
    assert job["needs"] == "staging-configured"
    assert job["if"] == "needs.staging-configured.outputs.configured == 'true'"


def test_staging_job_gets_exactly_what_the_staging_env_file_reads(workflow: dict[Any, Any]) -> None:
    job = workflow["jobs"]["signoff-staging"]
    secrets = set(_SECRET.findall(yaml.safe_dump(job, width=1000)))
    assert secrets <= STAGING_REQUIRED | STAGING_OPTIONAL, secrets - STAGING_REQUIRED - STAGING_OPTIONAL
    # each variable under its own name, so the env file's ${VAR} finds it
    assert job["env"] == {name: f"${{{{ secrets.{name} }}}}" for name in STAGING_REQUIRED | STAGING_OPTIONAL}
    assert "GRAPH_SIMULATOR_PORT" not in str(job)  # the simulators are deployed next to staging now
    if STAGING_ENV.exists():  # the file's ${VAR} and ${VAR:-default} references, against the lists above
        text = STAGING_ENV.read_text(encoding="utf-8")
        required = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))
        optional = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-", text))
        assert (required, optional) == (STAGING_REQUIRED, STAGING_OPTIONAL)


def staging_steps(job: dict[str, Any]) -> list[tuple[int, list[str]]]:
    """(step index, arguments) of every ``easymo-qa`` call in the job."""
    return [
        (i, args)
        for i, step in enumerate(job["steps"])
        for args in invocations(step.get("run", ""), "easymo-qa")
    ]


def test_staging_job_runs_the_doctor_then_the_complete_sign_off(workflow: dict[Any, Any]) -> None:
    job = workflow["jobs"]["signoff-staging"]
    calls = staging_steps(job)
    assert [args for _, args in calls] == [
        ["doctor", "--env", "staging"],
        # all stages, load included (the plan's 100 users: the cutover profile): no --skip-*, no --suites
        ["signoff", "--env", "staging", "--profile", "cutover"],
    ]
    (doctor, _), (signoff, _) = calls
    setup = next(i for i, s in enumerate(job["steps"]) if s.get("run") == "make setup")
    upload = next(i for i, s in enumerate(job["steps"]) if "upload-artifact" in s.get("uses", ""))
    assert setup < doctor < signoff < upload
    # a failing doctor fails the job and the sign-off does not run; the reports are kept either way
    assert "if" not in job["steps"][doctor]
    assert "continue-on-error" not in job["steps"][doctor]
    assert "if" not in job["steps"][signoff]
    assert job["steps"][upload]["if"] == "always()"
    assert job["steps"][upload]["with"]["path"] == "reports/"


def test_staging_steps_unset_empty_secrets(workflow: dict[Any, Any], tmp_path: Path) -> None:
    """An unset secret arrives as "": each easymo-qa step unsets the empty ones, so the env file's default
    applies (an optional one) or the missing variable is named (a required one)."""
    job = workflow["jobs"]["signoff-staging"]
    fake = tmp_path / ".venv" / "bin" / "easymo-qa"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/usr/bin/env bash\necho "args: $*"\nenv | grep -E "^(STAGING|SIM)_" | sort\n')
    fake.chmod(0o755)
    given = dict.fromkeys(STAGING_REQUIRED | STAGING_OPTIONAL, "v")
    given |= {"STAGING_MAX_USERS": "", "STAGING_ADMIN_URL": "", "SIM_HARNESS_TOKEN": ""}
    for index, args in staging_steps(job):
        out = subprocess.run(
            ["bash", "-e", "-c", job["steps"][index]["run"]],
            cwd=tmp_path,
            env={"PATH": os.environ["PATH"], **given},
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        lines = out.stdout.splitlines()
        assert lines[0] == f"args: {' '.join(args)}"
        assert {line.split("=")[0] for line in lines[1:]} == {k for k, v in given.items() if v}
