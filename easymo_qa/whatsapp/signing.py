"""Webhook body encoding and the X-Hub-Signature-256 header, as Meta produces them."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="


def encode_body(payload: dict[str, Any]) -> bytes:
    """Serialise a webhook payload the way Meta does: compact JSON, non-ASCII escaped as ``\\uXXXX``.

    The signature covers these exact bytes, so the same bytes must be sent on the wire.
    """
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def signature_for(body: bytes, app_secret: str) -> str:
    """``X-Hub-Signature-256`` value for ``body``: ``sha256=`` + hex HMAC-SHA256 keyed with the app secret."""
    digest = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(body: bytes, header_value: str | None, app_secret: str) -> bool:
    """Constant-time check of a received signature header against ``body``."""
    if not header_value or not header_value.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(signature_for(body, app_secret), header_value.strip())


def signed_headers(body: bytes, app_secret: str) -> dict[str, str]:
    """Headers Meta sends with a webhook POST."""
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_for(body, app_secret),
        "User-Agent": "facebookexternalua",
    }
