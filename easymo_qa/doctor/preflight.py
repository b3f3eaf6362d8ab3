"""The cheap preflight: can the bot's webhook be reached at all? One GET, Meta's verify handshake.

Used before a pytest session's tests and before ``easymo-qa signoff``'s stages, so an unreachable bot
stops a run with one line naming its URL instead of a traceback per test. Read-only: fine on production.
"""

from __future__ import annotations

import secrets

import httpx


def describe_transport_error(exc: Exception, timeout: float) -> str:
    """A few words for why an HTTP request got no answer ("connection refused", "host not found", ...)."""
    text = str(exc).lower()
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "host not found"
    if "ssl" in text or "certificate" in text:
        return f"TLS error ({str(exc).strip()[:120]})"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return "not an http:// or https:// URL"
    return str(exc).strip()[:160] or type(exc).__name__


def handshake_params(verify_token: str | None, challenge: str) -> dict[str, str]:
    """The query Meta sends when a webhook is subscribed (hub.mode, hub.verify_token, hub.challenge)."""
    return {"hub.mode": "subscribe", "hub.verify_token": verify_token or "", "hub.challenge": challenge}


def new_challenge() -> str:
    return str(secrets.randbelow(10**9) + 10**9)


def webhook_unreachable(webhook_url: str, verify_token: str | None, timeout: float) -> str | None:
    """ "cannot reach <url>: <why>" when nothing answers over HTTP; None when anything does (even a 403:
    what the answer means is the tests' business)."""
    if not webhook_url:
        return None  # nothing configured: the stack's own check names the missing key
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            client.get(webhook_url, params=handshake_params(verify_token, new_challenge()))
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return f"cannot reach {webhook_url}: {describe_transport_error(exc, timeout)}"
    return None
