"""The four simulators and their fault plane as ONE server, deployable next to a staging bot.

A server at base URL ``B`` serves each simulator's app, unchanged, under :data:`MOUNTS`: the Graph API at
``B/graph`` (the bot POSTs ``B/graph/v21.0/{phone_number_id}/messages``; the harness reads
``B/graph/_sim/messages``), the LLM at ``B/llm``, payments at ``B/payments`` and maps at ``B/maps``. This
layout is a contract: the environment files and the stack build these URLs from it.

Off loopback anybody may call the server, so every harness path (any path with a ``_sim`` segment) needs
``Authorization: Bearer <harness token>``, except the root ``/_sim/health`` that a container health check
calls. The bot's own routes keep their own checks (the Graph sim wants the bot's ``WA_TOKEN``).
Secrets come from ``SIM_*`` environment variables only (:meth:`SimulatorsConfig.from_environ`).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from easymo_qa.simulators.graph_api import GraphSimConfig, create_graph_app
from easymo_qa.simulators.llm import LlmSimConfig, create_llm_app
from easymo_qa.simulators.maps import MapsSimConfig, create_maps_app
from easymo_qa.simulators.payments.app import create_payments_app
from easymo_qa.simulators.payments.model import PaymentsSimConfig

MOUNTS: dict[str, str] = {"graph": "/graph", "llm": "/llm", "payments": "/payments", "maps": "/maps"}
HEALTH_PATH = "/_sim/health"
CLOCK_PATH = "/_sim/clock"
DEFAULT_DISPLAY_PHONE_NUMBER = "250788000000"
UNAUTHORISED = "the simulators' harness API needs its token (Authorization: Bearer ...)"

REQUIRED = ("SIM_HARNESS_TOKEN", "SIM_GRAPH_TOKEN", "SIM_PHONE_NUMBER_ID")
# What each variable is for, in the order a QA engineer sets them (also the docs' table).
VARIABLES: dict[str, str] = {
    "SIM_HARNESS_TOKEN": "the harness's token for every /_sim/ path (required)",
    "SIM_GRAPH_TOKEN": "the Graph access token the bot presents: staging's WA_TOKEN (required)",
    "SIM_PHONE_NUMBER_ID": "the phone number id the bot sends from: staging's WA_PHONE_ID (required)",
    "SIM_DISPLAY_PHONE_NUMBER": f"the business number in webhooks (default {DEFAULT_DISPLAY_PHONE_NUMBER})",
    "SIM_WEBHOOK_URL": "the bot's webhook, for status webhooks (optional: without it /_sim/statuses is 409)",
    "SIM_APP_SECRET": "the bot's app secret, to sign status webhooks (optional, with SIM_WEBHOOK_URL)",
    "SIM_LLM_API_KEY": "the LLM key the bot presents (optional: empty accepts any bearer token)",
    "SIM_PAYMENTS_API_KEY": "the MoMo key the bot presents (optional: empty accepts any bearer token)",
    "SIM_PAYMENTS_CALLBACK_SECRET": "signs payment callbacks: the bot's PAYMENTS_CALLBACK_SECRET (optional)",
    "SIM_MAPS_API_KEY": "the maps key the bot presents (optional: empty accepts any caller)",
}


class SimulatorsConfigError(ValueError):
    """Required ``SIM_*`` variables are missing or empty; names them all, never a value."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            "the simulators need these environment variables, missing or empty: " + ", ".join(missing)
        )
        self.missing = missing


@dataclass(frozen=True)
class SimulatorsConfig:
    """Everything the deployed server needs; see :data:`VARIABLES` for the environment it comes from."""

    harness_token: str
    graph: GraphSimConfig
    llm: LlmSimConfig
    payments: PaymentsSimConfig
    maps: MapsSimConfig

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> SimulatorsConfig:
        """Read the ``SIM_*`` variables; :class:`SimulatorsConfigError` lists every missing one at once."""

        def get(name: str) -> str:
            return (environ.get(name) or "").strip()

        missing = [name for name in REQUIRED if not get(name)]
        if missing:
            raise SimulatorsConfigError(missing)
        # Without a callback secret the payments sim still answers the bot, but signs its callbacks with a
        # secret nobody knows: the bot must refuse them, which is what a bot with a wrong secret would see.
        callback_secret = get("SIM_PAYMENTS_CALLBACK_SECRET") or secrets.token_hex(16)
        return cls(
            harness_token=get("SIM_HARNESS_TOKEN"),
            graph=GraphSimConfig(
                access_token=get("SIM_GRAPH_TOKEN"),
                phone_number_id=get("SIM_PHONE_NUMBER_ID"),
                display_phone_number=get("SIM_DISPLAY_PHONE_NUMBER") or DEFAULT_DISPLAY_PHONE_NUMBER,
                webhook_url=get("SIM_WEBHOOK_URL") or None,
                app_secret=get("SIM_APP_SECRET") or None,
            ),
            llm=LlmSimConfig(api_key=get("SIM_LLM_API_KEY")),
            payments=PaymentsSimConfig(
                callback_secret=callback_secret,
                api_key=get("SIM_PAYMENTS_API_KEY"),
                callbacks_off_machine=True,  # the bot it calls back is deployed elsewhere
            ),
            maps=MapsSimConfig(api_key=get("SIM_MAPS_API_KEY")),
        )


def is_harness_path(path: str) -> bool:
    """A path of the harness API: any ``_sim`` segment (``/_sim/...``, ``/graph/_sim/messages``, ...)."""
    return "_sim" in path.split("/")


class HarnessTokenGuard:
    """Pure ASGI middleware (long-polls stream through untouched): 401 on a harness path without the
    harness token, except the root health check."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token:
            raise ValueError("the harness token must not be empty")
        self.app = app
        self._expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._refused(scope):
            response = JSONResponse(
                {"error": UNAUTHORISED}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refused(self, scope: Scope) -> bool:
        path = scope["path"]
        if path == HEALTH_PATH or not is_harness_path(path):
            return False
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.strip().partition(b" ")
                given = token.strip() if scheme.lower() == b"bearer" else b""
                break
        return not given or not hmac.compare_digest(given, self._expected)


async def _health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "simulators": list(MOUNTS)})


async def _clock(request: Request) -> JSONResponse:
    return JSONResponse({"now": time.time()})


def create_simulators_app(config: SimulatorsConfig) -> Starlette:
    """The four simulator apps mounted at :data:`MOUNTS`, the root health and clock, behind the guard.

    Each mounted app keeps its own ``app.state`` (Starlette points ``scope["app"]`` at the innermost app);
    they are also reachable as ``app.state.apps[name]``.
    """
    apps = {
        "graph": create_graph_app(config.graph),
        "llm": create_llm_app(config.llm),
        "payments": create_payments_app(config.payments),
        "maps": create_maps_app(config.maps),
    }

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A parent does not run its mounts' lifespans: close the payments sim's callback client here.
        yield
        await apps["payments"].state.payments.aclose()

    root = Starlette(
        routes=[
            Route(HEALTH_PATH, _health, methods=["GET"]),
            Route(CLOCK_PATH, _clock, methods=["GET"]),
            *(Mount(MOUNTS[name], app=sub) for name, sub in apps.items()),
        ],
        lifespan=lifespan,
    )
    root.add_middleware(HarnessTokenGuard, token=config.harness_token)
    root.state.apps = apps
    return root
