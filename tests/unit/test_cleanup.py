"""`easymo-qa cleanup`: the client of an environment's POST /admin/cleanup (mocked with respx)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from easymo_qa import cli
from easymo_qa.cleanup import CleanupError, CleanupUnavailable, cleanup_request, cleanup_test_data
from easymo_qa.envs import EnvironmentError_, load_environment

ADMIN = "adm-7f3k2q-secret"
STAGING = f"""name: staging-like
stack: none
webhook: {{url: "https://bot.example/wa-webhook", app_secret: s3cret, verify_token: v3rify}}
business: {{phone_number_id: "1"}}
observability: {{url: "https://bot.example/", admin_token: {ADMIN}}}
test_numbers: {{prefix: "250791"}}
capabilities: [easymo, observability, cleanup]
"""
URL = "https://bot.example/admin/cleanup"


def env_file(tmp_path: Path, text: str = STAGING) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    return path


@respx.mock
def test_posts_the_reserved_prefix_with_the_admin_token(tmp_path: Path) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, json={"contacts": 12, "orders": 3}))
    with httpx.Client() as client:
        result = cleanup_test_data(load_environment(env_file(tmp_path)), client)
    request = route.calls.last.request
    assert request.headers["X-Admin-Token"] == ADMIN
    assert json.loads(request.content) == {"phone_prefix": "250791"}
    assert result.describe() == f"removed test data of numbers 250791… through {URL}: 12 contacts, 3 orders"


@respx.mock
@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(404), "no cleanup API yet"),
        (httpx.Response(500, text="boom"), "answered 500: boom"),
        (httpx.ConnectError("refused"), "could not reach the cleanup API"),
    ],
)
def test_failures_say_what_the_api_answered(
    tmp_path: Path, response: httpx.Response | Exception, message: str
) -> None:
    route = respx.post(URL)
    route.mock(side_effect=response) if isinstance(response, Exception) else route.mock(return_value=response)
    with httpx.Client() as client, pytest.raises(CleanupError, match=message):
        cleanup_test_data(load_environment(env_file(tmp_path)), client)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("capabilities: [easymo, observability, cleanup]", "capabilities: [easymo]"),
            "offers no cleanup API",
        ),
        (('prefix: "250791"', 'prefix: "2507"'), "would reach real users"),
    ],
)
def test_nothing_is_sent_without_a_safe_cleanup_api(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    env = load_environment(env_file(tmp_path, STAGING.replace(*change)))
    with pytest.raises(CleanupUnavailable, match=message):
        cleanup_request(env)


def test_an_environment_declaring_observability_without_its_url_is_refused_at_load(tmp_path: Path) -> None:
    """No cleanup request can go out: the file itself is refused, with its line."""
    text = STAGING.replace('observability: {url: "https://bot.example/", ', "observability: {")
    with pytest.raises(EnvironmentError_, match="capability 'observability' needs observability.url"):
        load_environment(env_file(tmp_path, text))


@respx.mock
def test_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, json={"contacts": 2, "echo": ADMIN}))
    assert cli.main(["cleanup", "--env-file", str(env_file(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "removed test data of numbers 250791…" in out
    assert ADMIN not in out  # secrets are masked even when the API echoes them
    respx.post(URL).mock(return_value=httpx.Response(404))
    assert cli.main(["cleanup", "--env-file", str(env_file(tmp_path))]) == 1
    assert "no cleanup API yet" in capsys.readouterr().err


def test_local_environment_has_no_cleanup_api(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cleanup", "--env", "local"]) == 3
    assert "environment 'local' offers no cleanup API" in capsys.readouterr().err
