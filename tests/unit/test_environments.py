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
    }
    for path in sorted((REPO / "environments").glob("*.yaml")):
        env = load_environment(path, environ)
        assert env.name
    assert load_environment(REPO / "environments/production.yaml", environ).production is True
    assert load_environment(REPO / "environments/staging.yaml", environ).graph_simulator.port == 8089


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
