"""Switches a journey's ``inject:`` faults on (simulators or the SUT's test-fault hook) and off again."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx

from easymo_qa.conversation.model import Inject
from easymo_qa.target import Target

log = logging.getLogger(__name__)


class InjectionError(AssertionError):
    """A fault could not be switched on: the step cannot mean anything without it."""


class FaultInjector:
    """Adds fault rules under one scope and removes them all at the end."""

    def __init__(self, target: Target, client: httpx.Client, scope: str) -> None:
        self.target = target
        self.client = client
        self.scope = scope
        self._used: set[str] = set()

    def _base(self, sim: str) -> tuple[str, dict[str, str]]:
        if sim == "sut":
            if not self.target.has("faults") or not self.target.admin_url or not self.target.admin_token:
                raise InjectionError(
                    f"environment {self.target.env_name!r} has no test-fault hook ('faults')"
                )
            return f"{self.target.admin_url}/admin/test-faults", {"X-Admin-Token": self.target.admin_token}
        url = {
            "graph": self.target.graph_api_url,
            "llm": self.target.llm_url,
            "payments": self.target.payments_url,
            "maps": self.target.maps_url,
        }[sim]
        if not url:
            raise InjectionError(f"environment {self.target.env_name!r} has no {sim} simulator to break")
        return f"{url}/_sim/faults", {}

    def add(self, inject: Inject, text: Callable[[str], str]) -> str:
        url, headers = self._base(inject.sim)
        rule = {"scope": self.scope, "action": inject.action, **inject.params()}
        for name, value in (("op", inject.op), ("times", inject.times)):
            if value is not None:
                rule[name] = value
        if inject.key is not None:
            rule["key"] = text(inject.key)
        response = self.client.post(url, json=rule, headers=headers)
        if response.status_code not in (200, 201):
            answer = f"HTTP {response.status_code} {response.text[:300]}"
            raise InjectionError(f"the {inject.sim} fault {rule} was refused: {answer}")
        self._used.add(inject.sim)
        return str(response.json().get("id", ""))

    def clear(self) -> None:
        for sim in self._used:
            try:
                url, headers = self._base(sim)
                self.client.delete(url, params={"scope": self.scope}, headers=headers)
            except (httpx.HTTPError, InjectionError) as exc:  # never mask the journey's own failure
                log.warning("could not remove %s faults of scope %s: %s", sim, self.scope, exc)
        self._used.clear()
