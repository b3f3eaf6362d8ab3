"""Feature flags of the SUT: read and set them through the environment's flag control, and predict buckets.

The flag control is the ``flags`` capability: on the local stack, the reference service's
``/admin/flags`` (``X-Admin-Token``); an environment with another control implements the same three calls.
Setting flags changes the bot for *every* user, so it is refused on an environment marked ``production``,
and a test that sets flags restores what it found (:meth:`FlagClient.restore`, from a finalizer).

The rollout bucket is computed here independently of the SUT (never imported from it): easyMO's
``feature-flags-db.ts`` takes Java's ``String.hashCode()`` of ``"<phone>:<flag>"`` as a signed 32-bit
integer, its absolute value modulo 100, and the user is in when that bucket is below the percentage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from easymo_qa.target import Target

AI_AGENTS = "FEATURE_AI_AGENTS"
ROLLOUT_PERCENTAGE = "FEATURE_AI_AGENTS_ROLLOUT_PERCENTAGE"
BUYER_AGENT = "FEATURE_BUYER_AGENT"
MARKETPLACE_AGENT = "FEATURE_MARKETPLACE_AGENT"
ROLLOUT_FLAG = "ai_agents"
FLAGS_PATH = "/admin/flags"

FlagValue = bool | int


class FlagError(RuntimeError):
    """The flag control refused a change, could not be reached, or must not be used here."""


def java_string_hash(text: str) -> int:
    """``String.hashCode()``: ``h = 31·h + unit`` over UTF-16 code units, wrapped to a signed 32-bit int."""
    h = 0
    raw = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(raw), 2):
        h = (h * 31 + (raw[i] << 8 | raw[i + 1])) % 2**32
    return h - 2**32 if h >= 2**31 else h


def rollout_bucket(phone: str, flag: str = ROLLOUT_FLAG) -> int:
    """The user's bucket 0-99 for ``flag``."""
    return abs(java_string_hash(f"{phone}:{flag}")) % 100


def in_rollout(phone: str, percentage: int, flag: str = ROLLOUT_FLAG) -> bool:
    """Whether the user is inside a rollout at ``percentage`` (0: nobody, 100: everybody)."""
    if percentage <= 0:
        return False
    return percentage >= 100 or rollout_bucket(phone, flag) < percentage


@dataclass(frozen=True)
class FlagSnapshot:
    """Every flag's value in force and its source (``env`` or ``override``), as the flag control said."""

    values: dict[str, FlagValue]
    sources: dict[str, str]

    @property
    def overrides(self) -> dict[str, FlagValue]:
        return {name: v for name, v in self.values.items() if self.sources.get(name) == "override"}


class FlagClient:
    """Get and set the SUT's feature flags through its admin API."""

    def __init__(self, client: httpx.Client, admin_url: str, admin_token: str, *, production: bool = False):
        self.client = client
        self.url = admin_url.rstrip("/") + FLAGS_PATH
        self._headers = {"X-Admin-Token": admin_token}
        self.production = production

    @classmethod
    def for_target(cls, target: Target, client: httpx.Client) -> FlagClient:
        env = target.env_name
        if not target.has("flags"):
            raise FlagError(f"environment {env!r} declares no 'flags' capability (no flag control)")
        if not target.admin_url or not target.admin_token:
            raise FlagError(f"environment {env!r} has no admin URL and token for its flag control")
        return cls(client, target.admin_url, target.admin_token, production=target.production)

    def get(self) -> FlagSnapshot:
        return _snapshot(self._call("GET"))

    def set(self, changes: Mapping[str, FlagValue | None]) -> FlagSnapshot:
        """Apply ``changes`` at once (``None`` drops an override); returns the flags now in force."""
        body = dict(changes)
        if self.production:
            raise FlagError(f"refusing to change feature flags {sorted(body)} on a production environment")
        snapshot = _snapshot(self._call("PUT", json=body))
        now = snapshot.values
        wrong = {
            name: now.get(name)
            for name, value in body.items()
            if value is not None and now.get(name) != value
        }
        if wrong:
            raise FlagError(f"the flag control accepted {body} but now reports {wrong}")
        return snapshot

    def restore(self, before: FlagSnapshot) -> None:
        """Put back the overrides of ``before`` and drop every override made since."""
        now = self.get()
        changes: dict[str, FlagValue | None] = dict.fromkeys(now.overrides)
        changes.update(before.overrides)
        if changes:
            self.set(changes)

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.client.request(method, self.url, headers=self._headers, **kwargs)
        except httpx.HTTPError as exc:
            raise FlagError(f"could not reach the flag control at {self.url}: {exc!r}") from exc
        if response.status_code != 200:
            raise FlagError(f"{method} {self.url} answered {response.status_code}: {response.text[:300]}")
        data: dict[str, Any] = response.json()
        return data


def _snapshot(data: dict[str, Any]) -> FlagSnapshot:
    flags: dict[str, dict[str, Any]] = data.get("flags") or {}
    return FlagSnapshot(
        {name: item["value"] for name, item in flags.items()},
        {name: str(item.get("source", "")) for name, item in flags.items()},
    )
