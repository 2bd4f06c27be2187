"""The OpenAPI document: generated from the routes' declarations, valid OpenAPI 3.1, covering every route, each
with the security its access declares and its family's error envelope; served at GET /openapi.json without a
token; and assets/openapi.json is the document of the code as it is (regenerate it with
`ops-server openapi --output assets/openapi.json`)."""

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from openapi_spec_validator import validate
from pydantic import BaseModel
from server_support import StartApp

from server.app import create_app
from server.cli import main
from server.http.access import PUBLIC, Bearer
from server.http.families import Family
from server.http.openapi import UndocumentedRoute, encode, openapi_document
from server.http.routes import FamilyRoutes, spec_of
from server.settings import Settings

ASSET = Path(__file__).resolve().parents[2] / "assets" / "openapi.json"
REGENERATE = "regenerate it: ops-server openapi --output assets/openapi.json"


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return openapi_document(create_app(Settings(data_dir=tmp_path_factory.mktemp("openapi"))))


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, item in document["paths"].items() for method, op in item.items()}


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_committed_document_is_the_code_s(document: dict[str, Any]) -> None:
    assert ASSET.is_file(), f"assets/openapi.json is missing: {REGENERATE}"
    assert ASSET.read_bytes() == encode(document), f"assets/openapi.json is out of date: {REGENERATE}"


def test_every_route_is_an_operation_and_nothing_else(document: dict[str, Any], tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    routes = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }

    assert set(_operations(document)) == routes
    assert len(routes) > 55  # the five families' endpoints


def test_each_operation_requires_what_its_route_declares(document: dict[str, Any], tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    operations = _operations(document)
    for route in app.router.routes():
        if route.resource is None or route.method == "HEAD":
            continue
        spec = spec_of(route.handler)
        assert spec is not None
        op = operations[(route.method, route.resource.canonical)]
        where = f"{route.method} {route.resource.canonical}"
        if isinstance(spec.access, Bearer):
            assert op["security"] == [{"bearerAuth": [spec.access.scope] if spec.access.scope else []}], where
            assert "401" in op["responses"], where
            assert ("403" in op["responses"]) == (spec.access.scope is not None), where
        elif spec.access == PUBLIC:
            assert op["security"] == [], where
            assert "401" not in op["responses"], where
        else:
            assert op["security"] == [{"metricsToken": []}, {"metricsBearer": []}], where
        assert op["tags"] == [spec.family.value], where


def test_errors_are_documented_in_each_family_s_envelope(document: dict[str, Any]) -> None:
    expected = {
        "/ops/status": "ControlError",
        "/api/ops/runbooks": "DetailError",
        "/api/v1/ops-agent/investigations": "AgentError",
        "/inspector/traces": "OrchestrationError",
        "/ops/api/refunds/ledger": "DetailError",
    }
    for path, model in expected.items():
        reference = document["paths"][path]["get"]["responses"]["401"]["$ref"]
        unauthorized = document["components"]["responses"][reference.rsplit("/", 1)[1]]
        assert unauthorized["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
    assert set(document["components"]["schemas"]["AgentError"]["required"]) == {"error"}


def test_orchestration_successes_are_wrapped_and_others_are_not(document: dict[str, Any]) -> None:
    wrapped = document["paths"]["/ops/control-loop/stats"]["get"]["responses"]["200"]["content"]["application/json"]
    assert wrapped["schema"]["required"] == ["code", "message", "data"]
    assert wrapped["schema"]["properties"]["code"] == {"const": 0}
    plain = document["paths"]["/ops/status"]["get"]["responses"]["200"]["content"]["application/json"]
    assert plain["schema"] == {"$ref": "#/components/schemas/StatusResponse"}


def test_query_models_become_parameters(document: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in document["paths"]["/ops/audit"]["get"]["parameters"]}

    assert parameters["limit"]["in"] == "query"
    assert parameters["limit"]["schema"]["maximum"] == 500
    assert parameters["limit"]["required"] is False
    assert parameters["X-Request-ID"]["in"] == "header"


async def test_served_without_a_token_as_generated(start_app: StartApp, settings: Settings) -> None:
    client = await start_app(settings)

    response = await client.get("/openapi.json")

    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.read() == encode(openapi_document(client.app))


async def test_only_get_is_allowed_in_the_control_envelope(start_app: StartApp, settings: Settings) -> None:
    client = await start_app(settings)

    response = await client.post("/openapi.json", json={})

    assert response.status == 405
    assert response.headers["Allow"] == "GET,HEAD"
    body = await response.json()
    assert set(body) >= {"error", "detail"}


def test_the_cli_writes_the_committed_document(
    document: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_DATA_DIR", str(tmp_path / "data"))

    assert main(["openapi", "--output", str(tmp_path / "openapi.json")]) == 0

    assert json.loads((tmp_path / "openapi.json").read_text()) == document


class _Echo(BaseModel):
    text: str


def test_a_route_without_an_operation_is_refused(tmp_path: Path) -> None:
    routes = FamilyRoutes(Family.CONTROL)

    @routes.get("/ops/echo", access=PUBLIC)
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({})

    @routes.get("/ops/documented", access=PUBLIC, responses={200: _Echo})
    async def documented(request: web.Request) -> web.Response:
        return web.json_response({"text": ""})

    app = web.Application()
    routes.add_to(app)

    with pytest.raises(UndocumentedRoute, match="GET /ops/echo"):
        openapi_document(app)
