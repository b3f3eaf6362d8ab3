"""The shape of an environment file (``environments/NAME.yaml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


SIMULATED_DEPENDENCIES = ("graph", "llm", "payments", "maps")
# The dependencies whose faults the fault plane injects: a SUT that points any of them at our simulators
# can be given the synthetic failure scenarios.
FAULT_DEPENDENCIES = ("llm", "payments", "maps")


class SimulatorsSettings(_Strict):
    """The simulators as one server (`easymo-qa simulators serve`): deployed where the bot can reach it
    (``url`` and ``harness_token``), or started by the harness on a host of the user's choice (``host``).

    ``serves`` says which of the SUT's base URLs point at these simulators (its Graph API, LLM, payments and
    maps base URLs: ``<url>/graph``, ``<url>/llm``, ...); capabilities follow from it.
    """

    url: str | None = None
    harness_token: str | None = None
    host: str | None = None
    port: int = Field(default=0, ge=0, le=65535)
    tls_cert: str | None = None
    tls_key: str | None = None
    # The Graph access token the bot presents (its WA_TOKEN); the simulators refuse any other with 401/190.
    access_token: str | None = None
    verify_tls: bool = True
    serves: tuple[Literal["graph", "llm", "payments", "maps"], ...] = ("graph",)

    @model_validator(mode="after")
    def _one_place(self) -> SimulatorsSettings:
        if bool(self.url) == bool(self.host):
            raise ValueError("give url (deployed simulators) or host (started here): one of them")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        if self.url and not self.harness_token:
            raise ValueError("deployed simulators need harness_token (the server's SIM_HARNESS_TOKEN)")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("TLS needs both tls_cert and tls_key")
        if "graph" not in self.serves:
            raise ValueError("serves must include graph: the harness reads the bot's replies there")
        return self

    def faults(self) -> bool:
        return any(d in self.serves for d in FAULT_DEPENDENCIES)


class LoadSettings(_Strict):
    """Limits of the load test on this environment (a shared staging must not be flattened by accident)."""

    max_users: int | None = Field(default=None, ge=1)


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
    simulators: SimulatorsSettings | None = None
    load: LoadSettings = LoadSettings()
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

    @model_validator(mode="after")
    def _capabilities_follow_configuration(self) -> Environment:
        # faults and observability follow from what is configured: declared without it, they would make
        # every scenario fail for the file's fault; configured, they need not be declared.
        if self.simulators and self.graph_simulator:
            raise ValueError("give simulators or graph_simulator, not both (simulators has the Graph API)")
        if self.stack == "local":
            return self
        derived = list(self.capabilities)
        can_fault = bool(self.simulators and self.simulators.faults())
        if "faults" in derived and not can_fault:
            raise ValueError(
                "capability 'faults' needs simulators.serves to include llm, payments or maps "
                "(the SUT's base URLs for them pointing at the simulators)"
            )
        observable = bool(self.observability and self.observability.url and self.observability.admin_token)
        if "observability" in derived and not observable:
            raise ValueError("capability 'observability' needs observability.url and .admin_token")
        for capability, present in (("faults", can_fault), ("observability", observable)):
            if present and capability not in derived:
                derived.append(capability)
        object.__setattr__(self, "capabilities", tuple(derived))
        return self

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def secrets(self) -> list[str]:
        """Every secret value this environment holds, for redaction."""
        values = [self.webhook.app_secret, self.webhook.verify_token]
        if self.graph_simulator:
            values.append(self.graph_simulator.access_token)
        if self.simulators:
            values += [self.simulators.harness_token, self.simulators.access_token]
        if self.observability:
            values.append(self.observability.admin_token)
        return [v for v in values if v]
