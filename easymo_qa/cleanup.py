"""Remove the test data a run left in an environment, through the environment's cleanup API.

Every simulated user comes from the environment's reserved test number range (``test_numbers.prefix``,
``25079…`` by default), so that prefix marks everything the harness created: contacts, sessions, orders,
wallets, tickets. An environment that declares the ``cleanup`` capability offers
``POST {observability.url}/admin/cleanup`` (``X-Admin-Token``) with ``{"phone_prefix": PREFIX}``; it
deletes what belongs to those numbers and answers what it removed (a JSON object).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from easymo_qa.envs.model import Environment

CLEANUP_PATH = "/admin/cleanup"
CAPABILITY = "cleanup"
# A prefix this short would reach real users' numbers (2507 is every Rwandan mobile number).
MIN_PREFIX_DIGITS = 5


class CleanupUnavailable(RuntimeError):
    """The environment offers no cleanup API (nothing was sent)."""


class CleanupError(RuntimeError):
    """The cleanup API refused or failed; the message says what it answered."""


@dataclass(frozen=True)
class CleanupResult:
    url: str
    phone_prefix: str
    removed: dict[str, Any]  # the API's answer, e.g. {"contacts": 12, "orders": 3}

    def describe(self) -> str:
        counts = {k: v for k, v in self.removed.items() if isinstance(v, int | float)}
        what = ", ".join(f"{n} {k}" for k, n in counts.items()) if counts else str(self.removed or "nothing")
        return f"removed test data of numbers {self.phone_prefix}… through {self.url}: {what}"


def cleanup_request(env: Environment) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL, headers and body of the cleanup call, or :class:`CleanupUnavailable` saying why not."""
    if not env.has(CAPABILITY):
        raise CleanupUnavailable(
            f"environment {env.name!r} offers no cleanup API (it does not declare the {CAPABILITY!r} "
            f"capability): nothing was removed. Test data there carries the reserved number prefix "
            f"{env.test_numbers.prefix}…"
        )
    obs = env.observability
    if obs is None or not obs.url or not obs.admin_token:
        raise CleanupUnavailable(
            f"environment {env.name!r} declares {CAPABILITY!r} but no observability.url and "
            f"observability.admin_token to call {CLEANUP_PATH} with: nothing was removed"
        )
    prefix = env.test_numbers.prefix
    if len(prefix) < MIN_PREFIX_DIGITS:
        raise CleanupUnavailable(
            f"refusing to clean up numbers {prefix}…: a prefix under {MIN_PREFIX_DIGITS} digits would reach "
            "real users' numbers"
        )
    url = obs.url.rstrip("/") + CLEANUP_PATH
    return url, {"X-Admin-Token": obs.admin_token}, {"phone_prefix": prefix}


def cleanup_test_data(env: Environment, client: httpx.Client) -> CleanupResult:
    """Ask the environment to delete everything of its reserved test numbers."""
    url, headers, body = cleanup_request(env)
    try:
        response = client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise CleanupError(f"could not reach the cleanup API at {url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code == 404:
        raise CleanupError(f"{url} answered 404: this deployment has no cleanup API yet")
    if not response.is_success:
        raise CleanupError(f"{url} answered {response.status_code}: {response.text[:300]}")
    try:
        removed = response.json()
    except ValueError:
        removed = {}
    return CleanupResult(url, body["phone_prefix"], removed if isinstance(removed, dict) else {})
