"""The application factory: wires settings, store, Graph client, router and processor into Starlette.

Resources live for the lifespan of the app: opened at startup, and at shutdown queued messages get a
few seconds to finish before the HTTP client and the database are closed. Tests drive the same
lifespan in-process with ``async with app.router.lifespan_context(app)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from .config import Settings
from .graph_client import GraphClient
from .observability import EventLog, admin_events
from .processing import Processor
from .router import Router
from .store import Store
from .webhook import health, wa_webhook

SHUTDOWN_GRACE_SECONDS = 5.0
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(settings: Settings, *, graph_transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """Build the service. ``graph_transport`` lets tests answer Graph API calls in-process."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store.open(settings.db_path)
        events = EventLog(store)
        graph = GraphClient(settings, events, transport=graph_transport)
        router = Router(settings, store, events, graph)
        processor = Processor(settings, store, events, router, graph)
        app.state.store, app.state.events, app.state.router = store, events, router
        app.state.graph, app.state.processor = graph, processor
        try:
            yield
        finally:
            await processor.shutdown(SHUTDOWN_GRACE_SECONDS)
            await graph.aclose()
            store.close()

    app = Starlette(
        routes=[
            # The handler answers 405 itself (as easyMO does) so the response still carries X-Request-ID.
            Route("/wa-webhook", wa_webhook, methods=_ALL_METHODS),
            Route("/health", health, methods=["GET"]),
            Route("/admin/events", admin_events, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app
