"""The callbacks MoMo POSTs to the SUT: signed compact JSON, to loopback addresses only.

Body ``{"referenceId", "externalId", "amount", "currency", "financialTransactionId" (SUCCESSFUL only),
"status", "reason" (FAILED only), "payer"}`` with ``X-Callback-Signature: sha256=<hex HMAC-SHA256 of the
exact body bytes, keyed with the callback secret>``. Callback URLs must be loopback (127.0.0.0/8, ``::1``,
``localhost``): the harness never sends traffic off the machine. The one exception is the deployed
simulators' server (``callbacks_off_machine``, :mod:`easymo_qa.simulators.deployed`): its bot is elsewhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from easymo_qa.simulators.payments.model import Payment
from easymo_qa.simulators.server import loopback_address

SIGNATURE_HEADER = "X-Callback-Signature"
CALLBACK_TIMEOUT_SECONDS = 10.0
MALFORMED_CALLBACK = b'{"referenceId": "'  # what a ``malformed`` callback rule sends, signed


def sign_callback(body: bytes, secret: str) -> str:
    """The ``X-Callback-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode_callback(body: dict[str, Any]) -> bytes:
    """Compact JSON bytes; the signature covers exactly these."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def check_callback_url(url: str, off_machine: bool = False) -> str | None:
    """Why ``url`` may not receive callbacks, or ``None`` when it is an http(s) URL on loopback (any host
    when ``off_machine``: the deployed simulators' server)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "the callback URL is not a valid URL"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return "the callback URL must be an http(s) URL"
    if off_machine:
        return None
    try:
        loopback_address(parsed.host)
    except ValueError:
        return f"the callback host {parsed.host!r} is not loopback: this simulator only calls back locally"
    return None


class CallbackSender:
    """Posts signed callbacks and records each attempt on its payment; one client per event loop."""

    def __init__(
        self, secret: str, transport: httpx.AsyncBaseTransport | None = None, off_machine: bool = False
    ) -> None:
        """``transport`` lets tests deliver callbacks without a socket; None = real (loopback) network."""
        self._secret = secret
        self._off_machine = off_machine
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> httpx.AsyncClient:
        """The shared client, created on first use in the running loop.

        Tests run several ``asyncio.run`` calls against one app, and a client's connections belong to
        the loop that opened them; a client from a finished loop is abandoned and a new one made.
        """
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=CALLBACK_TIMEOUT_SECONDS)
            self._client_loop = loop
        return self._client

    async def deliver(self, payment: Payment, body: bytes) -> dict[str, Any]:
        """POST ``body`` (signed) to the payment's callback URL and record the attempt; never raises."""
        url = payment.callback_url
        attempt: dict[str, Any] = {"at": time.time(), "url": url}
        problem = check_callback_url(url, self._off_machine) if url else "the payment has no callback URL"
        if problem is not None:
            # Checked at request time already; checked again here because this is where traffic leaves.
            attempt["error"] = problem
        else:
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign_callback(body, self._secret),
            }
            try:
                response = await self.client().post(url, content=body, headers=headers)
                attempt["status_code"] = response.status_code
            except Exception as exc:
                # A broken SUT (connection refused, or an in-process app raising) must end up in the
                # record, not kill the resolution task silently.
                attempt["error"] = repr(exc)
        payment.callbacks.append(attempt)
        return attempt

    async def aclose(self) -> None:
        """Close the shared client (if it belongs to the running loop)."""
        client, self._client = self._client, None
        if client is not None and self._client_loop is asyncio.get_running_loop():
            await client.aclose()
        self._client_loop = None
