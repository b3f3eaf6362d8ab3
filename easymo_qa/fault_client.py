"""Set fault rules on the simulators of an environment over HTTP, and remove them again.

One :class:`FaultClient` per test: every rule it adds carries its ``scope`` (the test's node id, say), and
:meth:`FaultClient.clear` (also run on leaving a ``with`` block) deletes that scope's rules on every
simulator, leaving other tests' rules alone::

    with FaultClient(http, {"llm": llm_url, "graph": graph_url}, scope=request.node.nodeid) as faults:
        faults.llm("status", status=429, key=user, times=2)
        rule = faults.graph("drop", key=station_number)
        ...
        assert faults.hits("graph", rule) == 1

The rule fields and actions are described in :mod:`easymo_qa.simulators.faults`; a rule a simulator
cannot take raises :class:`FaultError` with the simulator's explanation (which lists what is valid).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

FAULTS_PATH = "/_sim/faults"

log = logging.getLogger(__name__)


class FaultError(RuntimeError):
    """A fault rule could not be set or read: refused by the simulator, or the simulator is unreachable."""


class UnknownSimulatorError(FaultError):
    """The environment has no simulator of that name (so it cannot inject that fault)."""


class FaultClient:
    """Adds fault rules under one scope to named simulators, reads their hits, and clears them."""

    def __init__(self, client: httpx.Client, urls: Mapping[str, str], scope: str) -> None:
        """``urls`` maps simulator names (``graph``, ``llm``, ``payments``, ``maps``) to base URLs."""
        if not scope:
            raise ValueError("scope must be a non-empty string")
        self.client = client
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.scope = scope

    def _url(self, sim: str) -> str:
        try:
            return self.urls[sim] + FAULTS_PATH
        except KeyError:
            have = ", ".join(sorted(self.urls)) or "none"
            raise UnknownSimulatorError(
                f"this environment has no {sim} simulator, so its faults cannot be injected (it has: {have})"
            ) from None

    def _call(self, sim: str, method: str, **kwargs: Any) -> httpx.Response:
        url = self._url(sim)
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise FaultError(f"could not reach the {sim} simulator at {url}: {exc!r}") from exc

    def add(
        self,
        sim: str,
        *,
        action: str,
        op: str | None = None,
        key: str | None = None,
        times: int | None = None,
        **params: Any,
    ) -> str:
        """Add a rule on simulator ``sim``, return its id; FaultError with the simulator's reason if refused.

        ``params`` are the action's parameters (``status``, ``body``, ``graph_code``, ``seconds``,
        ``variant``, ``reason``); those given as None are left out.
        """
        rule: dict[str, Any] = {"scope": self.scope, "action": action}
        optional = {"op": op, "key": key, "times": times, **params}
        rule.update({name: value for name, value in optional.items() if value is not None})
        response = self._call(sim, "POST", json=rule)
        if response.status_code != 201:
            raise FaultError(f"the {sim} simulator refused the fault rule {rule}: {_reason(response)}")
        rule_id = response.json()["id"]
        log.debug("fault %s on %s: %s", rule_id, sim, rule)
        return str(rule_id)

    def graph(
        self,
        action: str,
        *,
        op: str | None = None,
        key: str | None = None,
        times: int | None = None,
        **params: Any,
    ) -> str:
        """A rule on the Graph API simulator (op ``messages``, key the recipient's number)."""
        return self.add("graph", action=action, op=op, key=key, times=times, **params)

    def llm(
        self,
        action: str,
        *,
        op: str | None = None,
        key: str | None = None,
        times: int | None = None,
        **params: Any,
    ) -> str:
        """A rule on the LLM simulator (op ``chat``, key the request's ``user``)."""
        return self.add("llm", action=action, op=op, key=key, times=times, **params)

    def payments(
        self,
        action: str,
        *,
        op: str | None = None,
        key: str | None = None,
        times: int | None = None,
        **params: Any,
    ) -> str:
        """A rule on the payments simulator (ops requesttopay, callback, poll; key the payer number)."""
        return self.add("payments", action=action, op=op, key=key, times=times, **params)

    def maps(
        self,
        action: str,
        *,
        op: str | None = None,
        key: str | None = None,
        times: int | None = None,
        **params: Any,
    ) -> str:
        """A rule on the maps simulator (op ``route``, key the destination ``<lat>,<lng>``)."""
        return self.add("maps", action=action, op=op, key=key, times=times, **params)

    def rules(self, sim: str) -> list[dict[str, Any]]:
        """This scope's rules on ``sim``, as the simulator shows them (with ``hits`` and ``spent``)."""
        response = self._call(sim, "GET", params={"scope": self.scope})
        if response.status_code != 200:
            raise FaultError(f"the {sim} simulator could not list its faults: {_reason(response)}")
        return list(response.json()["faults"])

    def hits(self, sim: str, rule_id: str) -> int:
        """How many requests rule ``rule_id`` on ``sim`` has applied to so far."""
        response = self._call(sim, "GET", params={"id": rule_id})
        if response.status_code != 200:
            raise FaultError(f"the {sim} simulator could not list its faults: {_reason(response)}")
        found = response.json()["faults"]
        if not found:
            raise FaultError(f"the {sim} simulator has no fault rule {rule_id} (cleared already?)")
        return int(found[0]["hits"])

    def clear(self) -> None:
        """Delete this scope's rules on every simulator; an unreachable simulator is logged, never raised."""
        for sim in self.urls:
            try:
                response = self._call(sim, "DELETE", params={"scope": self.scope})
            except FaultError as exc:
                log.warning("could not clear the faults of scope %r: %s", self.scope, exc)
                continue
            if response.status_code != 200:
                log.warning(
                    "the %s simulator did not clear the faults of scope %r: %s",
                    sim,
                    self.scope,
                    _reason(response),
                )

    def __enter__(self) -> FaultClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.clear()


def _reason(response: httpx.Response) -> str:
    """The simulator's ``error`` message, else the status and the start of the body."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return f"{response.status_code}: {data['error']}"
    return f"{response.status_code}: {response.text[:300]}"
