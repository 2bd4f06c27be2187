"""The API families: each answers in its contract's envelope (the status and the body of every error, and the
success wrapping of orchestration), decided by one envelope object per family; each route lies under its own
family's prefix, refused at start-up otherwise; prefixes end at a segment boundary.

The routes here are test-only, one table per family, added to a real app before it starts."""

from typing import Any

import pytest
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.app import create_app
from server.errors import NotFound
from server.http.access import AUTHENTICATED
from server.http.envelopes import respond
from server.http.families import Family, family_of
from server.http.parsing import parse_body, parse_query
from server.http.routes import FamilyRoutes, check_routes

AUTH = {"Authorization": "Bearer admin-secret"}
# One base path per family, each under the family's own prefix.
BASES = {
    Family.CONTROL: "/ops/test",
    Family.RUNBOOKS: "/api/ops/test",
    Family.AGENT: "/api/v1/test",
    Family.ORCHESTRATION: "/inspector/test",
    Family.LIVE: "/ops/api/test",
}
INVALID = {"name": "", "count": -1, "colour": "red"}
INVALID_FIELDS = [("name", "string_too_short"), ("count", "greater_than_equal"), ("colour", "extra_forbidden")]


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    count: int = Field(ge=0)


class Page(BaseModel):
    limit: int = Field(default=10, ge=1, le=100)


def _family_routes(family: Family) -> FamilyRoutes:
    routes = FamilyRoutes(family)
    base = BASES[family]

    @routes.post(f"{base}/things", access=AUTHENTICATED)
    async def create(request: web.Request) -> web.Response:
        thing = await parse_body(request, Thing)
        return respond(request, thing, status=201)

    @routes.get(f"{base}/things", access=AUTHENTICATED)
    async def page(request: web.Request) -> web.Response:
        query = parse_query(request, Page)
        return respond(request, {"items": [], "limit": query.limit})

    @routes.get(f"{base}/missing", access=AUTHENTICATED)
    async def missing(request: web.Request) -> web.Response:
        raise NotFound("no thing named 'x'", code="thing_not_found", extra={"known": ["a", "b"]})

    return routes


ALL_ROUTES = [_family_routes(family) for family in Family]


@pytest.fixture
async def client(start_with_routes):
    return await start_with_routes(*ALL_ROUTES)


def _fastapi(source: str) -> list[dict[str, Any]]:
    return [{"loc": [source, field], "type": kind} for field, kind in INVALID_FIELDS]


def _without_msg(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert all(isinstance(e["msg"], str) and e["msg"] for e in errors)
    return [{k: v for k, v in e.items() if k != "msg"} for e in errors]


class TestValidationFailures:
    async def test_control_answers_400_with_dotted_locations_beside_a_sentence(self, client):
        response = await client.post("/ops/test/things", json=INVALID, headers=AUTH)

        assert response.status == 400
        body = await response.json()
        assert body["error"] == "validation_failed"
        assert body["detail"].startswith("name: String should have at least 1 character; count: ")
        assert _without_msg(body["errors"]) == [{"loc": f, "type": t} for f, t in INVALID_FIELDS]

    async def test_runbooks_answers_422_listing_every_field_fastapi_style(self, client):
        response = await client.post("/api/ops/test/things", json=INVALID, headers=AUTH)

        assert response.status == 422
        body = await response.json()
        assert set(body) == {"detail"}
        assert _without_msg(body["detail"]) == _fastapi("body")

    async def test_runbooks_locates_an_invalid_query_parameter_in_the_query(self, client):
        response = await client.get("/api/ops/test/things", params={"limit": "0"}, headers=AUTH)

        assert response.status == 422
        assert _without_msg((await response.json())["detail"]) == [
            {"loc": ["query", "limit"], "type": "greater_than_equal"}
        ]

    async def test_runbooks_answers_an_unparseable_body_422_located_at_the_body(self, client):
        response = await client.post("/api/ops/test/things", data=b"{nope", headers=AUTH)

        assert response.status == 422
        assert _without_msg((await response.json())["detail"]) == [{"loc": ["body"], "type": "json_invalid"}]

    async def test_agent_answers_400_with_its_code_and_the_fields_in_details(self, client):
        response = await client.post("/api/v1/test/things", json=INVALID, headers=AUTH)

        assert response.status == 400
        error = (await response.json())["error"]
        assert set(error) == {"code", "message", "details"}
        assert error["code"] == "OPS_AGENT_INVALID_REQUEST"
        assert error["message"].startswith("name: ")
        assert error["details"]["code"] == "validation_failed"
        assert _without_msg(error["details"]["errors"]) == _fastapi("body")

    async def test_orchestration_answers_422_in_its_error_shape(self, client):
        response = await client.post("/inspector/test/things", json=INVALID, headers=AUTH)

        assert response.status == 422
        body = await response.json()
        assert set(body) == {"code", "message", "error", "details"}
        assert (body["code"], body["message"]) == (422, "Unprocessable Entity")
        assert body["error"].startswith("name: ")
        assert body["details"]["code"] == "validation_failed"
        assert _without_msg(body["details"]["errors"]) == _fastapi("body")

    async def test_live_answers_400_with_the_fields_as_its_detail(self, client):
        response = await client.post("/ops/api/test/things", json=INVALID, headers=AUTH)

        assert response.status == 400
        body = await response.json()
        assert set(body) == {"detail"}
        assert _without_msg(body["detail"]) == _fastapi("body")


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        (Family.CONTROL, {"error": "thing_not_found", "detail": "no thing named 'x'", "known": ["a", "b"]}),
        (Family.RUNBOOKS, {"detail": "no thing named 'x'", "known": ["a", "b"]}),
        (
            Family.AGENT,
            {
                "error": {
                    "code": "OPS_AGENT_NOT_FOUND",
                    "message": "no thing named 'x'",
                    "details": {"code": "thing_not_found", "known": ["a", "b"]},
                }
            },
        ),
        (
            Family.ORCHESTRATION,
            {
                "code": 404,
                "message": "Not Found",
                "error": "no thing named 'x'",
                "details": {"code": "thing_not_found", "known": ["a", "b"]},
            },
        ),
        (Family.LIVE, {"detail": "no thing named 'x'", "known": ["a", "b"]}),
    ],
)
async def test_a_domain_error_is_answered_in_the_routes_family_envelope(client, family, expected):
    response = await client.get(f"{BASES[family]}/missing", headers=AUTH)

    assert response.status == 404
    assert await response.json() == expected


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        (Family.CONTROL, {"error": "unauthorized"}),
        (Family.RUNBOOKS, {}),
        (Family.AGENT, {"error": {"code": "OPS_AGENT_UNAUTHORIZED", "details": {"code": "unauthorized"}}}),
        (Family.ORCHESTRATION, {"code": 401, "message": "Unauthorized", "details": {"code": "unauthorized"}}),
        (Family.LIVE, {}),
    ],
)
async def test_a_refusal_by_auth_is_answered_in_the_routes_family_envelope(client, family, expected):
    response = await client.get(f"{BASES[family]}/things")

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ops"'
    body = await response.json()
    sentence = "missing bearer token: send 'Authorization: Bearer <token>'"
    match family:
        case Family.CONTROL:
            assert body == {**expected, "detail": sentence}
        case Family.RUNBOOKS:
            assert body == {"detail": sentence}
        case Family.LIVE:  # contract 5 names one fixed sentence for every credential problem
            assert body == {"detail": "Invalid or missing credentials"}
        case Family.AGENT:
            assert body == {"error": {**expected["error"], "message": sentence}}
        case Family.ORCHESTRATION:
            assert body == {**expected, "error": sentence}


@pytest.mark.parametrize("family", [f for f in Family if f is not Family.ORCHESTRATION])
async def test_a_success_is_the_payload_itself(client, family):
    created = await client.post(f"{BASES[family]}/things", json={"name": "n", "count": 2}, headers=AUTH)
    page = await client.get(f"{BASES[family]}/things", headers=AUTH)

    assert created.status == 201
    assert await created.json() == {"name": "n", "count": 2}
    assert await page.json() == {"items": [], "limit": 10}


async def test_an_orchestration_success_is_wrapped_in_code_message_data(client):
    created = await client.post("/inspector/test/things", json={"name": "n", "count": 2}, headers=AUTH)
    page = await client.get("/inspector/test/things", headers=AUTH)

    assert created.status == 201
    assert created.content_type == "application/json"
    assert await created.json() == {"code": 0, "message": "success", "data": {"name": "n", "count": 2}}
    assert await page.json() == {"code": 0, "message": "success", "data": {"items": [], "limit": 10}}


class TestPrefixes:
    @pytest.mark.parametrize(
        ("path", "family"),
        [
            ("/ops/status", Family.CONTROL),
            ("/ops", Family.CONTROL),
            ("/ops/api/live/status", Family.LIVE),
            ("/ops/api", Family.LIVE),
            ("/ops/apix", Family.CONTROL),
            ("/ops/ci/ask", Family.ORCHESTRATION),
            ("/ops/control-loop/stats", Family.ORCHESTRATION),
            ("/ops/control-loopy", Family.CONTROL),
            ("/webhooks", Family.ORCHESTRATION),
            ("/webhooks/{webhook_id}/deliveries", Family.ORCHESTRATION),
            ("/webhooksX", Family.CONTROL),
            ("/inspector/traces", Family.ORCHESTRATION),
            ("/inspectors", Family.CONTROL),
            ("/assets/prompt", Family.ORCHESTRATION),
            ("/api/ops/metrics/summary", Family.RUNBOOKS),
            ("/api/opsx", Family.CONTROL),
            ("/api/v1/ops-agent/investigations", Family.AGENT),
            ("/api/v1/health", Family.AGENT),
            ("/api/v10/health", Family.CONTROL),
            ("/", Family.CONTROL),
        ],
    )
    def test_a_prefix_covers_its_own_segments_only(self, path, family):
        assert family_of(path) is family

    def test_a_route_under_another_familys_prefix_stops_the_app_from_starting(self, make_settings, clock):
        app = create_app(make_settings(), clock=clock)
        stray = FamilyRoutes(Family.CONTROL)

        @stray.get("/api/v1/ops-agent/things", access=AUTHENTICATED)
        async def things(request: web.Request) -> web.Response:
            return respond(request, {})

        stray.add_to(app)

        with pytest.raises(RuntimeError) as raised:
            check_routes(app)
        assert "GET /api/v1/ops-agent/things is declared in the control family, but its path is the agent family's" in (
            str(raised.value)
        )

    async def test_the_check_runs_at_start_up_before_anything_starts(self, make_settings, clock, start_app_failing):
        app = create_app(make_settings(), clock=clock)
        stray = FamilyRoutes(Family.ORCHESTRATION)

        @stray.post("/webhooksX", access=AUTHENTICATED)  # not under /webhooks: the control family's path
        async def webhook(request: web.Request) -> web.Response:
            return respond(request, {})

        stray.add_to(app)

        error = await start_app_failing(app)

        assert isinstance(error, RuntimeError)
        assert "POST /webhooksX is declared in the orchestration family, but its path is the control family's" in str(
            error
        )

    async def test_a_route_under_its_own_familys_prefix_starts(self, start_with_routes):
        webhooks = FamilyRoutes(Family.ORCHESTRATION)

        # A path the webhooks family does not serve: its own DELETE /webhooks/{webhook_id} would answer first.
        @webhooks.delete("/webhooks/{webhook_id}/probe", access=AUTHENTICATED)
        async def delete(request: web.Request) -> web.Response:
            return respond(request, {"webhook_id": request.match_info["webhook_id"]})

        client = await start_with_routes(webhooks)

        response = await client.delete("/webhooks/w1/probe", headers=AUTH)
        assert await response.json() == {"code": 0, "message": "success", "data": {"webhook_id": "w1"}}


def test_a_handler_serves_one_route():
    routes = FamilyRoutes(Family.CONTROL)

    async def handler(request: web.Request) -> web.Response:
        return respond(request, {})

    routes.get("/ops/test/one", access=AUTHENTICATED)(handler)

    with pytest.raises(ValueError, match="serves /ops/test/one already"):
        routes.get("/ops/test/two", access=AUTHENTICATED)(handler)
