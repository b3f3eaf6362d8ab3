"""Environment files: ${VAR} expansion, validation errors with file:line, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from easymo_qa.envs import EnvironmentError_, Redactor, load_environment, resolve_environment_path

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_environments_load() -> None:
    environ = {
        "STAGING_WEBHOOK_URL": "https://staging.example/wa-webhook",
        "STAGING_APP_SECRET": "s3cret-value",
        "STAGING_VERIFY_TOKEN": "vt",
        "STAGING_PHONE_NUMBER_ID": "123",
        "STAGING_WA_TOKEN": "tok",
        "PROD_WEBHOOK_URL": "https://prod.example/wa-webhook",
        "BOT_WEBHOOK_URL": "http://127.0.0.1:1/x",
        "BOT_APP_SECRET": "a",
        "BOT_VERIFY_TOKEN": "b",
        "BOT_PHONE_NUMBER_ID": "1",
        "GRAPH_SIMULATOR_PORT": "8089",
        "SIM_URL": "https://qa-sim.staging.example",
        "SIM_HARNESS_TOKEN": "harness-secret",
        **{f"REHEARSAL_{name}": "http://127.0.0.1:9" for name in ("WEBHOOK_URL", "HEALTH_URL", "SIM_URL")},
        **{f"REHEARSAL_{name}": "x" for name in ("APP_SECRET", "VERIFY_TOKEN", "PHONE_NUMBER_ID")},
        **{f"REHEARSAL_{name}": "y" for name in ("HARNESS_TOKEN", "WA_TOKEN", "ADMIN_TOKEN")},
        "REHEARSAL_ADMIN_URL": "http://127.0.0.1:9",
    }
    for path in sorted((REPO / "environments").glob("*.yaml")):
        env = load_environment(path, environ)
        assert env.name
    assert load_environment(REPO / "environments/production.yaml", environ).production is True
    staging = load_environment(REPO / "environments/staging.yaml", environ)
    assert staging.simulators is not None
    assert staging.simulators.url == "https://qa-sim.staging.example"
    # faults follow from the simulators serving staging's LLM, payments and maps; observability needs its
    # admin API, which this staging did not give
    assert staging.capabilities == ("easymo", "faults")
    assert staging.load.max_users == 100
    assert {"harness-secret", "tok"} <= set(staging.secrets())


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("name: x\nsimulators:\n  url: https://sim.example\n", 2, "need harness_token"),
        ("name: x\nsimulators:\n  url: sim.example\n  harness_token: t\n", 2, "must start with http"),
        ("name: x\nsimulators:\n  port: 8089\n", 2, "one of them"),
        ("name: x\nsimulators:\n  host: 0.0.0.0\n  serves: [llm]\n", 2, "must include graph"),
        ("name: x\ncapabilities: [faults]\n", 1, "capability 'faults' needs simulators.serves"),
        ("name: x\nload:\n  max_users: 0\n", 3, "greater than or equal to 1"),
    ],
)
def test_simulators_and_derived_capabilities_are_checked(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(EnvironmentError_) as info:
        load_environment(path, {})
    assert f"{path}:{line}" in str(info.value)
    assert fragment in str(info.value)


def test_simulators_started_here_may_listen_on_any_host(tmp_path: Path) -> None:
    """The product serves real deployments: a bot elsewhere must reach them (tests bind only loopback)."""
    path = write(tmp_path, "name: x\nsimulators:\n  host: 0.0.0.0\n  port: 8089\n  serves: [graph, maps]\n")
    env = load_environment(path, {})
    assert env.simulators is not None
    assert env.simulators.host == "0.0.0.0"
    assert env.capabilities == ("faults",)


def test_variables_expand_with_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nwebhook:\n  url: ${URL}\n  app_secret: ${SECRET:-fallback}\n")
    env = load_environment(path, {"URL": "http://127.0.0.1:9/w"})
    assert env.webhook.url == "http://127.0.0.1:9/w"
    assert env.webhook.app_secret == "fallback"


def test_missing_variable_names_file_line_key_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nwebhook:\n  url: http://127.0.0.1\n  app_secret: ${NOPE_SECRET}\n")
    with pytest.raises(EnvironmentError_) as info:
        load_environment(path, {})
    message = str(info.value)
    assert f"{path}:4" in message
    assert "webhook.app_secret" in message
    assert "NOPE_SECRET" in message


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("name: x\nwebhok:\n  url: y\n", 2, "unknown key"),
        ("name: x\ntimeouts:\n  reply_seconds: -1\n", 3, "greater than 0"),
        ("name: x\ncapabilities: [easymo, teleport]\n", 2, "valid: easymo"),
        ("name: x\ngraph_simulator:\n  host: 10.0.0.5\n", 3, "loopback"),
        ("name: x\nstack: docker\n", 2, "'local' or 'none'"),
        ("name: x\n  bad: [indent\n", 2, "not valid YAML"),
        ("name: x\nname: y\n", 2, "duplicate key"),
    ],
)
def test_bad_files_point_at_the_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(EnvironmentError_) as info:
        load_environment(path, {})
    assert f"{path}:{line}" in str(info.value)
    assert fragment in str(info.value)


def test_unknown_env_name_lists_available(tmp_path: Path) -> None:
    (tmp_path / "local.yaml").write_text("name: local\n")
    with pytest.raises(EnvironmentError_, match="available: local"):
        resolve_environment_path("stagin", [tmp_path])


def test_redactor_masks_secrets_longest_first() -> None:
    redact = Redactor(["abcd1234", "abcd1234-extended", "xy"])
    assert redact("token=abcd1234-extended and abcd1234, xy") == "token=*** and ***, xy"


def test_an_empty_variable_takes_the_default_as_in_the_shell(tmp_path: Path) -> None:
    """CI passes a secret that was never configured as "": the file's default must still apply."""
    path = write(tmp_path, "name: x\nload:\n  max_users: ${MAX_USERS:-100}\n")
    assert load_environment(path, {"MAX_USERS": ""}).load.max_users == 100
    assert load_environment(path, {"MAX_USERS": "7"}).load.max_users == 7
