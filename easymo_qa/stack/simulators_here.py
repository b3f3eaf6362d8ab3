"""Start the simulators as one server in this process, on the host the environment names, for a deployed bot
that can reach this machine (``simulators: {host: ..., port: ...}``): the same server as
``easymo-qa simulators serve``, configured from the environment file and the ``SIM_*`` variables."""

from __future__ import annotations

import os
from collections.abc import Callable

from easymo_qa.envs.model import Environment, SimulatorsSettings
from easymo_qa.simulators.deployed import MOUNTS, SimulatorsConfig, create_simulators_app
from easymo_qa.simulators.server import BackgroundServer
from easymo_qa.stack.reference_process import StackError


def start_simulators_here(
    env: Environment, sims: SimulatorsSettings, harness_token: str, stoppers: list[Callable[[], None]]
) -> str:
    """Start the server, register its stop in ``stoppers`` and return its base URL."""
    if not sims.access_token:
        raise StackError(
            f"environment {env.name!r}: simulators.access_token is needed (the Graph token the bot presents)"
        )
    settings = {
        **os.environ,
        "SIM_HARNESS_TOKEN": harness_token,
        "SIM_GRAPH_TOKEN": sims.access_token,
        "SIM_PHONE_NUMBER_ID": env.business.phone_number_id or "",
        "SIM_DISPLAY_PHONE_NUMBER": env.business.display_phone_number or "",
        "SIM_WEBHOOK_URL": env.webhook.url or "",
        "SIM_APP_SECRET": env.webhook.app_secret or "",
    }
    try:
        config = SimulatorsConfig.from_environ(settings)
    except ValueError as exc:
        raise StackError(f"environment {env.name!r}: {exc}") from None
    server = BackgroundServer(
        create_simulators_app(config),
        host=sims.host or "127.0.0.1",
        port=sims.port,
        allow_any_host=True,
        tls_cert=sims.tls_cert,
        tls_key=sims.tls_key,
    )
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        raise StackError(f"cannot start the simulators on {sims.host}:{sims.port}: {exc}") from None
    stoppers.append(server.stop)
    return server.url


__all__ = ["MOUNTS", "start_simulators_here"]
