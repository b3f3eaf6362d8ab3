"""Settings of the reference service, read once from environment variables.

The service has no config file: the local stack (or an operator) passes everything as environment
variables, named after easyMO's own (``WA_*``) where one exists. A missing or malformed variable is a
``ConfigError`` naming it; ``__main__`` turns that into exit status 2.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .defects import UnknownDefectError, parse_defects

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

    def has_defect(self, name: str) -> bool:
        return name in self.defects

    @property
    def messages_url(self) -> str:
        return f"{self.graph_base_url}/{self.graph_api_version}/{self.phone_id}/messages"

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
        )


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
