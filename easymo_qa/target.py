"""Target: the resolved endpoints and credentials of the system under test for one session."""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from easymo_qa.envs.model import Environment


@dataclass(frozen=True)
class Target:
    """Everything a test needs to talk to the SUT; JSON-serialisable so xdist workers can share it."""

    env_name: str
    webhook_url: str
    # Secrets are left out of repr(): a failing test's traceback shows its locals (the target among
    # them) in the JUnit XML and Allure results, where no redactor reads.
    app_secret: str = field(repr=False)
    verify_token: str = field(repr=False)
    phone_number_id: str
    display_phone_number: str
    graph_api_url: str | None = None
    access_token: str | None = field(default=None, repr=False)
    health_url: str | None = None
    admin_url: str | None = None
    admin_token: str | None = field(default=None, repr=False)
    capabilities: tuple[str, ...] = ()
    production: bool = False
    reply_seconds: float = 5.0
    no_reply_seconds: float = 1.0
    reply_budget_seconds: float = 1.0  # default latency budget of each expected reply in journeys
    http_seconds: float = 10.0
    number_prefix: str = "25079"
    number_length: int = 12
    defects: tuple[str, ...] = field(default_factory=tuple)
    llm_url: str | None = None
    payments_url: str | None = None
    maps_url: str | None = None
    sut_settings: dict[str, str] = field(default_factory=dict)
    # A deployed `easymo-qa simulators serve` (its base URL) and the token its harness API (/_sim/...)
    # wants; None when the simulators run in this process's stack without a token.
    simulators_url: str | None = None
    harness_token: str | None = field(default=None, repr=False)
    # Where the SUT runs, in the report's words: "reference stack (local)" or the webhook's host.
    label: str = ""

    def setting(self, name: str, default: int) -> int:
        """An integer SUT setting (e.g. AGENT_TIMEOUT_MS) as the environment declares it."""
        return int(self.sut_settings.get(name, default))

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def secrets(self) -> list[str]:
        values = (self.app_secret, self.verify_token, self.access_token, self.admin_token, self.harness_token)
        return [s for s in values if s]

    def harness_auth(self) -> httpx.Auth | None:
        """The auth every harness HTTP client uses: the harness token on the simulators' ``/_sim/`` API only
        (never on the webhook, the admin API or a bot-side Graph call), or None when there is no token."""
        if not self.harness_token:
            return None
        return HarnessAuth(self.harness_token)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def for_environment(cls, env: Environment, **endpoints: Any) -> Target:
        """A target with the environment's capabilities, timeouts and number range, and these endpoints."""
        return cls(
            env_name=env.name,
            capabilities=env.capabilities,
            production=env.production,
            reply_seconds=env.timeouts.reply_seconds,
            no_reply_seconds=env.timeouts.no_reply_seconds,
            reply_budget_seconds=env.timeouts.reply_budget_seconds,
            http_seconds=env.timeouts.http_seconds,
            number_prefix=env.test_numbers.prefix,
            number_length=env.test_numbers.length,
            sut_settings=dict(env.sut_settings),
            **endpoints,
        )

    @classmethod
    def from_json(cls, text: str) -> Target:
        data = json.loads(text)
        for key in ("capabilities", "defects"):
            data[key] = tuple(data.get(key) or ())
        return cls(**data)


class HarnessAuth(httpx.Auth):
    """``Authorization: Bearer <harness token>`` on a simulator's ``/_sim/...`` paths only: the token never
    reaches the SUT (which may log headers) nor the Graph API routes (which want the bot's own token)."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "/_sim/" in request.url.path or request.url.path.endswith("/_sim"):
            request.headers["Authorization"] = self._header
        yield request


def harness_headers(target: Target) -> dict[str, str]:
    """The harness token as a header, for clients that are not httpx (Locust's geventhttpclient)."""
    return {"Authorization": f"Bearer {target.harness_token}"} if target.harness_token else {}
