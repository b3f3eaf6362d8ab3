"""Start what one test session needs for an environment, and stop it all afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from easymo_qa.envs.model import Environment, SimulatorsSettings
from easymo_qa.simulators.graph_api import GraphSimConfig, create_graph_app
from easymo_qa.simulators.llm import LlmSimConfig, create_llm_app
from easymo_qa.simulators.maps import MapsSimConfig, create_maps_app
from easymo_qa.simulators.payments.app import create_payments_app
from easymo_qa.simulators.payments.model import PaymentsSimConfig
from easymo_qa.simulators.server import BackgroundServer
from easymo_qa.stack import retention
from easymo_qa.stack.reference_process import ReferenceProcess, StackError, free_port
from easymo_qa.stack.simulators_here import MOUNTS, start_simulators_here
from easymo_qa.target import Target

LOCAL_PHONE_NUMBER_ID = "106540352242922"
LOCAL_DISPLAY_NUMBER = "250788000000"


class RunningStack:
    """A started stack: its :class:`Target`, and how to stop everything that was started."""

    def __init__(
        self,
        target: Target,
        stoppers: list[Callable[[], None]],
        problem: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.target = target
        self._stoppers = stoppers
        self._problem = problem

    def problem(self) -> str | None:
        """Why the stack no longer works (its SUT process exited), or None while it does."""
        return self._problem()

    def stop(self) -> None:
        # Stop in reverse start order: the SUT first, so it sends nothing to a closed simulator.
        while self._stoppers:
            self._stoppers.pop()()

    def __enter__(self) -> RunningStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _start_local(env: Environment, reports_dir: Path, attempts: int = 3) -> RunningStack:
    """The local stack; when another process took the reference service's free port before it could bind
    it (a race with any socket of the machine), everything is stopped and started again on new ports."""
    for attempt in range(1, attempts + 1):
        try:
            return _start_local_once(env, reports_dir)
        except StackError as exc:
            if "address already in use" not in str(exc) or attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _start_local_once(env: Environment, reports_dir: Path) -> RunningStack:
    # Fresh secrets every run, unless the environment file pins them (a test that greps the reports for
    # the secrets it used needs to know them).
    graph_token = env.graph_simulator.access_token if env.graph_simulator else None
    pinned_admin = env.observability.admin_token if env.observability else None
    app_secret = env.webhook.app_secret or secrets.token_hex(16)
    verify_token = env.webhook.verify_token or secrets.token_hex(8)
    access_token = graph_token or "local-" + secrets.token_hex(12)
    admin_token = pinned_admin or secrets.token_hex(12)
    sut_port = free_port()
    webhook_url = f"http://127.0.0.1:{sut_port}/wa-webhook"
    graph = BackgroundServer(
        create_graph_app(
            GraphSimConfig(
                access_token=access_token,
                phone_number_id=LOCAL_PHONE_NUMBER_ID,
                display_phone_number=LOCAL_DISPLAY_NUMBER,
                webhook_url=webhook_url,
                app_secret=app_secret,
            )
        )
    )
    llm_key, payments_key, callback_secret = (secrets.token_hex(12) for _ in range(3))
    servers = [
        graph,
        BackgroundServer(create_llm_app(LlmSimConfig(api_key=llm_key))),
        BackgroundServer(
            create_payments_app(PaymentsSimConfig(callback_secret=callback_secret, api_key=payments_key))
        ),
        BackgroundServer(create_maps_app(MapsSimConfig())),
    ]
    stoppers: list[Callable[[], None]] = []
    for server in servers:
        server.start()
        stoppers.append(server.stop)
    _graph, llm, payments, maps = servers
    defects = tuple(d.strip() for d in env.reference_defects.split(",") if d.strip())
    reference = ReferenceProcess(
        {
            **env.sut_settings,
            "WA_APP_SECRET": app_secret,
            "WA_VERIFY_TOKEN": verify_token,
            "WA_PHONE_ID": LOCAL_PHONE_NUMBER_ID,
            "WA_BOT_NUMBER_E164": "+" + LOCAL_DISPLAY_NUMBER,
            "WA_TOKEN": access_token,
            "WA_GRAPH_BASE_URL": graph.url,
            "LLM_BASE_URL": llm.url,
            "LLM_API_KEY": llm_key,
            "PAYMENTS_BASE_URL": payments.url,
            "PAYMENTS_API_KEY": payments_key,
            "PAYMENTS_CALLBACK_SECRET": callback_secret,
            "MAPS_BASE_URL": maps.url,
            "REFERENCE_DB_PATH": str(reports_dir / "stack" / f"reference-{sut_port}.sqlite3"),
            "ADMIN_TOKEN": admin_token,
            "REFERENCE_DEFECTS": ",".join(defects),
        },
        sut_port,
        reports_dir / "stack" / f"reference-{sut_port}.log",
    )
    try:
        reference.start()
    except BaseException:
        for stop in reversed(stoppers):
            stop()
        raise
    stoppers.append(reference.stop)
    target = Target.for_environment(
        env,
        webhook_url=webhook_url,
        app_secret=app_secret,
        verify_token=verify_token,
        phone_number_id=LOCAL_PHONE_NUMBER_ID,
        display_phone_number=LOCAL_DISPLAY_NUMBER,
        graph_api_url=graph.url,
        access_token=access_token,
        health_url=f"{reference.base_url}/health",
        admin_url=reference.base_url,
        admin_token=admin_token,
        defects=defects,
        llm_url=llm.url,
        payments_url=payments.url,
        maps_url=maps.url,
        label=target_label(env),
    )
    return RunningStack(target, stoppers, reference.problem)


def _start_remote(env: Environment) -> RunningStack:
    wanted = {
        "webhook.url": env.webhook.url,
        "webhook.app_secret": env.webhook.app_secret,
        "webhook.verify_token": env.webhook.verify_token,
        "business.phone_number_id": env.business.phone_number_id,
    }
    if env.production:  # the read-only layer needs only the webhook's URL (and its health URL)
        wanted = {"webhook.url": env.webhook.url}
    missing = [key for key, value in wanted.items() if not value]
    if missing:
        raise StackError(f"environment {env.name!r} needs {', '.join(missing)} to reach a deployed bot")
    stoppers: list[Callable[[], None]] = []
    graph_url = access_token = None
    if env.simulators:
        return _with_simulators(env, env.simulators, stoppers)
    if env.graph_simulator:
        sim = env.graph_simulator
        server = BackgroundServer(
            create_graph_app(
                GraphSimConfig(
                    access_token=sim.access_token or "",
                    phone_number_id=env.business.phone_number_id or "",
                    display_phone_number=env.business.display_phone_number or "",
                    webhook_url=env.webhook.url,
                    app_secret=env.webhook.app_secret,
                )
            ),
            host=sim.host,
            port=sim.port,
        )
        server.start()
        stoppers.append(server.stop)
        graph_url, access_token = server.url, sim.access_token
    target = Target.for_environment(
        env, graph_api_url=graph_url, access_token=access_token, **_deployed_bot(env)
    )
    return RunningStack(target, stoppers)


def _with_simulators(
    env: Environment, sims: SimulatorsSettings, stoppers: list[Callable[[], None]]
) -> RunningStack:
    """A deployed bot whose dependencies point at one simulators server: deployed (``url``) or started
    here on the host the user chose, where the bot can reach it."""
    harness_token = sims.harness_token or secrets.token_hex(16)
    base = sims.url.rstrip("/") if sims.url else ""
    if not sims.url:
        base = start_simulators_here(env, sims, harness_token, stoppers)
    urls = {dependency: f"{base}{MOUNTS[dependency]}" for dependency in sims.serves}
    target = Target.for_environment(
        env,
        **_deployed_bot(env),
        graph_api_url=urls["graph"],
        access_token=sims.access_token,
        llm_url=urls.get("llm"),
        payments_url=urls.get("payments"),
        maps_url=urls.get("maps"),
        simulators_url=base,
        harness_token=harness_token,
    )
    return RunningStack(target, stoppers)


def _deployed_bot(env: Environment) -> dict[str, str | None]:
    """A deployed bot's endpoints and credentials as its environment file gives them."""
    obs = env.observability
    return {
        "webhook_url": env.webhook.url or "",
        "app_secret": env.webhook.app_secret or "",
        "verify_token": env.webhook.verify_token or "",
        "phone_number_id": env.business.phone_number_id or "",
        "display_phone_number": env.business.display_phone_number or "",
        "health_url": env.webhook.health_url or None,
        "admin_url": obs.url if obs else None,
        "admin_token": obs.admin_token if obs else None,
        "label": target_label(env),
    }


def target_label(env: Environment) -> str:
    """What the report names as tested: the embedded reference, or the deployed bot's host."""
    if env.stack == "local":
        return "reference stack (local)"
    host = urlsplit(env.webhook.url or "").hostname or "unknown host"
    return f"{env.name} ({host})"


def start_stack(env: Environment, reports_dir: Path = Path("reports")) -> RunningStack:
    """Boot the local stack (``stack: local``) or the pieces a remote environment needs."""
    if env.stack == "local":
        retention.prune(reports_dir / "stack")
        return _start_local(env, reports_dir)
    return _start_remote(env)


__all__ = ["RunningStack", "StackError", "start_stack"]
