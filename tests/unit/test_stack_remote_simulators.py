"""A deployed bot with the simulators as one server: started here (``simulators.host``) or deployed
(``simulators.url``). The target points at the server's mounts, the harness token goes only to /_sim/."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from easymo_qa.envs import load_environment
from easymo_qa.simulators.deployed import SimulatorsConfig, create_simulators_app
from easymo_qa.simulators.server import BackgroundServer
from easymo_qa.stack.reference_process import StackError
from easymo_qa.stack.session import start_stack

BOT = """name: deployed-bot
webhook: {url: "http://127.0.0.1:9/wa-webhook", app_secret: s3cret, verify_token: v}
business: {phone_number_id: "123"}
"""


def env_file(tmp_path: Path, simulators: str) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(BOT + simulators, encoding="utf-8")
    return path


def test_simulators_started_here_serve_the_target(tmp_path: Path) -> None:
    env = load_environment(
        env_file(tmp_path, "simulators: {host: 127.0.0.1, access_token: tok, serves: [graph, llm]}\n")
    )
    with start_stack(env) as stack:
        target = stack.target
        assert target.simulators_url is not None
        assert target.graph_api_url == f"{target.simulators_url}/graph"
        assert target.llm_url == f"{target.simulators_url}/llm"
        assert (target.payments_url, target.maps_url) == (None, None)  # not pointed at the simulators
        assert target.has("faults")
        assert target.label == "deployed-bot (127.0.0.1)"
        assert target.harness_token in target.secrets()
        with httpx.Client(auth=target.harness_auth()) as client:
            assert client.get(f"{target.graph_api_url}/_sim/messages", params={"wait": 0}).status_code == 200
        assert httpx.get(f"{target.graph_api_url}/_sim/messages").status_code == 401  # no token, no API


def test_deployed_simulators_are_reached_with_the_harness_token(tmp_path: Path) -> None:
    config = SimulatorsConfig.from_environ(
        {"SIM_HARNESS_TOKEN": "h4rness", "SIM_GRAPH_TOKEN": "tok", "SIM_PHONE_NUMBER_ID": "123"}
    )
    with BackgroundServer(create_simulators_app(config)) as server:
        simulators = f"simulators:\n  url: {server.url}/\n  harness_token: h4rness\n  serves: [graph, maps]\n"
        with start_stack(load_environment(env_file(tmp_path, simulators))) as stack:
            target = stack.target
            assert target.maps_url == f"{server.url}/maps"
            with httpx.Client(auth=target.harness_auth()) as client:
                assert client.get(f"{target.maps_url}/_sim/calls").status_code == 200
                # the token never goes to the bot's side of the Graph API, which wants the bot's own token
                sent = client.post(f"{target.graph_api_url}/v21.0/123/messages", json={})
                assert sent.status_code == 401
                assert sent.json()["error"]["code"] == 190


def test_simulators_started_here_need_the_bots_graph_token(tmp_path: Path) -> None:
    env = load_environment(env_file(tmp_path, "simulators: {host: 127.0.0.1}\n"))
    with pytest.raises(StackError, match="simulators.access_token is needed"):
        start_stack(env)


def test_a_targets_repr_holds_no_secret() -> None:
    """A failing test's traceback prints its locals into JUnit XML and Allure results, unredacted."""
    from easymo_qa.target import Target

    tokens = {
        "access_token": "graph-s3cret",
        "admin_token": "admin-s3cret",
        "harness_token": "harness-s3cret",
    }
    target = Target("x", "http://127.0.0.1:9/w", "app-s3cret", "verify-s3cret", "1", "2", **tokens)
    assert "s3cret" not in repr(target)
    assert Target.from_json(target.to_json()) == target  # still carried to xdist workers whole
