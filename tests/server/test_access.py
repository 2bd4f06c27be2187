"""Access declarations, one kind at a time: public, a bearer token with a scope or any valid one, the
`X-Metrics-Token` header; and whether a route's reads are audited or only counted.

No family has a public or metrics-token route yet, so a test-only routes table (agent family, whose contract has
the health probes and /api/v1/metrics) exercises each kind through the whole pipeline."""

import asyncio
import contextlib
import sqlite3

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.http.access import AUTHENTICATED, METRICS_TOKEN, PUBLIC, Bearer, Public
from server.http.envelopes import respond
from server.http.families import Family
from server.http.request_metrics import METRICS_REGISTRY
from server.http.routes import FamilyRoutes
from server.keys import AUDIT, SETTINGS, TOKENS

ADMIN = {"Authorization": "Bearer admin-secret"}
SCRAPER = {"X-Metrics-Token": "scrape-secret"}

routes = FamilyRoutes(Family.AGENT)


@routes.get("/api/v1/test/health", access=PUBLIC)
async def health(request: web.Request) -> web.Response:
    return respond(request, {"status": "ok"})


@routes.post("/api/v1/test/health", access=PUBLIC)
async def poke(request: web.Request) -> web.Response:
    return respond(request, {"poked": True})


@routes.get("/api/v1/test/metrics", access=METRICS_TOKEN)
async def metrics(request: web.Request) -> web.Response:
    return web.Response(text="ops_up 1\n")


@routes.get("/api/v1/test/whoami", access=AUTHENTICATED)
async def whoami(request: web.Request) -> web.Response:
    return respond(request, {"ok": True})


@routes.get("/api/v1/test/read", access=Bearer("ops:read"))
async def read(request: web.Request) -> web.Response:
    return respond(request, {"ok": True})


@routes.get("/api/v1/test/quiet", access=Bearer("ops:read", audit_reads=False))
async def quiet(request: web.Request) -> web.Response:
    return respond(request, {"ok": True})


@routes.get("/api/v1/test/witnessed", access=Public(audit_reads=True))
async def witnessed(request: web.Request) -> web.Response:
    return respond(request, {"ok": True})


@pytest.fixture
async def client(start_with_routes) -> TestClient:
    return await start_with_routes(routes, metrics_token="scrape-secret")


async def _audited(client: TestClient) -> list[tuple[str, str, str, int]]:
    """(method, path, outcome, status) of every audit entry, once the queued ones are committed."""
    await client.app[AUDIT].flush()
    with contextlib.closing(sqlite3.connect(client.app[SETTINGS].database_path)) as conn:
        return list(conn.execute("SELECT method, path, outcome, status FROM audit_log ORDER BY entry_id"))


def _counted(client: TestClient, method: str, route: str, status: int) -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    return client.app[METRICS_REGISTRY].get_sample_value("ops_unaudited_requests_total", labels) or 0.0


class TestPublic:
    async def test_anyone_may_read_it_and_the_read_is_counted_not_audited(self, client):
        responses = [await client.get("/api/v1/test/health") for _ in range(3)]

        assert [r.status for r in responses] == [200, 200, 200]
        assert await responses[0].json() == {"status": "ok"}
        assert _counted(client, "GET", "/api/v1/test/health", 200) == 3
        assert await _audited(client) == []

    async def test_a_presented_token_is_not_even_looked_at(self, client):
        response = await client.get("/api/v1/test/health", headers={"Authorization": "Bearer not-a-token"})

        assert response.status == 200

    async def test_a_change_through_a_public_route_is_audited(self, client):
        response = await client.post("/api/v1/test/health")

        assert response.status == 200
        assert await _audited(client) == [("POST", "/api/v1/test/health", "ok", 200)]

    async def test_a_public_route_may_ask_for_its_reads_to_be_audited(self, client):
        await client.get("/api/v1/test/witnessed")

        assert await _audited(client) == [("GET", "/api/v1/test/witnessed", "ok", 200)]
        assert _counted(client, "GET", "/api/v1/test/witnessed", 200) == 0


class TestMetricsToken:
    async def test_the_configured_token_lets_a_scrape_in_counted_not_audited(self, client):
        response = await client.get("/api/v1/test/metrics", headers=SCRAPER)

        assert response.status == 200
        assert await response.text() == "ops_up 1\n"
        assert _counted(client, "GET", "/api/v1/test/metrics", 200) == 1
        assert await _audited(client) == []

    @pytest.mark.parametrize(
        ("headers", "code"),
        [
            ({}, "missing_metrics_token"),
            ({"X-Metrics-Token": "scrape-secreT"}, "invalid_metrics_token"),
            ({"X-Metrics-Token": "scrape-secret-and-more"}, "invalid_metrics_token"),
            ({"X-Metrics-Token": ""}, "invalid_metrics_token"),
            (ADMIN, "invalid_metrics_token"),  # a bearer token, even the admin's, is not the metrics token
        ],
        ids=["none", "wrong", "longer", "empty", "bearer-instead"],
    )
    async def test_anything_but_the_token_is_401_and_on_record(self, client, headers, code):
        response = await client.get("/api/v1/test/metrics", headers=headers)

        assert response.status == 401
        error = (await response.json())["error"]
        assert (error["code"], error["details"]["code"]) == ("OPS_AGENT_UNAUTHORIZED", code)
        # Probing for the token is a refusal by auth: audited like every other, not only counted.
        assert await _audited(client) == [("GET", "/api/v1/test/metrics", code, 401)]

    async def test_a_token_that_is_not_utf8_is_401_not_500(self, client):
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        writer.write(
            b"GET /api/v1/test/metrics HTTP/1.1\r\nHost: ops\r\nX-Metrics-Token: \xff\xfe\r\nConnection: close\r\n\r\n"
        )
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()

        assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
        assert b"invalid_metrics_token" in answer

    async def test_without_a_configured_token_no_scrape_gets_in(self, start_with_routes):
        client = await start_with_routes(routes, metrics_token=None)

        response = await client.get("/api/v1/test/metrics", headers=SCRAPER)

        assert response.status == 401
        assert (await response.json())["error"]["details"]["code"] == "invalid_metrics_token"


class TestBearer:
    async def test_any_valid_token_may_use_a_route_that_needs_no_scope(self, client):
        token = await client.app[TOKENS].create("commander", "ops:command")  # no scope the route could need

        assert (await client.get("/api/v1/test/whoami", headers={"Authorization": f"Bearer {token}"})).status == 200
        assert (await client.get("/api/v1/test/whoami")).status == 401

    async def test_a_token_without_the_scope_is_403(self, client):
        token = await client.app[TOKENS].create("commander", "ops:command")

        response = await client.get("/api/v1/test/read", headers={"Authorization": f"Bearer {token}"})

        assert response.status == 403
        assert (await response.json())["error"]["code"] == "OPS_AGENT_SCOPE_FORBIDDEN"

    async def test_reads_are_audited_by_default(self, client):
        await client.get("/api/v1/test/read", headers=ADMIN)

        assert await _audited(client) == [("GET", "/api/v1/test/read", "ok", 200)]
        assert _counted(client, "GET", "/api/v1/test/read", 200) == 0

    async def test_a_bearer_route_may_count_its_reads_instead(self, client):
        await client.get("/api/v1/test/quiet", headers=ADMIN)
        refused = await client.get("/api/v1/test/quiet")

        assert refused.status == 401
        assert _counted(client, "GET", "/api/v1/test/quiet", 200) == 1
        assert await _audited(client) == [("GET", "/api/v1/test/quiet", "unauthorized", 401)]


async def test_an_unknown_route_is_still_404_in_its_familys_envelope_and_audited_as_the_callers(client):
    response = await client.get("/api/v1/test/nothing", headers=ADMIN)

    assert response.status == 404
    assert (await response.json())["error"]["code"] == "OPS_AGENT_NOT_FOUND"
    assert await _audited(client) == [("GET", "/api/v1/test/nothing", "http_404", 404)]


def test_access_kinds_say_whether_their_reads_are_audited():
    assert (PUBLIC.audit_reads, METRICS_TOKEN.audit_reads, AUTHENTICATED.audit_reads) == (False, False, True)
    assert Bearer("ops:read") == Bearer(scope="ops:read", audit_reads=True)
