"""Settings of the reference service, read once from environment variables.

The service has no config file: the local stack (or an operator) passes everything as environment
variables, named after easyMO's own (``WA_*``) where one exists. A missing or malformed variable is a
``ConfigError`` naming it; ``__main__`` turns that into exit status 2.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .defects import UnknownDefectError, parse_defects
from .flags import TRUTHY, FlagError, Flags

# easyMO clamps the webhook body limit so a typo cannot make every webhook fail with 413.
MIN_WEBHOOK_BYTES = 1024

REQUIRED = (
    "WA_APP_SECRET",
    "WA_VERIFY_TOKEN",
    "WA_PHONE_ID",
    "WA_TOKEN",
    "WA_GRAPH_BASE_URL",
    "REFERENCE_DB_PATH",
    "ADMIN_TOKEN",
)
DEFAULT_SEED_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "seed"
SEED_FILE = "marketplace.yaml"


class ConfigError(ValueError):
    """A required variable is missing or a value is malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    app_secret: str
    verify_token: str
    phone_id: str
    token: str
    graph_base_url: str
    db_path: str
    admin_token: str
    host: str = "127.0.0.1"
    port: int = 8000
    bot_number_e164: str = ""
    graph_api_version: str = "v20.0"
    webhook_max_bytes: int = 262144
    session_ttl_seconds: int = 600
    http_timeout_seconds: float = 10.0
    defects: frozenset[str] = frozenset()
    # Upstreams: an empty base URL means "not configured", which the agents treat as unavailable.
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_model: str = "gpt-4o-mini"
    payments_base_url: str = ""
    payments_api_key: str = ""
    payments_callback_secret: str = ""
    maps_base_url: str = ""
    public_url: str = ""  # empty: http://host:port
    seed_dir: str = ""  # empty: <repo>/fixtures/seed
    agent_timeout_ms: int = 30000
    agent_max_retries: int = 5
    agent_retry_base_ms: int = 200
    # A 429's Retry-After is waited out up to this long; a longer one is not retried (the caller falls back).
    agent_retry_after_max_ms: int = 10000
    rate_limit_per_user: int = 60  # messages per window; 0 turns the limit off
    rate_limit_window_seconds: float = 60.0
    graph_retry_base_ms: int = 400  # Graph 429 / code 130429: base × 2^attempt, up to 4 retries
    delivery_fee_rwf: int = 500
    quote_deadline_ms: int = 120000  # vendors' time to answer a quote request
    driver_accept_deadline_ms: int = 120000  # then the delivery job is offered again (at most 3 rounds)
    payment_pending_notice_ms: int = 10000  # no MoMo callback by then: tell the buyer it is still pending
    # MTN sends a callback once, never again: without one, poll the status this often, this many times.
    payment_poll_interval_ms: int = 15000
    payment_poll_max_attempts: int = 20
    test_faults: bool = False  # REFERENCE_TEST_FAULTS: the /admin/test-faults hook exists
    flags: Flags = field(default_factory=Flags)

    def has_defect(self, name: str) -> bool:
        return name in self.defects

    @property
    def messages_url(self) -> str:
        return f"{self.graph_base_url}/{self.graph_api_version}/{self.phone_id}/messages"

    @property
    def callback_url(self) -> str:
        base = self.public_url or f"http://{self.host}:{self.port}"
        return f"{base}/payments/callback"

    @property
    def seed_path(self) -> Path:
        return Path(self.seed_dir or DEFAULT_SEED_DIR) / SEED_FILE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        missing = [name for name in REQUIRED if not env.get(name, "").strip()]
        if missing:
            raise ConfigError(f"missing required environment variable(s): {', '.join(missing)}")
        base_url = env["WA_GRAPH_BASE_URL"].strip().rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"WA_GRAPH_BASE_URL must start with http:// or https://, got {base_url!r}")
        version = env.get("WA_GRAPH_API_VERSION", "").strip().strip("/") or "v20.0"
        try:
            defects = parse_defects(env.get("REFERENCE_DEFECTS"))
        except UnknownDefectError as exc:
            raise ConfigError(f"REFERENCE_DEFECTS: {exc}") from exc
        try:
            flags = Flags.from_env(env)
        except FlagError as exc:
            raise ConfigError(str(exc)) from exc
        return cls(
            app_secret=env["WA_APP_SECRET"],
            verify_token=env["WA_VERIFY_TOKEN"],
            phone_id=env["WA_PHONE_ID"].strip(),
            token=env["WA_TOKEN"].strip(),
            graph_base_url=base_url,
            db_path=env["REFERENCE_DB_PATH"].strip(),
            admin_token=env["ADMIN_TOKEN"],
            host=env.get("REFERENCE_HOST", "").strip() or "127.0.0.1",
            port=_int(env, "REFERENCE_PORT", 8000, low=0, high=65535),
            bot_number_e164=env.get("WA_BOT_NUMBER_E164", "").strip(),
            graph_api_version=version,
            webhook_max_bytes=max(MIN_WEBHOOK_BYTES, _int(env, "WA_WEBHOOK_MAX_BYTES", 262144, low=1)),
            session_ttl_seconds=_int(env, "SESSION_TTL_SECONDS", 600, low=1),
            http_timeout_seconds=_int(env, "WA_HTTP_TIMEOUT_MS", 10000, low=1) / 1000,
            defects=defects,
            llm_base_url=_url(env, "LLM_BASE_URL"),
            llm_api_key=env.get("LLM_API_KEY", "").strip(),
            llm_model=env.get("LLM_MODEL", "").strip() or "gpt-4o-mini",
            payments_base_url=_url(env, "PAYMENTS_BASE_URL"),
            payments_api_key=env.get("PAYMENTS_API_KEY", "").strip(),
            payments_callback_secret=env.get("PAYMENTS_CALLBACK_SECRET", ""),
            maps_base_url=_url(env, "MAPS_BASE_URL"),
            public_url=_url(env, "REFERENCE_PUBLIC_URL"),
            seed_dir=env.get("REFERENCE_SEED_DIR", "").strip(),
            agent_timeout_ms=_int(env, "AGENT_TIMEOUT_MS", 30000, low=1),
            agent_max_retries=_int(env, "AGENT_MAX_RETRIES", 5, low=0, high=20),
            agent_retry_base_ms=_int(env, "AGENT_RETRY_BASE_MS", 200, low=0),
            agent_retry_after_max_ms=_int(env, "AGENT_RETRY_AFTER_MAX_MS", 10000, low=0),
            rate_limit_per_user=_int(env, "RATE_LIMIT_PER_USER", 60, low=0),
            rate_limit_window_seconds=_int(env, "RATE_LIMIT_WINDOW_SECONDS", 60, low=1),
            graph_retry_base_ms=_int(env, "GRAPH_RETRY_BASE_MS", 400, low=0),
            delivery_fee_rwf=_int(env, "DELIVERY_FEE_RWF", 500, low=0),
            quote_deadline_ms=_int(env, "QUOTE_DEADLINE_MS", 120000, low=1),
            driver_accept_deadline_ms=_int(env, "DRIVER_ACCEPT_DEADLINE_MS", 120000, low=1),
            payment_pending_notice_ms=_int(env, "PAYMENT_PENDING_NOTICE_MS", 10000, low=1),
            payment_poll_interval_ms=_int(env, "PAYMENT_POLL_INTERVAL_MS", 15000, low=1),
            payment_poll_max_attempts=_int(env, "PAYMENT_POLL_MAX_ATTEMPTS", 20, low=0, high=1000),
            test_faults=env.get("REFERENCE_TEST_FAULTS", "").strip().lower() in TRUTHY,
            flags=flags,
        )


def _url(env: Mapping[str, str], name: str) -> str:
    """An optional base URL without its trailing slash; "" when unset."""
    value = env.get(name, "").strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must start with http:// or https://, got {value!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"{name} must be {bounds}, got {value}")
    return value
