"""Serve an ASGI app on a real socket from a background thread (simulators, test doubles).

The socket is bound before uvicorn starts, so ``port=0`` works and the real port is known at once.
Only loopback hosts are accepted by default: the harness never serves off the machine unless told to
(``allow_any_host``, for ``easymo-qa simulators serve``, whose server a deployed bot must reach).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any, Literal

import uvicorn

from easymo_qa.simulators.resets import RESETS_IN_FLIGHT

LOCALHOST = "localhost"
_POLL_SECONDS = 0.01


def loopback_address(host: str) -> str:
    """The IP literal to bind for ``host``; ValueError unless it is loopback (127.0.0.0/8, ::1, localhost).

    ``localhost`` is mapped to 127.0.0.1 without asking a resolver, so a hosts file cannot point it away.
    """
    if host == LOCALHOST:
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(f"refusing to serve on {host!r}: only loopback hosts are allowed") from None
    if not address.is_loopback:
        raise ValueError(f"refusing to serve on {host!r}: only loopback hosts are allowed")
    return str(address)


def bind_address(host: str) -> str:
    """The IP literal to bind for any ``host``: an IP literal as is, ``localhost`` as 127.0.0.1, a host
    name by the resolver's first TCP address (OSError when it does not resolve)."""
    if host == LOCALHOST:
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    if not infos:
        raise OSError(f"{host!r} does not resolve to an address")
    return str(infos[0][4][0])


class _ShutdownCancellationFilter(logging.Filter):
    """Drop uvicorn's error records for requests it cancelled at shutdown, and for reset faults.

    A simulator's ``hang`` fault holds a request open on purpose; when the stack stops, uvicorn cancels it
    after the grace period and logs the CancelledError as "Exception in ASGI application" with a full
    traceback. That is the fault doing its job, not an error worth a screen of output.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            return False
        message = record.getMessage()
        if message.startswith("ASGI callable returned without completing response") and RESETS_IN_FLIGHT:
            RESETS_IN_FLIGHT.pop()  # a reset fault cut this response short on purpose
            return False
        return not message.startswith("Cancel ")  # "Cancel N running task(s), timeout ..."


logging.getLogger("uvicorn.error").addFilter(_ShutdownCancellationFilter())


def _is_ip_or_localhost(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host == LOCALHOST
    return True


class BackgroundServer:
    """uvicorn in a daemon thread on a pre-bound socket; usable as a context manager.

    Loopback only unless ``allow_any_host`` (then any IP literal or host name, 0.0.0.0 and :: too).
    ``tls_cert`` and ``tls_key`` (PEM files, both or neither) make it serve HTTPS on the same socket:
    uvicorn wraps a socket it is given in its SSL context like one it binds itself.
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        lifespan: Literal["auto", "on", "off"] = "off",
        startup_timeout: float = 5.0,
        graceful_shutdown: float = 2.0,
        allow_any_host: bool = False,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        if bool(tls_cert) != bool(tls_key):
            raise ValueError("TLS needs both a certificate and its key (tls_cert and tls_key)")
        self._ip = bind_address(host) if allow_any_host else loopback_address(host)
        # A host name stays in the URL: a TLS client checks the certificate against the name it dialled.
        self._url_host = self._ip if _is_ip_or_localhost(host) else host
        self.tls_cert = tls_cert or None
        self.tls_key = tls_key or None
        self.app = app
        self.requested_port = port
        self.lifespan = lifespan
        self.startup_timeout = startup_timeout
        # Long-polls may hold a request open for 30 s; past this grace period uvicorn cancels them.
        self.graceful_shutdown = graceful_shutdown
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._failure: str | None = None

    @property
    def host(self) -> str:
        return self._ip

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321`` (``https`` with TLS)."""
        host = f"[{self._url_host}]" if ":" in self._url_host else self._url_host
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._ip else socket.AF_INET
        # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections accepted from a socket
        # that says it is TCP. Without it, Nagle holds each response body until the client's delayed
        # ACK (40 ms on Linux): every Graph send took ~45 ms under concurrency instead of ~2 ms.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            # Lets a fixed port be reused right after a previous run left it in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._ip, self.requested_port))
        except OSError:
            sock.close()
            raise
        return sock

    def start(self) -> BackgroundServer:
        """Bind, start serving, and return once requests are accepted (RuntimeError after the timeout)."""
        if self._thread is not None:
            raise RuntimeError("the server is already started")
        self._socket = self._bind()
        self._port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan=self.lifespan,
            timeout_graceful_shutdown=self.graceful_shutdown,
            ssl_certfile=self.tls_cert,
            ssl_keyfile=self.tls_key,
        )
        self._server = server = uvicorn.Server(config)
        self._thread = thread = threading.Thread(
            target=self._run,
            args=(server, self._socket),
            name=f"uvicorn-{self._ip}:{self._port}",
            daemon=True,
        )
        thread.start()
        self._wait_started(server, thread)
        return self

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        # uvicorn calls sys.exit() when the app fails to load or its lifespan startup fails; in a thread
        # that would vanish silently, so keep the reason for start() to report.
        try:
            server.run(sockets=[sock])
        except SystemExit as exc:
            self._failure = f"uvicorn exited with status {exc.code}"
        except Exception as exc:
            self._failure = f"{type(exc).__name__}: {exc}"

    def _wait_started(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not thread.is_alive():
                self._release()
                reason = self._failure or "no reason given"
                raise RuntimeError(
                    f"the server on {self._ip}:{self._port} stopped while starting up ({reason})"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the server on {self._ip}:{self._port} did not start within {self.startup_timeout:g} s"
                )
            time.sleep(_POLL_SECONDS)

    def stop(self, timeout: float | None = None) -> None:
        """Ask uvicorn to exit, wait for the thread, then force it if it lingers. Safe to call twice."""
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            limit = timeout if timeout is not None else self.graceful_shutdown + 3.0
            thread.join(limit)
            if thread.is_alive():
                server.force_exit = True
                thread.join(1.0)
        self._release()

    def _release(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket = None
        self._server = None
        self._thread = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
