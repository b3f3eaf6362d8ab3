"""Switches a journey's ``inject:`` faults on (simulators, or the SUT's test-fault hook) and off again."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx

from easymo_qa.conversation.model import Inject
from easymo_qa.fault_client import FaultClient, FaultError
from easymo_qa.target import Target

log = logging.getLogger(__name__)
SUT_FAULTS_PATH = "/admin/test-faults"


class InjectionError(AssertionError):
    """A fault could not be switched on: the step cannot mean anything without it."""


class FaultInjector:
    """Adds fault rules under one scope (one journey run) and removes them all at the end."""

    def __init__(self, target: Target, client: httpx.Client, scope: str) -> None:
        self.target = target
        self.client = client
        self.scope = scope
        urls = {
            "graph": target.graph_api_url,
            "llm": target.llm_url,
            "payments": target.payments_url,
            "maps": target.maps_url,
        }
        self._sims = FaultClient(client, {name: url for name, url in urls.items() if url}, scope)
        self._used: set[str] = set()

    def add(self, inject: Inject, text: Callable[[str], str]) -> str:
        key = text(inject.key) if inject.key is not None else None
        self._used.add(inject.sim)
        if inject.sim == "sut":
            return self._add_sut(inject, key)
        try:
            return self._sims.add(
                inject.sim, action=inject.action, op=inject.op, key=key, times=inject.times, **inject.params()
            )
        except FaultError as exc:
            raise InjectionError(f"the {inject.sim} fault could not be set: {exc}") from None

    def _sut_hook(self) -> tuple[str, dict[str, str]]:
        if not self.target.has("faults") or not self.target.admin_url or not self.target.admin_token:
            raise InjectionError(f"environment {self.target.env_name!r} has no test-fault hook ('faults')")
        return self.target.admin_url + SUT_FAULTS_PATH, {"X-Admin-Token": self.target.admin_token}

    def _add_sut(self, inject: Inject, key: str | None) -> str:
        url, headers = self._sut_hook()
        rule = {"scope": self.scope, "action": inject.action, **inject.params()}
        rule.update(
            {k: v for k, v in (("op", inject.op), ("key", key), ("times", inject.times)) if v is not None}
        )
        response = self.client.post(url, json=rule, headers=headers)
        if response.status_code not in (200, 201):
            answer = f"HTTP {response.status_code} {response.text[:300]}"
            raise InjectionError(f"the SUT refused the test fault {rule}: {answer}")
        return str(response.json().get("id", ""))

    def clear(self) -> None:
        if self._used - {"sut"}:
            self._sims.clear()
        if "sut" in self._used:
            try:
                url, headers = self._sut_hook()
                self.client.delete(url, params={"scope": self.scope}, headers=headers)
            except (httpx.HTTPError, InjectionError) as exc:  # never mask the journey's own failure
                log.warning("could not remove the SUT's test faults of scope %s: %s", self.scope, exc)
        self._used.clear()
