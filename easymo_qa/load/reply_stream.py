"""One long-poll per process for every recipient's replies, dispatched to the users waiting for them.

A load-test process runs hundreds of simulated users. Instead of one ``/_sim/messages?to=...`` long-poll
per waiting user (hundreds of open requests, one wake-up each), a single greenlet long-polls
``/_sim/messages?after=<cursor>&wait=<s>`` for all recipients and files each message in a per-phone
mailbox; a user waiting in :meth:`ReplyStream.poll` sleeps on a gevent ``Event`` of its phone and is
woken only by a message to that phone. Nothing busy-polls and nothing blocks the hub (geventhttpclient).

It has the :class:`~easymo_qa.whatsapp.replies.ReplySource` surface (``poll``, ``last_seq``,
``rejections``), so a :class:`~easymo_qa.whatsapp.user.WhatsAppUser` uses it unchanged.

Mailboxes keep messages for ``retention_seconds`` (a user reads its replies long before that), and only
for the numbers ``keep`` accepts (this process's test-number range and the journeys' pinned numbers):
in a distributed run every worker sees every message, and drops the other workers' at once.

Reply latency is not measured here: it uses the simulator's ``received_at``, so the stream's own delay
never shows in the figures (it only delays the next turn). With simulators on another machine their clock
is not ours: ``clock_offset`` (the simulator's minus ours, :mod:`easymo_qa.load.clock`) moves every
``received_at`` onto our clock as it arrives. The simulator may be anywhere (``https://host/graph``): the
harness token goes in every request's headers, certificates are verified unless ``verify_tls=False``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import gevent
import gevent.ssl
from gevent.event import Event
from geventhttpclient import HTTPClient

from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.replies import describe_rejections

log = logging.getLogger(__name__)


def digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def _unverified_context(cafile: str | None = None) -> gevent.ssl.SSLContext:
    context = gevent.ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    context.verify_mode = gevent.ssl.CERT_NONE
    return context


def simulator_client(
    url: str,
    headers: dict[str, str] | None,
    verify_tls: bool,
    timeout: float,
    concurrency: int,
    block_size: int = 4096,
) -> HTTPClient:
    """A geventhttpclient client for the simulator at ``url`` (http or https, any path prefix): the
    harness token in every request's headers; certificates verified unless ``verify_tls`` is False."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the Graph API simulator URL must be http(s)://host[:port][/path], got {url!r}")
    tls = parts.scheme == "https"
    return HTTPClient(
        parts.hostname,
        parts.port or (443 if tls else 80),
        headers=headers or {},
        ssl=tls,
        # geventhttpclient verifies against certifi's CAs by default; its own ``insecure`` only drops the
        # hostname check (geventhttpclient/connectionpool.py, init_ssl_context), so the context is ours.
        insecure=tls and not verify_tls,
        ssl_context_factory=None if verify_tls else _unverified_context,
        concurrency=concurrency,
        block_size=block_size,
        connection_timeout=10,
        network_timeout=timeout,
    )


@dataclass
class StreamStats:
    polls: int = 0
    received: int = 0  # messages the stream saw (all recipients)
    delivered: int = 0  # kept for a recipient of this process
    errors: int = 0


class _Waiting:
    """The event a phone's waiters sleep on; replaced after each delivery."""

    __slots__ = ("event", "waiters")

    def __init__(self) -> None:
        self.event = Event()
        self.waiters = 0


class ReplyStream:
    """Shared reply reader of one process; call :meth:`start` once, then :meth:`poll` from any greenlet."""

    def __init__(
        self,
        graph_api_url: str,
        *,
        keep: Callable[[str], bool] = lambda to: True,
        retention_seconds: float = 120.0,
        wait_seconds: float = 10.0,
        headers: dict[str, str] | None = None,
        verify_tls: bool = True,
        clock_offset: float = 0.0,
    ) -> None:
        self._wait = wait_seconds
        # A busy long-poll answers tens of messages at once (~0.6 kB each): read them in few large blocks.
        self._stream_http = simulator_client(graph_api_url, headers, verify_tls, wait_seconds + 15, 1, 65536)
        self._side_http = simulator_client(graph_api_url, headers, verify_tls, 15, 8)
        self._prefix = urlsplit(graph_api_url).path.rstrip("/")  # e.g. /graph on deployed simulators
        # The simulator's clock minus ours (s): its received_at stamps are moved onto our clock.
        self.clock_offset = clock_offset
        self._keep = keep
        self._retention = retention_seconds
        self._boxes: dict[str, deque[OutboundMessage]] = {}
        self._arrivals: deque[tuple[float, str]] = deque()
        self._waiting: dict[str, _Waiting] = {}
        self._greenlet: gevent.Greenlet | None = None
        self.cursor = 0
        self.stats = StreamStats()

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> ReplyStream:
        """Skip what the simulator recorded so far, then follow it in a background greenlet."""
        if self._greenlet is None:
            self.cursor = self.last_seq()
            self._greenlet = gevent.spawn(self._run)
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
        self._stream_http.close()
        self._side_http.close()

    @property
    def running(self) -> bool:
        return self._greenlet is not None and not self._greenlet.dead

    # --- the ReplySource surface -----------------------------------------------------------------------

    def poll(self, to: str, after: int, wait: float) -> list[OutboundMessage]:
        """Messages to ``to`` with ``seq > after``; sleeps (at most ``wait`` s) until one arrives."""
        to = digits(to)
        found = self._newer(to, after)
        if found or wait <= 0:
            return found
        deadline = time.monotonic() + wait
        while not found:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            waiting = self._waiting.get(to)
            if waiting is None:
                waiting = self._waiting[to] = _Waiting()
            waiting.waiters += 1
            try:
                waiting.event.wait(remaining)
            finally:
                waiting.waiters -= 1
                if not waiting.waiters and self._waiting.get(to) is waiting:
                    del self._waiting[to]
            found = self._newer(to, after)
        return found

    def last_seq(self) -> int:
        data = self._get_json("/_sim/messages", {"after": 2**62, "wait": 0})
        return int(data["last_seq"])

    def server_clock(self) -> float:
        """The simulator's clock now (``GET /_sim/clock``, unix seconds), for :mod:`easymo_qa.load.clock`."""
        return float(self._get_json("/_sim/clock", {})["now"])

    def rejections(self, to: str, after: int = 0) -> list[str]:
        data = self._get_json("/_sim/rejections", {"to": digits(to), "after": after})
        return describe_rejections(data.get("rejections", []))

    # --- internals -------------------------------------------------------------------------------------

    def _newer(self, to: str, after: int) -> list[OutboundMessage]:
        box = self._boxes.get(to)
        if not box:
            return []
        found = []
        for message in reversed(box):
            if message.seq <= after:
                break
            found.append(message)
        found.reverse()
        return found

    def _get_json(self, path: str, params: dict[str, Any], http: HTTPClient | None = None) -> Any:
        response = (http or self._side_http).get(f"{self._prefix}{path}?{urlencode(params)}")
        body = response.read()
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered HTTP {response.status_code}: {body[:200]!r}")
        return json.loads(body)

    def _run(self) -> None:
        backoff, last_logged = 0.1, 0.0
        while True:
            try:
                data = self._get_json(
                    "/_sim/messages", {"after": self.cursor, "wait": self._wait}, self._stream_http
                )
            except Exception as exc:  # the simulator restarted or is overloaded: retry, never give up
                self.stats.errors += 1
                if time.monotonic() - last_logged > 5:
                    log.warning("reply stream: cannot read the Graph API simulator (%s); retrying", exc)
                    last_logged = time.monotonic()
                gevent.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            self.stats.polls += 1
            self.deliver(data.get("messages", []))
            self.cursor = max(self.cursor, int(data.get("last_seq", self.cursor)))

    def deliver(self, records: list[dict[str, Any]]) -> None:
        """File simulator records in their recipients' mailboxes and wake whoever waits for them."""
        now = time.monotonic()
        offset = self.clock_offset
        woken: set[str] = set()
        for record in records:
            self.stats.received += 1
            seq = int(record["seq"])
            self.cursor = max(self.cursor, seq)
            to = str(record.get("to", ""))
            if not self._keep(to):
                continue
            if offset and "received_at" in record:  # the simulator's stamp, on our clock
                record["received_at"] = float(record["received_at"]) - offset
            self._boxes.setdefault(to, deque()).append(OutboundMessage.from_record(record))
            self._arrivals.append((now, to))
            self.stats.delivered += 1
            woken.add(to)
        for to in woken:
            waiting = self._waiting.pop(to, None)
            if waiting is not None:
                waiting.event.set()
        self._evict(now)

    def _evict(self, now: float) -> None:
        # Arrivals are in order, so the oldest arrival is also the oldest message of its phone.
        horizon = now - self._retention
        while self._arrivals and self._arrivals[0][0] < horizon:
            _, to = self._arrivals.popleft()
            box = self._boxes.get(to)
            if box:
                box.popleft()
                if not box:
                    del self._boxes[to]
