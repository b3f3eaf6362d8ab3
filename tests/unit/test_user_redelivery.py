"""A webhook POST whose pooled connection breaks before any answer is delivered once more (as Meta does)."""

from __future__ import annotations

import httpx
import pytest

from easymo_qa.target import Target
from easymo_qa.whatsapp.user import WhatsAppUser

TARGET = Target("t", "http://sut/wa-webhook", "s", "v", "1", "2", graph_api_url="http://graph")


def user_with(transport: httpx.MockTransport) -> WhatsAppUser:
    return WhatsAppUser(TARGET, httpx.Client(transport=transport), "250790000001")


def test_a_broken_connection_is_redelivered_with_the_same_bytes() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        if len(bodies) == 1:
            raise httpx.ReadError("[Errno 9] Bad file descriptor", request=request)
        return httpx.Response(200)

    response = user_with(httpx.MockTransport(handler)).post_raw(b'{"x": 1}', {"X-Hub-Signature-256": "s"})
    assert response.status_code == 200
    assert bodies == [b'{"x": 1}', b'{"x": 1}']


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.ConnectError])
def test_timeouts_and_a_bot_that_is_down_are_not_retried(error: type[httpx.TransportError]) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise error("no", request=request)

    with pytest.raises(error):
        user_with(httpx.MockTransport(handler)).post_raw(b"{}", {})
    assert calls == [1]


def test_a_connection_that_breaks_twice_fails() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected", request=request)

    with pytest.raises(httpx.RemoteProtocolError):
        user_with(httpx.MockTransport(handler)).post_raw(b"{}", {})
