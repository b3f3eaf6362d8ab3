"""The maps simulator (easymo_qa.simulators.maps), in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette

from easymo_qa.simulators.maps import (
    MapsReply,
    MapsSimConfig,
    Point,
    create_maps_app,
    haversine_m,
    parse_point,
    route_between,
)

pytestmark = pytest.mark.unit

KIMIRONKO = "-1.9353,30.1268"  # Kimironko market
REMERA = "-1.9556,30.1167"  # Remera, by Amahoro stadium
NYABUGOGO = "-1.9396,30.0446"  # Nyabugogo bus park

Scenario = Callable[[httpx.AsyncClient, Starlette], Awaitable[None]]


def run(scenario: Scenario, app: Starlette | None = None) -> Starlette:
    app = app if app is not None else create_maps_app(MapsSimConfig())

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://maps.test") as client:
            await scenario(client, app)

    asyncio.run(main())
    return app


def test_kimironko_to_remera_is_a_few_kilometres() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.get("/v1/route", params={"from": KIMIRONKO, "to": REMERA})
        assert response.status_code == 200
        route = response.json()
        assert set(route) == {"status", "distance_m", "duration_s", "url"}
        assert route["status"] == "OK"
        assert isinstance(route["distance_m"], int)
        assert isinstance(route["duration_s"], int)
        assert 2_000 <= route["distance_m"] <= 4_000
        # 25 km/h is about 6.94 m/s.
        assert route["duration_s"] == pytest.approx(route["distance_m"] / (25_000 / 3600), abs=1)
        assert route["url"] == f"https://maps.easymo.test/route?from={KIMIRONKO}&to={REMERA}"

    run(scenario)


def test_distance_is_haversine_times_road_factor_and_symmetric() -> None:
    a, b = parse_point(KIMIRONKO, "from"), parse_point(NYABUGOGO, "to")
    there, back = route_between(a, b), route_between(b, a)
    assert there["distance_m"] == back["distance_m"] == round(haversine_m(a, b) * 1.3)
    assert 9_000 <= there["distance_m"] <= 13_000


def test_same_point_has_zero_distance_and_minimum_duration() -> None:
    route = route_between(Point(-1.95, 30.1), Point(-1.95, 30.1))
    assert route["distance_m"] == 0
    assert route["duration_s"] == 60


def test_haversine_one_degree_of_latitude() -> None:
    assert haversine_m(Point(0, 30), Point(1, 30)) == pytest.approx(111_195, rel=1e-3)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"from": KIMIRONKO},
        {"to": REMERA},
        {"from": "", "to": REMERA},
        {"from": "-1.95", "to": REMERA},
        {"from": "-1.95,30.1,7", "to": REMERA},
        {"from": "abc,def", "to": REMERA},
        {"from": "nan,30.1", "to": REMERA},
        {"from": "inf,30.1", "to": REMERA},
        {"from": "91,30.1", "to": REMERA},
        {"from": KIMIRONKO, "to": "-1.95,181"},
    ],
)
def test_bad_coordinates_are_400(query: dict[str, str]) -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.get("/v1/route", params=query)
        assert response.status_code == 400
        assert isinstance(response.json()["error"], str)
        assert response.json()["error"]

    run(scenario)


def test_calls_are_recorded() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        await client.get("/v1/route", params={"from": KIMIRONKO, "to": REMERA})
        await client.get("/v1/route", params={"from": KIMIRONKO})
        answer = (await client.get("/_sim/calls")).json()
        first, second = answer["calls"]
        assert (first["seq"], first["from"], first["to"], first["status"]) == (1, KIMIRONKO, REMERA, 200)
        assert first["distance_m"] > 0
        assert (second["status"], second["to"], second["distance_m"]) == (400, None, None)
        assert [c["seq"] for c in (await client.get("/_sim/calls", params={"after": 1})).json()["calls"]] == [
            2
        ]
        await client.delete("/_sim/calls")
        assert (await client.get("/_sim/calls")).json() == {"calls": [], "last_seq": 2}

    run(scenario)


def test_api_key_is_checked_when_configured() -> None:
    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        query = {"from": KIMIRONKO, "to": REMERA}
        assert (await client.get("/v1/route", params=query)).status_code == 401
        assert (await client.get("/v1/route", params=query | {"key": "nope"})).status_code == 401
        assert (await client.get("/v1/route", params=query | {"key": "maps-key"})).status_code == 200
        bearer = {"Authorization": "Bearer maps-key"}
        assert (await client.get("/v1/route", params=query, headers=bearer)).status_code == 200

    run(scenario, create_maps_app(MapsSimConfig(api_key="maps-key")))


def test_route_handler_can_be_wrapped() -> None:
    app = create_maps_app()

    async def down(origin: Point, destination: Point) -> MapsReply:
        return MapsReply(503, {"error": "maps provider unavailable"})

    app.state.maps.route = down

    async def scenario(client: httpx.AsyncClient, app: Starlette) -> None:
        response = await client.get("/v1/route", params={"from": KIMIRONKO, "to": REMERA})
        assert response.status_code == 503
        [call] = (await client.get("/_sim/calls")).json()["calls"]
        assert call["status"] == 503

    run(scenario, app)
