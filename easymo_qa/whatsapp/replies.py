"""Reads the SUT's replies from the Graph API simulator's harness API (long-poll, no busy waiting)."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from easymo_qa.whatsapp.outbound import OutboundMessage


class ReplySource(Protocol):
    """Where a :class:`~easymo_qa.whatsapp.user.WhatsAppUser` reads the bot's replies from.

    :class:`ReplyReader` (one long-poll per waiting user) is the default; the load test plugs in one shared
    stream per process (``easymo_qa.load.reply_stream``) with the same three methods.

    A source that can also report read / typing events says so with ``reports_events = True`` and takes
    ``poll(..., events=True)``; a simulated user then asks for them (and keeps them apart from replies).
    """

    def poll(self, to: str, after: int, wait: float) -> list[OutboundMessage]:
        """Messages to ``to`` with ``seq > after``, oldest first; blocks up to ``wait`` s until one exists."""
        ...

    def last_seq(self) -> int:
        """A cursor that skips everything recorded so far."""
        ...

    def rejections(self, to: str, after: int = 0) -> list[str]:
        """What the Graph API simulator refused to deliver to ``to``, one line each."""
        ...


class ReplyReader:
    """Client of ``/_sim/messages`` and ``/_sim/rejections`` on the Graph API simulator."""

    reports_events = True

    def __init__(self, client: httpx.Client, graph_api_url: str) -> None:
        self._client = client
        self._base = graph_api_url.rstrip("/")

    def poll(self, to: str, after: int, wait: float, *, events: bool = False) -> list[OutboundMessage]:
        """Messages to ``to`` with ``seq > after``; blocks up to ``wait`` seconds until one exists.

        Replies only, unless ``events``: then the read / typing events of ``to``'s chat too (``is_event``).
        The rollback drill and the storm count what this returns as replies: they never ask for events.
        """
        params: dict[str, str | int] = {"to": to, "after": after, "wait": f"{max(0.0, wait):.3f}"}
        if events:
            params["events"] = 1
        response = self._client.get(f"{self._base}/_sim/messages", params=params, timeout=wait + 5.0)
        response.raise_for_status()
        return [OutboundMessage.from_record(r) for r in response.json()["messages"]]

    def last_seq(self) -> int:
        """The simulator's newest sequence number: a cursor that skips everything recorded so far."""
        response = self._client.get(f"{self._base}/_sim/messages", params={"after": 2**62, "wait": "0"})
        response.raise_for_status()
        return int(response.json()["last_seq"])

    def rejections(self, to: str, after: int = 0) -> list[str]:
        """What the simulator refused to deliver to ``to``, as one line each."""
        response = self._client.get(f"{self._base}/_sim/rejections", params={"to": to, "after": after})
        response.raise_for_status()
        return describe_rejections(response.json().get("rejections", []))

    def post_status(self, wamid: str, recipient_id: str, status: str) -> int:
        """Have the simulator post a signed ``statuses`` webhook to the SUT; returns the SUT's HTTP status."""
        response = self._client.post(
            f"{self._base}/_sim/statuses",
            json={"wamid": wamid, "recipient_id": recipient_id, "status": status},
        )
        response.raise_for_status()
        return int(response.json()["sut_status"])

    def refused(self, to: str, after: int = 0) -> list[str]:
        """Like :meth:`rejections`, without those a fault rule decided (the test asked for them)."""
        response = self._client.get(f"{self._base}/_sim/rejections", params={"to": to, "after": after})
        response.raise_for_status()
        return describe_rejections([r for r in response.json().get("rejections", []) if not r.get("fault")])


def describe_rejections(items: list[dict[str, Any]]) -> list[str]:
    """``/_sim/rejections`` records as one line each: the message type and the Graph error's details."""
    lines = []
    for item in items:
        error = item.get("error") or {}
        details = (error.get("error_data") or {}).get("details") or error.get("message", "")
        lines.append(f"{(item.get('body') or {}).get('type', '?')} message: {details}")
    return lines
