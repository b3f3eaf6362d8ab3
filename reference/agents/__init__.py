"""The agents: each registers its handlers (ids, id prefixes, keywords, states) on the router.

Every agent is one class taking the shared :class:`~reference.context.Context`; ``register_all`` is
the only place that knows the full list.
"""

from __future__ import annotations

from ..context import Context
from ..router import Router
from .buyer import BuyerAgent
from .checkout import CheckoutAgent
from .driver import DriverAgent
from .quotes import QuoteAgent
from .station import StationAgent
from .support import AdminAgent, SupportAgent
from .vendor import VendorAgent
from .wallet import WalletAgent

AGENT_CLASSES = (
    BuyerAgent,
    CheckoutAgent,
    WalletAgent,
    StationAgent,
    DriverAgent,
    VendorAgent,
    QuoteAgent,
    SupportAgent,
    AdminAgent,
)


def register_all(router: Router, ctx: Context) -> None:
    for agent_class in AGENT_CLASSES:
        agent_class(ctx).register(router)
