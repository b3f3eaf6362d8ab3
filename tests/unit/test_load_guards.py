"""Load-test safety and naming: production is refused, shared targets only within their cap; numbers never
collide."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path

import pytest

from easymo_qa.conversation import load_journey
from easymo_qa.load.driver import short_error, step_name, worker_number_pool
from easymo_qa.load.policy import LoadPolicy, LoadPolicyError, policy_for
from easymo_qa.load.stack import LoadTargetError, check_target, is_loopback_url, load_env, target_from_file
from easymo_qa.target import Target

REPO = Path(__file__).resolve().parents[2]
ENVS = [REPO / "environments"]


def target(**overrides: object) -> Target:
    values: dict[str, object] = {
        "env_name": "x",
        "webhook_url": "http://127.0.0.1:9000/wa-webhook",
        "app_secret": "s",
        "verify_token": "v",
        "phone_number_id": "1",
        "display_phone_number": "2",
        "graph_api_url": "http://127.0.0.1:9001",
    }
    return Target(**(values | overrides))  # type: ignore[arg-type]


def test_production_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROD_WEBHOOK_URL", "http://127.0.0.1:9/wa-webhook")
    with pytest.raises(LoadTargetError, match="marked production"):
        load_env("production", None, ENVS)
    with pytest.raises(LoadTargetError, match="production"):
        check_target(target(production=True))


def test_production_is_refused_before_its_secrets_are_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PROD_WEBHOOK_URL", "PROD_APP_SECRET", "PROD_VERIFY_TOKEN", "PROD_WA_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(LoadTargetError, match="marked production"):
        load_env("production", None, ENVS)


def staging_vars(
    monkeypatch: pytest.MonkeyPatch, webhook: str, sim: str = "https://qa-sim.staging.example"
) -> None:
    for var in ("STAGING_APP_SECRET", "STAGING_VERIFY_TOKEN", "STAGING_PHONE_NUMBER_ID", "STAGING_WA_TOKEN"):
        monkeypatch.setenv(var, "x")
    monkeypatch.setenv("SIM_HARNESS_TOKEN", "h")
    monkeypatch.setenv("SIM_URL", sim)
    monkeypatch.setenv("STAGING_WEBHOOK_URL", webhook)
    monkeypatch.delenv("STAGING_MAX_USERS", raising=False)


def test_off_loopback_targets_are_refused_unless_shared_and_capped() -> None:
    with pytest.raises(LoadTargetError, match="webhook"):
        check_target(target(webhook_url="http://10.0.0.5/wa-webhook"))
    with pytest.raises(LoadTargetError, match="Graph API simulator"):
        check_target(target(graph_api_url=None))
    with pytest.raises(LoadTargetError, match="Graph API simulator"):
        check_target(target(graph_api_url=None), shared=True)
    remote = target(webhook_url="https://wa.staging.example/wa", graph_api_url="https://sim.example/graph")
    assert check_target(remote, shared=True) is remote
    with pytest.raises(LoadTargetError, match="production"):
        check_target(replace(remote, production=True), shared=True)
    assert [
        is_loopback_url(u) for u in ("http://localhost:1", "http://127.9.9.9", "http://[::1]:8", "http://x")
    ] == [
        True,
        True,
        True,
        False,
    ]


def test_staging_is_loaded_within_its_max_users(monkeypatch: pytest.MonkeyPatch) -> None:
    staging_vars(monkeypatch, "https://abc.supabase.co/functions/v1/wa-webhook")
    env, path = load_env("staging", None, ENVS)
    policy = policy_for(env, path)
    assert (policy.shared, policy.max_users, policy.verify_tls) == (True, 100, True)
    policy.check_users(100)
    with pytest.raises(LoadPolicyError) as refused:
        policy.check_users(101)
    assert (
        str(refused.value) == f"{path} allows at most 100 load users (load.max_users); this run asks for 101"
    )
    assert LoadPolicy.from_json(policy.to_json()) == policy  # travels to the workers as it is


def shared_file(tmp_path: Path, load: str, webhook: str = "https://wa.staging.example/wa") -> Path:
    path = tmp_path / "shared.yaml"
    path.write_text(
        "name: shared\nstack: none\n"
        f"webhook: {{url: '{webhook}', app_secret: s, verify_token: v}}\n"
        "business: {phone_number_id: '1', display_phone_number: '2'}\n"
        "simulators: {url: 'https://sim.example', harness_token: h, verify_tls: false}\n" + load
    )
    return path


def test_a_shared_environment_without_max_users_is_refused(tmp_path: Path) -> None:
    path = shared_file(tmp_path, "")
    env, _ = load_env("shared", str(path), ENVS)
    with pytest.raises(LoadPolicyError) as refused:
        policy_for(env, path)
    assert str(refused.value) == f"set load.max_users in {path} to load a shared environment"
    capped = policy_for(*load_env("shared", str(shared_file(tmp_path, "load: {max_users: 5}\n")), ENVS))
    assert (capped.max_users, capped.shared, capped.verify_tls) == (5, True, False)


def test_simulators_off_loopback_make_an_environment_shared(tmp_path: Path) -> None:
    path = shared_file(tmp_path, "", webhook="http://127.0.0.1:9/wa")
    with pytest.raises(LoadPolicyError, match="set load.max_users"):
        policy_for(*load_env("shared", str(path), ENVS))


def test_loopback_needs_no_cap_but_honours_one(tmp_path: Path) -> None:
    env, path = load_env("local", None, ENVS)
    policy = policy_for(env, path)
    assert (policy.shared, policy.max_users) == (False, None)
    policy.check_users(10_000)
    capped = tmp_path / "capped.yaml"
    capped.write_text("name: capped\nstack: local\nload: {max_users: 3}\n")
    with pytest.raises(LoadPolicyError, match="allows at most 3 load users"):
        policy_for(*load_env("capped", str(capped), ENVS)).check_users(4)


def test_local_environment_is_accepted() -> None:
    env, path = load_env("local", None, ENVS)
    assert env.stack == "local"
    assert path.name == "local.yaml"


def test_a_running_stack_is_read_from_its_stack_up_line(tmp_path: Path) -> None:
    env, _ = load_env("local", None, ENVS)
    line = {
        "environment": "local",
        "webhook_url": "http://127.0.0.1:5/wa-webhook",
        "graph_api_url": "http://127.0.0.1:6",
    }
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(line | {"app_secret": "a", "phone_number_id": "1", "defects": []}) + "\n")
    found = check_target(target_from_file(path, env))
    assert found.webhook_url.endswith(":5/wa-webhook")
    assert found.reply_seconds == env.timeouts.reply_seconds
    with pytest.raises(LoadTargetError, match="cannot read"):
        target_from_file(tmp_path / "missing.json", env)


def test_step_names_come_from_the_journey_file() -> None:
    journey = load_journey(REPO / "tests" / "e2e" / "home_menu.journey.yaml")
    assert step_name(journey, 0) == "home-menu:1 user send hi"
    assert step_name(journey, 1) == "home-menu:2 user tap back_home"


def test_short_error_keeps_what_was_expected_not_the_transcript() -> None:
    detail = (
        "  step: user send hi\nno reply matching what was expected within 5.0 s\n  user: user 250790012345\n"
        "  expected:\n    - list with rows ['buyer_search']\n  arrived:\n    - (nothing)\n"
        "  transcript:\n    +0.1s ..."
    )
    assert short_error(detail) == (
        "no reply matching what was expected within 5.0 s; expected list with rows ['buyer_search']"
    )


def test_worker_number_ranges_never_overlap() -> None:
    pools = [worker_number_pool("25079", 12, index) for index in range(100)]
    prefixes = [p.prefix for p in pools]
    assert len(set(prefixes)) == 100
    assert all(len(p) == 7 for p in prefixes)
    numbers = [p.next() for p in pools for _ in range(20)]
    assert len(set(numbers)) == len(numbers)
    assert all(len(n) == 12 and n.startswith("25079") for n in numbers)


def test_load_numbers_are_fresh_in_their_shard_and_keep_a_suffix() -> None:
    pool = worker_number_pool("25079", 12, 37)
    plain = [pool.next() for _ in range(3000)]
    suffixed = [pool.next("42") for _ in range(300)]
    assert len(set(plain + suffixed)) == 3300
    assert all(len(n) == 12 and n.startswith("2507937") for n in plain + suffixed)
    assert all(n.endswith("42") for n in suffixed)
    with pytest.raises(ValueError, match="too long"):
        pool.next("1234")


def imports_locust(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "locust" for a in node.names):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] == "locust"
            and not node.level
        ):
            return True
    return False


def test_only_the_locustfiles_import_locust() -> None:
    # gevent patches the process on `import locust`: the harness, the tests and the load machinery never do.
    allowed = {"loadtests/agents.py", "benchmarks/bare_locustfile.py"}
    found = {
        str(path.relative_to(REPO))
        for folder in ("easymo_qa", "tests", "loadtests", "benchmarks")
        for path in (REPO / folder).rglob("*.py")
        if imports_locust(path)
    }
    assert found == allowed
