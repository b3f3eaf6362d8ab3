"""The payment provider client, MTN MoMo collection style: request-to-pay, then a signed callback.

``request_to_pay`` posts ``/collection/v1_0/requesttopay`` with our ``X-Reference-Id`` (a UUID4) and
the callback URL; the provider answers 202 and later POSTs the outcome to ``/payments/callback``. The
request is idempotent by reference id, so 429/5xx, timeouts and connection failures are retried with the
same id, and a 409 on a retry means an earlier attempt got through. ``verify_signature`` checks the
callback's ``X-Callback-Signature: sha256=<hex HMAC-SHA256 of the raw body>``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import httpx

from ..config import Settings
from .retry import new_client, policy_for, retry_after, retryable

REQUEST_TO_PAY = "/collection/v1_0/requesttopay"
SIGNATURE_PREFIX = "sha256="
PAYMENT_RETRIES = 2  # a payer waits on their phone: keep the extra tries few


class PaymentsError(Exception):
    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(f"payment request failed: {reason}")
        self.reason, self.status = reason, status


class PaymentsClient:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._policy = policy_for(settings, min(PAYMENT_RETRIES, settings.agent_max_retries))
        timeout = settings.agent_timeout_ms / 1000
        base = settings.payments_base_url
        self._client = new_client(base, timeout, transport) if base else None

    @property
    def configured(self) -> bool:
        return self._client is not None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def request_to_pay(
        self,
        *,
        reference_id: str,
        amount: int,
        external_id: str,
        phone: str,
        payer_message: str,
        payee_note: str,
    ) -> int:
        """Ask the payer to approve ``amount`` RWF; return the attempts it took, else ``PaymentsError``."""
        if self._client is None:
            raise PaymentsError("not_configured")
        headers = {
            "Authorization": f"Bearer {self._settings.payments_api_key}",
            "X-Reference-Id": reference_id,
            "X-Callback-Url": self._settings.callback_url,
            "X-Target-Environment": "sandbox",
        }
        body = {
            "amount": str(amount),
            "currency": "RWF",
            "externalId": external_id,
            "payer": {"partyIdType": "MSISDN", "partyId": phone},
            "payerMessage": payer_message,
            "payeeNote": payee_note,
        }
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._client.post(REQUEST_TO_PAY, json=body, headers=headers)
            except httpx.TransportError as exc:  # timeouts included: the retry reuses the reference id
                if attempt <= self._policy.max_retries:
                    await self._policy.wait(attempt)
                    continue
                raise PaymentsError(f"transport_error: {type(exc).__name__}") from None
            if response.status_code == 202:
                return attempt
            if response.status_code == 409 and attempt > 1:
                return attempt  # an earlier attempt reached the provider after all
            if (
                retryable(response)
                and attempt <= self._policy.max_retries
                and await self._policy.wait(attempt, retry_after(response))
            ):
                continue
            raise PaymentsError(f"http_{response.status_code}", response.status_code)

    async def status(self, reference_id: str) -> dict[str, Any] | None:
        """The provider's status body of a request (``status``, ``reason``, ``amount``...), else None."""
        if self._client is None:
            return None
        headers = {
            "Authorization": f"Bearer {self._settings.payments_api_key}",
            "X-Target-Environment": "sandbox",
        }
        try:
            response = await self._client.get(f"{REQUEST_TO_PAY}/{reference_id}", headers=headers)
            body = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return body if isinstance(body, dict) else None


def sign(body: bytes, secret: str) -> str:
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str, secret: str) -> bool:
    """Constant-time check of ``X-Callback-Signature``; always False without a configured secret."""
    if not secret or not header.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(header.strip().lower().encode(), sign(body, secret).encode())
