"""Simulators of the SUT's outside world, as ASGI apps (Starlette), and a loopback server to run them."""

from __future__ import annotations

from easymo_qa.simulators.graph_api import GraphSimConfig, GraphSimulator, create_graph_app
from easymo_qa.simulators.outbox import Outbox
from easymo_qa.simulators.server import BackgroundServer

__all__ = ["BackgroundServer", "GraphSimConfig", "GraphSimulator", "Outbox", "create_graph_app"]
