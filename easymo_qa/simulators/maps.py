"""The maps simulator: road distance and travel time between two points, computed, never looked up.

``GET /v1/route?from=<lat>,<lng>&to=<lat>,<lng>`` answers ``{"status": "OK", "distance_m", "duration_s",
"url"}``:
the great-circle (haversine) distance times :data:`ROAD_FACTOR` (Kigali's hills make roads wind), and
the time at :data:`SPEED_KMH` (city traffic), at least :data:`MIN_DURATION_S`. Same points, same answer.

When ``api_key`` is set the SUT must present it, as ``Authorization: Bearer <key>`` or ``?key=<key>``.
Every call is recorded (``GET /_sim/calls?after=``, ``DELETE /_sim/calls``), on arrival: ``status``
stays ``null`` until the call is answered, so a hanging call is counted at once.

The route parses and checks the query, then hands the two points to :attr:`MapsSimulator.route`, a plain
``async (origin, destination) -> MapsReply`` function a fault layer can wrap. :func:`create_maps_app`
installs the fault plane (:mod:`easymo_qa.simulators.faults`) there: op ``route``, key the destination
``<lat>,<lng>`` (compared as numbers: ``-1.975,30.075`` matches ``to=-1.975000,30.075000``), so parallel
tests with their own drop-off points never share a fault; a rule without a key hits every route. A
faulted call's record carries ``fault: <rule id>``.

Besides the shared actions, the two answers of Google's routing services that are not errors of the
caller (Directions ``status``, as in
https://googlemaps.github.io/google-maps-services-js/enums/DirectionsResponseStatus.html):
``quota`` answers 429 ``{"status": "OVER_QUERY_LIMIT", "error_message"}`` (with ``Retry-After`` when the
rule has ``retry_after``), and ``zero_results`` answers 200 ``{"status": "ZERO_RESULTS"}``: no route
between the points, which is not a failure of the service and must not be retried.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from easymo_qa.simulators.calls import CallLog, call_log_routes
from easymo_qa.simulators.faults import (
    FaultPlane,
    FaultRule,
    fault_routes,
    invalid_json,
    retry_after_header,
    shared_answer,
)

EARTH_RADIUS_M = 6_371_000.0
ROAD_FACTOR = 1.3
SPEED_KMH = 25.0
MIN_DURATION_S = 60
ROUTE_URL = "https://maps.easymo.test/route"


@dataclass
class MapsSimConfig:
    """The API key the SUT must present; "" accepts any caller."""

    api_key: str = ""


@dataclass(frozen=True)
class Point:
    lat: float
    lng: float

    def __str__(self) -> str:
        return f"{_number(self.lat)},{_number(self.lng)}"


@dataclass(frozen=True)
class MapsReply:
    """An HTTP status and JSON body; ``fault``: the fault rule that applied; ``response``: sent as is."""

    status: int
    payload: dict[str, Any]
    fault: str | None = None
    response: Response | None = None


RouteHandler = Callable[[Point, Point], Awaitable[MapsReply]]


def _number(value: float) -> str:
    # Six decimals is ~10 cm; trailing zeros dropped so "-1.95,30.1" round-trips as written.
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_point(text: str | None, name: str) -> Point:
    """``"lat,lng"`` as a Point; raises ValueError naming the parameter and what is wrong."""
    if text is None or not text.strip():
        raise ValueError(f"{name} is required, as <lat>,<lng>")
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"{name} must be <lat>,<lng>, got {text!r}")
    try:
        lat, lng = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"{name} must be two numbers, got {text!r}") from None
    if not (math.isfinite(lat) and math.isfinite(lng)):
        raise ValueError(f"{name} must be finite numbers, got {text!r}")
    if not -90.0 <= lat <= 90.0 or not -180.0 <= lng <= 180.0:
        raise ValueError(f"{name} is out of range (lat -90..90, lng -180..180), got {text!r}")
    return Point(lat, lng)


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi = phi2 - phi1
    dlmb = math.radians(b.lng - a.lng)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def route_between(origin: Point, destination: Point) -> dict[str, Any]:
    """The route answer: road distance, travel time and a link, all derived from the two points."""
    distance = round(haversine_m(origin, destination) * ROAD_FACTOR)
    duration = max(MIN_DURATION_S, round(distance / (SPEED_KMH * 1000 / 3600)))
    url = f"{ROUTE_URL}?{urlencode({'from': str(origin), 'to': str(destination)}, safe=',')}"
    return {"distance_m": distance, "duration_s": duration, "url": url}


async def route_by_geometry(origin: Point, destination: Point) -> MapsReply:
    """The fault-free handler."""
    return MapsReply(200, {"status": "OK", **route_between(origin, destination)})


# --- faults ------------------------------------------------------------------------------------------------

FAULT_OPS = {"route": ("status", "delay", "hang", "malformed", "reset", "quota", "zero_results")}
OVER_QUERY_LIMIT = "You have exceeded your rate-limit for this API."


def fault_error(status: int, rule: FaultRule) -> dict[str, Any]:
    """This simulator's error shape, ``{"error": "<reason phrase>"}``."""
    try:
        return {"error": HTTPStatus(status).phrase.lower()}
    except ValueError:
        return {"error": "simulated error"}


def normalise_point(text: str) -> str:
    """A ``lat,lng`` key in the form the simulator compares (``-1.975000,30.075`` → ``-1.975,30.075``)."""
    return str(parse_point(text, "key"))


def _quota(rule: FaultRule) -> MapsReply:
    body = {"status": "OVER_QUERY_LIMIT", "error_message": OVER_QUERY_LIMIT}
    headers = retry_after_header(rule)
    return MapsReply(429, body, fault=rule.id, response=JSONResponse(body, 429, headers=headers))


def with_faults(route: RouteHandler, plane: FaultPlane) -> RouteHandler:
    """``route`` behind the fault plane (op ``route``, key the destination point)."""
    garbage = invalid_json({"distance_m": 1000, "duration_s": 144, "url": ROUTE_URL})

    async def faulted_route(origin: Point, destination: Point) -> MapsReply:
        rule = plane.take("route", str(destination))
        if rule is None:
            return await route(origin, destination)
        if rule.action == "quota":
            return _quota(rule)
        if rule.action == "zero_results":
            return MapsReply(200, {"status": "ZERO_RESULTS"}, fault=rule.id)
        answer = await shared_answer(rule, fault_error, garbage)
        if answer is None:  # delayed, then answered as usual
            return replace(await route(origin, destination), fault=rule.id)
        return MapsReply(answer.status, answer.payload or {}, fault=rule.id, response=answer.response)

    return faulted_route


@dataclass
class MapsSimulator:
    """State behind one maps simulator app; reachable as ``app.state.maps``."""

    config: MapsSimConfig
    calls: CallLog
    route: RouteHandler


def _sim(request: Request) -> MapsSimulator:
    return request.app.state.maps


def _authorised(request: Request, api_key: str) -> bool:
    if not api_key:
        return True
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else request.query_params.get("key", "")
    return bool(token) and hmac.compare_digest(token.encode(), api_key.encode())


async def get_route(request: Request) -> Response:
    sim = _sim(request)
    params = request.query_params
    # Recorded on arrival, before the (possibly hanging) handler; completed once answered.
    record = sim.calls.record(
        **{"from": params.get("from"), "to": params.get("to")}, status=None, distance_m=None, duration_s=None
    )
    if not _authorised(request, sim.config.api_key):
        reply = MapsReply(401, {"error": "missing or invalid API key"})
    else:
        try:
            origin = parse_point(params.get("from"), "from")
            destination = parse_point(params.get("to"), "to")
        except ValueError as exc:
            reply = MapsReply(400, {"error": str(exc)})
        else:
            reply = await sim.route(origin, destination)
    record.update(
        status=reply.status,
        distance_m=reply.payload.get("distance_m"),
        duration_s=reply.payload.get("duration_s"),
    )
    if reply.fault is not None:
        record["fault"] = reply.fault
    if reply.response is not None:
        return reply.response
    return JSONResponse(reply.payload, status_code=reply.status)


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_maps_app(config: MapsSimConfig | None = None, *, calls: CallLog | None = None) -> Starlette:
    """A Starlette app answering route queries; its state is ``app.state.maps`` (a MapsSimulator).

    Its fault plane is ``app.state.faults``, served at ``/_sim/faults``.
    """
    log = calls if calls is not None else CallLog()
    faults = FaultPlane("maps", FAULT_OPS, normalise_key=normalise_point)
    app = Starlette(
        routes=[
            Route("/_sim/health", health, methods=["GET"]),
            *call_log_routes("/_sim/calls", lambda request: _sim(request).calls),
            *fault_routes(),
            Route("/v1/route", get_route, methods=["GET"]),
        ]
    )
    app.state.faults = faults
    app.state.maps = MapsSimulator(
        config=config or MapsSimConfig(), calls=log, route=with_faults(route_by_geometry, faults)
    )
    return app
