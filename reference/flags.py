"""Feature flags: which agents answer, and for which users (the deterministic rollout bucket).

Read once from ``FEATURE_*`` environment variables, easyMO style: ``1``/``true``/``yes``/``on``
(case-insensitive) mean on, any other non-empty value means off, unset keeps the default. A user is in
the AI rollout when ``abs(java_string_hash("<phone>:ai_agents")) % 100 < percentage`` (easyMO's later
``feature-flags-db.ts``). An agent that is off, or a user outside the rollout, gets the legacy flow.
Runtime overrides (``PUT /admin/flags``, :mod:`reference.flag_api`) replace single variables' values on
top of the environment's, from the next decision on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

BUYER, STATION, VENDOR, DRIVER, ADMIN, SUPPORT, MARKETPLACE = (
    "buyer",
    "station",
    "vendor",
    "driver",
    "admin",
    "support",
    "marketplace",
)
AGENTS = (BUYER, STATION, VENDOR, DRIVER, ADMIN, SUPPORT, MARKETPLACE)
ROLLOUT_FLAG = "ai_agents"
TRUTHY = frozenset({"1", "true", "yes", "on"})

# agent -> (environment variable, default)
AGENT_VARIABLES: dict[str, tuple[str, bool]] = {
    BUYER: ("FEATURE_BUYER_AGENT", True),
    STATION: ("FEATURE_STATION_AGENT", True),
    VENDOR: ("FEATURE_VENDOR_AGENT", True),
    DRIVER: ("FEATURE_DRIVER_AGENT", True),
    ADMIN: ("FEATURE_ADMIN_AGENT", True),
    SUPPORT: ("FEATURE_SUPPORT_AGENT", True),
    MARKETPLACE: ("FEATURE_MARKETPLACE_AGENT", False),
}
AI_VARIABLE = "FEATURE_AI_AGENTS"
ROLLOUT_VARIABLE = "FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE"


class FlagError(ValueError):
    """A flag variable has a value that cannot be used (only the rollout percentage can be malformed)."""


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode()``: ``h = 31 * h + c`` over UTF-16 code units, as a signed 32-bit int."""
    h = 0
    for unit in _utf16_units(text):
        h = (31 * h + unit) & 0xFFFFFFFF
    return h - 0x100000000 if h >= 0x80000000 else h


def rollout_bucket(phone: str, flag: str = ROLLOUT_FLAG) -> int:
    """The user's bucket 0-99 for ``flag`` (always the same for the same phone and flag)."""
    return abs(java_string_hash(f"{phone}:{flag}")) % 100


def _utf16_units(text: str) -> list[int]:
    data = text.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]


def _default_agents() -> Mapping[str, bool]:
    return MappingProxyType({agent: default for agent, (_, default) in AGENT_VARIABLES.items()})


@dataclass(frozen=True)
class Decision:
    enabled: bool
    reason: str  # "on", "ai_agents_off", "agent_off", "outside_rollout"


@dataclass(frozen=True)
class Flags:
    ai_agents: bool = True
    rollout_percentage: int = 100
    agents: Mapping[str, bool] = field(default_factory=_default_agents)
    # Variable name -> value set at run time; mutated only through set_overrides (on the event loop).
    overrides: dict[str, bool | int] = field(default_factory=dict, compare=False, repr=False)

    def current(self) -> Flags:
        """The flags in force: the environment's values with the runtime overrides applied."""
        if not self.overrides:
            return self
        o = self.overrides
        agents = {a: bool(o.get(name, self.agents.get(a, False))) for a, (name, _) in AGENT_VARIABLES.items()}
        return Flags(
            ai_agents=bool(o.get(AI_VARIABLE, self.ai_agents)),
            rollout_percentage=int(o.get(ROLLOUT_VARIABLE, self.rollout_percentage)),
            agents=MappingProxyType(agents),
        )

    def set_overrides(self, changes: Mapping[str, bool | int | None]) -> None:
        """Override variables by name (already validated); None drops an override (back to the env)."""
        for name, value in changes.items():
            if value is None:
                self.overrides.pop(name, None)
            else:
                self.overrides[name] = value

    def decide(
        self, agent: str, phone: str, *, force_on: bool = False, ignored: Collection[str] = ()
    ) -> Decision:
        """Whether ``agent`` answers ``phone``; ``force_on`` and ``ignored`` (``ai_agents``, ``agent``: flags
        not looked at; ``rollout_salt``: the bucket hashes the phone alone) are for defect switches."""
        if force_on:
            return Decision(True, "on")
        now = self.current()
        if not now.ai_agents and "ai_agents" not in ignored:
            return Decision(False, "ai_agents_off")
        if not now.agents.get(agent, False) and "agent" not in ignored:
            return Decision(False, "agent_off")
        bucket = abs(java_string_hash(phone)) % 100 if "rollout_salt" in ignored else rollout_bucket(phone)
        if now.rollout_percentage < 100 and bucket >= now.rollout_percentage:
            return Decision(False, "outside_rollout")
        return Decision(True, "on")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Flags:
        agents = {agent: _bool(env, name, default) for agent, (name, default) in AGENT_VARIABLES.items()}
        raw = env.get(ROLLOUT_VARIABLE, "").strip()
        percentage = 100
        if raw:
            try:
                percentage = int(raw)
            except ValueError:
                raise FlagError(f"{ROLLOUT_VARIABLE} must be an integer 0-100, got {raw!r}") from None
            if not 0 <= percentage <= 100:
                raise FlagError(f"{ROLLOUT_VARIABLE} must be between 0 and 100, got {percentage}")
        return cls(
            ai_agents=_bool(env, AI_VARIABLE, True),
            rollout_percentage=percentage,
            agents=MappingProxyType(agents),
        )


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    return raw.lower() in TRUTHY
