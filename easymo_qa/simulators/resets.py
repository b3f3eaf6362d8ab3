"""The ``reset`` fault's answer: a response cut off mid-body, the nearest an ASGI app gets to a TCP reset."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

# One entry per reset answered and not yet logged by uvicorn (see simulators.server's log filter).
RESETS_IN_FLIGHT: list[int] = []


class ResetResponse(Response):
    """A 200 whose Content-Length promises more bytes than are sent: the server then drops the connection.

    The app returns without finishing the body, so uvicorn logs "ASGI callable returned without completing
    response" and closes the socket; the client sees the connection end mid-body, the closest an ASGI
    app gets to a TCP reset. (In-process, ``httpx.ASGITransport`` fails with an AssertionError instead.)
    """

    def __init__(self, sent: bytes = b'{"id": "', promised: int = 4096) -> None:
        super().__init__(content=sent, status_code=200, media_type="application/json")
        self.headers["content-length"] = str(max(promised, len(sent) + 1))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})
        RESETS_IN_FLIGHT.append(1)  # uvicorn's "returned without completing" for it is expected, not an error
