"""What the agents work with, built once per app lifespan and handed to each agent at registration."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .catalog import Catalog
from .clients.llm import LlmClient
from .clients.maps import MapsClient
from .config import Settings
from .deadlines import Deadlines
from .graph_client import GraphClient
from .identity import Identities
from .ledger import Ledger
from .notify import Notifier
from .observability import EventLog
from .orders import Orders
from .payments import Payments
from .processing import Processor
from .quotes import QuoteBook
from .seed import Seed
from .store import Store
from .testfaults import TestFaults

KIGALI_UTC_OFFSET_S = 2 * 3600  # Africa/Kigali is UTC+2 all year


@dataclass
class Context:
    settings: Settings
    store: Store
    events: EventLog
    graph: GraphClient
    seed: Seed
    catalog: Catalog
    orders: Orders
    ledger: Ledger
    payments: Payments
    notify: Notifier
    llm: LlmClient
    maps: MapsClient
    processor: Processor
    deadlines: Deadlines
    faults: TestFaults
    quotes: QuoteBook
    identities: Identities | None = None  # None with the phone_only_identity defect: users are their phone

    def payer(self, user: str) -> str | None:
        """The number that pays by MoMo for ``user`` (their phone, else the number they gave), or None
        when it must be asked (a username-only user, whose phone the bot never saw)."""
        return user if self.identities is None else self.identities.momo_number(user)

    def has_defect(self, name: str) -> bool:
        return self.settings.has_defect(name)


def today_start(now: float | None = None) -> float:
    """Epoch seconds of the last midnight in Kigali: "today" for orders and metrics."""
    now = time.time() if now is None else now
    local = now + KIGALI_UTC_OFFSET_S
    return local - (local % 86400) - KIGALI_UTC_OFFSET_S
