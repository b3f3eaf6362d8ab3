"""The shape of an environment file (``environments/NAME.yaml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# fast_timers: the SUT's timers (session TTL, deadlines) are scaled down, so a journey may wait them out.
KNOWN_CAPABILITIES = ("easymo", "faults", "observability", "flags", "cleanup", "fast_timers")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookSettings(_Strict):
    url: str | None = None
    app_secret: str | None = None
    verify_token: str | None = None
    health_url: str | None = None


class BusinessSettings(_Strict):
    phone_number_id: str | None = None
    display_phone_number: str | None = None


class GraphSimulatorSettings(_Strict):
    """Where the harness's Graph API simulator listens, so a deployed bot can send its replies there."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    access_token: str | None = None

    @field_validator("host")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        if value not in ("127.0.0.1", "localhost", "::1") and not value.startswith("127."):
            raise ValueError("the Graph API simulator only listens on loopback (127.0.0.1, localhost or ::1)")
        return value


class ObservabilitySettings(_Strict):
    url: str | None = None
    admin_token: str | None = None


class Timeouts(_Strict):
    reply_seconds: float = Field(default=5.0, gt=0, le=600)
    no_reply_seconds: float = Field(default=1.0, gt=0, le=60)
    # The latency budget of each expected reply in a journey (a journey's reply_budget or an
    # expectation's within overrides it): a reply that comes, but later, fails like one that never came.
    reply_budget_seconds: float = Field(default=1.0, gt=0, le=600)
    http_seconds: float = Field(default=10.0, gt=0, le=120)


class TestNumbers(_Strict):
    """The reserved range synthetic users come from: every number is ``prefix`` + random digits."""

    __test__ = False  # not a pytest test class
    prefix: str = Field(default="25079", pattern=r"^2507\d{0,6}$")
    length: int = Field(default=12, ge=10, le=15)


class Environment(_Strict):
    name: str
    description: str = ""
    production: bool = False
    stack: Literal["local", "none"] = "none"
    webhook: WebhookSettings = WebhookSettings()
    business: BusinessSettings = BusinessSettings()
    graph_simulator: GraphSimulatorSettings | None = None
    observability: ObservabilitySettings | None = None
    timeouts: Timeouts = Timeouts()
    test_numbers: TestNumbers = TestNumbers()
    capabilities: tuple[str, ...] = ()
    reference_defects: str = ""
    # The SUT's own settings as the suite should assume them (AGENT_TIMEOUT_MS, AGENT_MAX_RETRIES...);
    # the local stack also passes them to the reference service as environment variables.
    sut_settings: dict[str, str] = {}

    @field_validator("sut_settings", mode="before")
    @classmethod
    def _settings_as_text(cls, value: object) -> object:
        # Environment variables are text; YAML numbers and booleans are written as the SUT would read them.
        if isinstance(value, dict):
            return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value

    @field_validator("capabilities")
    @classmethod
    def _known_capabilities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in value if c not in KNOWN_CAPABILITIES]
        if unknown:
            raise ValueError(f"unknown capability {unknown[0]!r}; valid: {', '.join(KNOWN_CAPABILITIES)}")
        return value

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def secrets(self) -> list[str]:
        """Every secret value this environment holds, for redaction."""
        values = [self.webhook.app_secret, self.webhook.verify_token]
        if self.graph_simulator:
            values.append(self.graph_simulator.access_token)
        if self.observability:
            values.append(self.observability.admin_token)
        return [v for v in values if v]
