"""Target: the resolved endpoints and credentials of the system under test for one session."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from easymo_qa.envs.model import Environment


@dataclass(frozen=True)
class Target:
    """Everything a test needs to talk to the SUT; JSON-serialisable so xdist workers can share it."""

    env_name: str
    webhook_url: str
    app_secret: str
    verify_token: str
    phone_number_id: str
    display_phone_number: str
    graph_api_url: str | None = None
    access_token: str | None = None
    health_url: str | None = None
    admin_url: str | None = None
    admin_token: str | None = None
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

    def setting(self, name: str, default: int) -> int:
        """An integer SUT setting (e.g. AGENT_TIMEOUT_MS) as the environment declares it."""
        return int(self.sut_settings.get(name, default))

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def secrets(self) -> list[str]:
        return [s for s in (self.app_secret, self.verify_token, self.access_token, self.admin_token) if s]

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
