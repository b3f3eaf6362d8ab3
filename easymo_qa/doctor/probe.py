"""What the doctor's checks share: the target, one HTTP client, fresh test numbers, and what earlier checks
learnt (the number whose signed message the bot accepted)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from easymo_qa.doctor.model import Outcome
from easymo_qa.doctor.preflight import describe_transport_error
from easymo_qa.target import Target
from easymo_qa.whatsapp import payloads
from easymo_qa.whatsapp.numbers import TestNumberPool
from easymo_qa.whatsapp.signing import encode_body, signed_headers


@dataclass
class Probe:
    target: Target
    client: httpx.Client
    numbers: TestNumberPool
    accepted_number: str | None = None  # a fresh user whose signed "hi" the bot accepted
    accepted_at: float = 0.0  # time.monotonic() when it was sent

    def webhook_body(self, number: str, text: str) -> bytes:
        business = payloads.BusinessPhone(self.target.phone_number_id, self.target.display_phone_number)
        return encode_body(payloads.webhook(business, [payloads.text(number, text)]))

    def post_signed(self, number: str, text: str) -> httpx.Response:
        body = self.webhook_body(number, text)
        return self.client.post(
            self.target.webhook_url, content=body, headers=signed_headers(body, self.target.app_secret)
        )

    def post_unsigned(self, number: str, text: str) -> httpx.Response:
        body = self.webhook_body(number, text)
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
        return self.client.post(self.target.webhook_url, content=body, headers=headers)

    def unreachable(self, url: str, exc: Exception, hint: str) -> Outcome:
        """The one-line failure for an endpoint nothing answers at."""
        why = describe_transport_error(exc, self.target.http_seconds)
        return Outcome.failed(f"cannot reach {url}: {why}", hint)


def json_of(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or {} when it is not one (the caller says what was expected)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


TRANSPORT_ERRORS = (httpx.HTTPError, httpx.InvalidURL)
