"""The request pipeline around handlers the ops routes do not have: one that streams, one that redirects, one that
fails unexpectedly, and a public one. Each is added to a real app before it starts, so it runs through every
stage as a real route would."""

import contextlib
import re
import sqlite3

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.http.access import Bearer, Public
from server.http.envelopes import respond
from server.http.families import Family
from server.http.response_headers import prepare_stream
from server.http.routes import FamilyRoutes
from server.keys import AUDIT, SETTINGS

AUTH = {"Authorization": "Bearer admin-secret"}
STREAMED = [b"first part\n", b"second part\n", b"third part\n"]

routes = FamilyRoutes(Family.CONTROL)


@routes.get("/ops/test/stream", access=Bearer("ops:read"))
async def stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await prepare_stream(request, response)
    for part in STREAMED:
        await response.write(part)
    await response.write_eof()
    return response


@routes.get("/ops/test/moved", access=Bearer("ops:read"))
async def moved(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ops/status")


@routes.get("/ops/test/boom", access=Bearer("ops:read"))
async def boom(request: web.Request) -> web.Response:
    raise ZeroDivisionError("secret=hunter2 went wrong")


@routes.post("/ops/test/boom", access=Bearer("ops:command"))
async def boom_on_change(request: web.Request) -> web.Response:
    raise ZeroDivisionError("secret=hunter2 went wrong")


# Public, with its reads audited: the address limit is what this exercises, and the audit shows who got through.
@routes.get("/ops/test/ping", access=Public(audit_reads=True))
async def ping(request: web.Request) -> web.Response:
    return respond(request, {"pong": True})


@pytest.fixture
async def client(start_with_routes) -> TestClient:
    return await start_with_routes(routes, rate_limit_per_minute=500, rate_limit_anon_per_minute=3)


def _assert_common_headers(response, request_id: str, limit: int) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Request-ID"] == request_id
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert int(response.headers["X-RateLimit-Remaining"]) < limit
    assert int(response.headers["X-RateLimit-Reset"]) > 0


async def test_a_streamed_response_carries_the_common_headers_and_its_whole_body(client):
    response = await client.get("/ops/test/stream", headers={**AUTH, "X-Request-ID": "stream-1"})

    assert response.status == 200
    _assert_common_headers(response, "stream-1", 500)
    assert response.headers["Cache-Control"] == "no-store"
    assert await response.read() == b"".join(STREAMED)


async def test_a_redirect_carries_the_common_headers(client):
    response = await client.get("/ops/test/moved", headers={**AUTH, "X-Request-ID": "moved-1"}, allow_redirects=False)

    assert response.status == 302
    assert response.headers["Location"] == "/ops/status"
    _assert_common_headers(response, "moved-1", 500)
    assert response.headers["Cache-Control"] == "no-store"


async def test_an_unexpected_error_is_500_quoting_the_request_id_it_was_answered_under(client):
    response = await client.get("/ops/test/boom", headers=AUTH)  # no id given: the server makes one

    assert response.status == 500
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert await response.json() == {
        "error": "internal_error",
        "detail": f"internal error; quote request id {request_id}",
    }
    text = await response.text()
    for internal in ("Traceback", "ZeroDivisionError", "hunter2", __file__):
        assert internal not in text
    _assert_common_headers(response, request_id, 500)


async def test_a_change_that_fails_unexpectedly_is_on_record_before_the_500_goes_out(client):
    response = await client.post("/ops/test/boom", headers={**AUTH, "X-Request-ID": "boom-1"})

    assert response.status == 500
    # Read from the file at once, with no flush: a state-changing request's entry is committed before its answer.
    assert _audit_rows(client) == [("boom-1", "POST /ops/test/boom", "internal_error", 500)]


async def test_a_public_route_answers_anyone_and_counts_against_the_address_limit(client):
    answers = [await client.get("/ops/test/ping", headers={"X-Request-ID": f"ping-{n}"}) for n in (1, 2)]
    # An anonymous request to a protected route spends the same address's budget.
    refused = await client.get("/ops/status")
    over = await client.get("/ops/test/ping", headers={"X-Request-ID": "ping-4"})

    for n, response in enumerate(answers, start=1):
        assert response.status == 200
        assert await response.json() == {"pong": True}
        _assert_common_headers(response, f"ping-{n}", 3)
        assert "Cache-Control" not in response.headers  # nobody's own view: nothing to keep out of caches
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1"]
    assert refused.status == 401
    assert over.status == 429
    assert (await over.json())["error"] == "rate_limited"
    assert over.headers["X-RateLimit-Limit"] == "3"
    assert int(over.headers["Retry-After"]) >= 1
    await client.app[AUDIT].flush()
    pings = [row for row in _audit_rows(client, principal=True) if row[0].startswith("ping-")]
    assert pings == [
        ("ping-1", None, "ok", 200),
        ("ping-2", None, "ok", 200),
    ]  # ping-4 was refused before the audit stage: a flood does not grow the log


def _audit_rows(client: TestClient, *, principal: bool = False) -> list[tuple]:
    """(request id, action or principal, outcome, status) of every audit row, read by a connection of its own."""
    second = "principal" if principal else "action"
    with contextlib.closing(sqlite3.connect(client.app[SETTINGS].database_path)) as conn:
        return list(conn.execute(f"SELECT request_id, {second}, outcome, status FROM audit_log ORDER BY entry_id"))
