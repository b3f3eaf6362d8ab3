"""The application factory: wires settings, seed, store, upstream clients, agents and routes into Starlette.

Resources live for the lifespan of the app: opened at startup, and at shutdown queued messages get a
few seconds to finish before the HTTP clients and the database are closed. Tests drive the same
lifespan in-process with ``async with app.router.lifespan_context(app)`` and may answer any upstream
in-process by passing its transport.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from . import defects, messages
from .admin_api import admin_order, admin_wallet
from .agents import register_all
from .callbacks import payments_callback
from .catalog import Catalog
from .clients.llm import LlmClient
from .clients.maps import MapsClient
from .clients.payments import PaymentsClient
from .config import Settings
from .context import Context
from .dashboard import dashboard, metrics_json, metrics_prometheus
from .deadlines import Deadlines
from .flag_api import admin_flags
from .graph_client import GraphClient
from .identity import Identities
from .ledger import Ledger
from .notify import Notifier
from .observability import EventLog, admin_events
from .orders import Orders
from .payments import Payments
from .processing import Processor
from .quotes import QuoteBook
from .router import Router
from .seed import Seed, load_seed
from .store import Store
from .testfaults import ROUTES as TEST_FAULT_ROUTES
from .testfaults import TestFaults
from .webhook import health, wa_webhook

SHUTDOWN_GRACE_SECONDS = 5.0
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(
    settings: Settings,
    *,
    seed: Seed | None = None,
    graph_transport: httpx.AsyncBaseTransport | None = None,
    llm_transport: httpx.AsyncBaseTransport | None = None,
    payments_transport: httpx.AsyncBaseTransport | None = None,
    maps_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """Build the service. The seed is loaded here (``SeedError`` on bad data), before anything listens."""
    seed = seed if seed is not None else load_seed(settings.seed_path)
    messages.configure(settings.defects)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store.open(settings.db_path)
        events = EventLog(store)
        # The phone_only_identity defect: users are their `from`, replies go `to` it (as in 2025).
        identities = None if settings.has_defect(defects.PHONE_ONLY_IDENTITY) else Identities(store)
        graph = GraphClient(settings, events, transport=graph_transport, identities=identities)
        llm = LlmClient(settings, events, transport=llm_transport)
        maps = MapsClient(settings, events, transport=maps_transport)
        payments_client = PaymentsClient(settings, transport=payments_transport)
        router = Router(settings, store, events, graph, exempt_from_rate_limit=seed.is_seeded_actor)
        processor = Processor(settings, store, events, router, graph, identities)
        orders, ledger = Orders(store, events), Ledger(store, events)
        faults = TestFaults()
        deadlines = Deadlines(processor)
        ctx = Context(
            settings=settings,
            store=store,
            events=events,
            graph=graph,
            seed=seed,
            catalog=Catalog(store, seed),
            orders=orders,
            ledger=ledger,
            payments=Payments(store, events, orders, ledger, payments_client, settings),
            notify=Notifier(settings, store, events, graph, seed, faults),
            llm=llm,
            maps=maps,
            processor=processor,
            deadlines=deadlines,
            faults=faults,
            quotes=QuoteBook(store),
            identities=identities,
        )
        register_all(router, ctx)
        app.state.store, app.state.events, app.state.router = store, events, router
        app.state.graph, app.state.processor, app.state.ctx = graph, processor, ctx
        try:
            yield
        finally:
            deadlines.cancel_all()  # what they guard stays in the database; timers die with the process
            await processor.shutdown(SHUTDOWN_GRACE_SECONDS)
            for client in (graph, llm, maps, payments_client):
                await client.aclose()
            store.close()

    # The test-fault hook exists only when asked for: elsewhere its path is a plain 404.
    extra_routes = TEST_FAULT_ROUTES if settings.test_faults else []
    app = Starlette(
        routes=[
            *extra_routes,
            # The handler answers 405 itself (as easyMO does) so the response still carries X-Request-ID.
            Route("/wa-webhook", wa_webhook, methods=_ALL_METHODS),
            Route("/health", health, methods=["GET"]),
            Route("/payments/callback", payments_callback, methods=["POST"]),
            Route("/admin/events", admin_events, methods=["GET"]),
            Route("/admin/orders/{order_id}", admin_order, methods=["GET"]),
            Route("/admin/wallets/{phone}", admin_wallet, methods=["GET"]),
            Route("/admin/flags", admin_flags, methods=["GET", "PUT", "DELETE"]),
            Route("/admin/dashboard", dashboard, methods=["GET"]),
            Route("/admin/metrics.json", metrics_json, methods=["GET"]),
            Route("/metrics", metrics_prometheus, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.seed = seed
    return app
