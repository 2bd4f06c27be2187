"""The OpenAPI 3.1 document of the running app, generated from what each route declares (server/http/routes.py):
its access, its `Operation` (the pydantic models of its body, query, path and answers) and its family's envelope.
Nothing here is written by hand per route: a route without an `Operation` is refused, so the document covers every
endpoint there is. Served at `GET /openapi.json`; `ops-server openapi` writes it to assets/openapi.json.

Security schemes: `bearerAuth` (an ops API token; an operation lists the scope it needs, the role names OpenAPI 3.1
allows for non-OAuth schemes), `metricsToken` (the `X-Metrics-Token` header) and `metricsBearer` (the same token
as a bearer, for Prometheus); public operations require nothing (`security: []`)."""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter

from server.http.access import PUBLIC, Bearer, MetricsToken, Public
from server.http.envelopes import Envelope
from server.http.families import Family
from server.http.routes import FamilyRoutes, Header, Operation, RouteSpec, Text, spec_of
from shared.control import ApiDocument

OPENAPI_VERSION = "3.1.0"
TITLE = "Ops Console API"
_REF_TEMPLATE = "#/components/schemas/{model}"
_PATH_VARIABLE = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")

SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "An ops API token (`ops-server token create`); each operation names the scope it needs.",
    },
    "metricsToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Metrics-Token",
        "description": "The metrics token (OPS_METRICS_TOKEN), for the Prometheus exposition only.",
    },
    "metricsBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The metrics token sent as a bearer token (Prometheus' `authorization:` scrape setting).",
    },
}

_ERROR_DESCRIPTIONS = {
    400: "The request is invalid (a field, the body or a query value)",
    401: "Missing or invalid credentials",
    403: "The token lacks the scope this operation needs",
    404: "Not found",
    405: "Method not allowed",
    409: "The current state does not allow this",
    410: "Gone",
    413: "The body is too large",
    422: "A field of the request is invalid",
    429: "Rate limited: retry after the time in Retry-After",
    502: "A dependency answered badly",
    503: "A dependency is unavailable, or the server is at capacity: retry later",
    504: "A dependency timed out",
}

_REQUEST_ID = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "description": "The caller's id for this request, echoed in the answer when it is safe (at most 128 of "
    "A-Z a-z 0-9 . _ : -); otherwise, or when absent, the server makes one.",
    "schema": {"type": "string"},
}


_RETRY_AFTER_STATUSES = {429, 503}
_RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "required": False,
    "schema": {"type": "integer", "minimum": 0},
}


class UndocumentedRoute(RuntimeError):
    """A route that declares no `Operation`: the document would not cover it."""


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    path: str  # canonical, with its {variables}
    name: str
    spec: RouteSpec
    operation: Operation


def _routes(app: web.Application) -> Iterator[_Route]:
    undocumented = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":  # HEAD is GET's twin
            continue
        spec = spec_of(route.handler)
        if spec is None or spec.operation is None:
            undocumented.append(f"{route.method} {resource.canonical}")
            continue
        yield _Route(route.method, resource.canonical, route.handler.__name__, spec, spec.operation)
    if undocumented:
        raise UndocumentedRoute("routes without an Operation: " + ", ".join(undocumented))


class _Schemas:
    """Every type the document names, turned into JSON schemas in one pass so that each model is one component
    (pydantic names a model's input and output shapes apart when they differ)."""

    def __init__(self) -> None:
        self._inputs: list[tuple[tuple[int, str], Any, TypeAdapter[Any]]] = []
        self._keys: dict[tuple[int, str], int] = {}
        self._resolved: dict[tuple[tuple[int, str], Any], dict[str, Any]] = {}
        self.components: dict[str, Any] = {}

    def want(self, type_: Any, mode: str) -> None:
        key = (id(type_), mode)
        if key not in self._keys:
            self._keys[key] = len(self._inputs)
            self._inputs.append((key, mode, TypeAdapter(type_)))

    def build(self) -> None:
        resolved, definitions = TypeAdapter.json_schemas(self._inputs, ref_template=_REF_TEMPLATE, by_alias=True)
        self._resolved = dict(resolved)
        self.components = dict(sorted(definitions.get("$defs", {}).items()))

    def of(self, type_: Any, mode: str) -> dict[str, Any]:
        return self._resolved[((id(type_), mode), mode)]

    def fields(self, type_: Any) -> tuple[dict[str, Any], set[str]]:
        """The properties and required names of the model `type_` (a query or path model)."""
        schema = self.of(type_, "validation")
        ref = schema.get("$ref")
        if ref is not None:
            schema = self.components[ref.rsplit("/", 1)[1]]
        return schema.get("properties", {}), set(schema.get("required", ()))


def _types_of(routes: list[_Route], schemas: _Schemas) -> None:
    for route in routes:
        op = route.operation
        for type_ in (op.body, op.query, op.path):
            if type_ is not None:
                schemas.want(type_, "validation")
        for payload in op.responses.values():
            if payload is not None and not isinstance(payload, Text):
                schemas.want(payload, "serialization")
        schemas.want(route.spec.envelope.error_model, "serialization")


def _parameters(route: _Route, schemas: _Schemas) -> list[dict[str, Any]]:
    op = route.operation
    parameters: list[dict[str, Any]] = []
    path_fields, _ = schemas.fields(op.path) if op.path is not None else ({}, set())
    for name in _PATH_VARIABLE.findall(route.path):
        schema = path_fields.get(name, {"type": "string"})
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op.query is not None:
        properties, required = schemas.fields(op.query)
        for name, schema in properties.items():
            parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": schema}
            if "description" in schema:
                parameter["description"] = schema["description"]
            parameters.append(parameter)
    parameters.extend(_header(name, header) for name, header in op.headers.items())
    parameters.append(_REQUEST_ID)
    return parameters


def _header(name: str, header: str | Header) -> dict[str, Any]:
    if isinstance(header, str):
        header = Header(header)
    schema: dict[str, Any] = {"type": "string"}
    if header.pattern is not None:
        schema["pattern"] = header.pattern
    return {"name": name, "in": "header", "required": False, "description": header.description, "schema": schema}


def _security(route: _Route) -> list[dict[str, list[str]]]:
    access = route.spec.access
    if isinstance(access, Public):
        return []
    if isinstance(access, MetricsToken):
        return [{"metricsToken": []}, {"metricsBearer": []}]
    return [{"bearerAuth": [access.scope] if access.scope else []}]


def _error_statuses(route: _Route) -> list[int]:
    op = route.operation
    envelope = route.spec.envelope
    statuses = {413, 429, *op.errors}  # 413: any request declaring a body past the limit, read or not
    access = route.spec.access
    if isinstance(access, Bearer | MetricsToken):
        statuses.add(401)
    if isinstance(access, Bearer) and access.scope is not None:
        statuses.add(403)
    if op.body is not None or op.query is not None or op.path is not None:
        statuses.add(envelope.validation_status)
    if op.body is not None:
        statuses.add(envelope.validation_status)
    if route.method != "GET":
        statuses.add(503)  # a change while another process holds the database's write lock: retry later
    return sorted(statuses)


def _responses(route: _Route, schemas: _Schemas, errors: dict[str, Any]) -> dict[str, Any]:
    """The operation's answers: its successes inline, its errors as references to `errors` (one response per
    family and status, added there on first use: components/responses)."""
    envelope = route.spec.envelope
    responses: dict[str, Any] = {}
    for status, payload in sorted(route.operation.responses.items()):
        description = "OK" if status < 300 else "Answer"
        if payload is None:
            responses[str(status)] = {"description": description}
        elif isinstance(payload, Text):
            responses[str(status)] = {
                "description": description,
                "content": {payload.media_type: {"schema": {"type": "string"}}},
            }
        else:
            schema = envelope.success_schema(schemas.of(payload, "serialization"))
            responses[str(status)] = {"description": description, "content": {"application/json": {"schema": schema}}}
    for status in _error_statuses(route):
        if str(status) in responses:
            continue
        name = f"{envelope.family.value.capitalize()}{status}"
        if name not in errors:
            errors[name] = {
                "description": _ERROR_DESCRIPTIONS.get(status, "Error"),
                "content": {"application/json": {"schema": {"$ref": _error_schema_ref(envelope, schemas)}}},
            }
            if status in _RETRY_AFTER_STATUSES:
                errors[name]["headers"] = {"Retry-After": _RETRY_AFTER}
        responses[str(status)] = {"$ref": f"#/components/responses/{name}"}
    return responses


def _error_schema_ref(envelope: Envelope, schemas: _Schemas) -> str:
    schema = schemas.of(envelope.error_model, "serialization")
    return str(schema["$ref"])


def _operation(route: _Route, schemas: _Schemas, errors: dict[str, Any]) -> dict[str, Any]:
    op = route.operation
    document: dict[str, Any] = {
        "operationId": f"{route.spec.family.value}_{route.name}",
        "tags": [route.spec.family.value],
        "summary": op.summary or route.name.replace("_", " "),
    }
    if op.description:
        document["description"] = op.description
    document["security"] = _security(route)
    document["parameters"] = _parameters(route, schemas)
    if op.body is not None:
        document["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": schemas.of(op.body, "validation")}},
        }
    document["responses"] = _responses(route, schemas, errors)
    return document


def _version() -> str:
    try:
        return version("ops-console")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0"


def openapi_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route of `app`. Raises `UndocumentedRoute` for a route without an
    `Operation`, and ValueError when two routes would share an operationId."""
    routes = sorted(_routes(app), key=lambda r: (r.path, r.method))
    schemas = _Schemas()
    _types_of(routes, schemas)
    schemas.build()
    paths: dict[str, dict[str, Any]] = {}
    errors: dict[str, Any] = {}
    seen: set[str] = set()
    for route in routes:
        operation = _operation(route, schemas, errors)
        if operation["operationId"] in seen:
            raise ValueError(f"two routes are named {operation['operationId']}: rename one handler")
        seen.add(operation["operationId"])
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": TITLE,
            "version": _version(),
            "description": "The five ops API families (control, runbooks + metrics, ops agent, orchestration, "
            "live + refunds) of one server. Each family answers errors in its own envelope.",
        },
        "tags": [{"name": family.value} for family in Family],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "responses": dict(sorted(errors.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def encode(document: dict[str, Any]) -> bytes:
    """The document as assets/openapi.json holds it: indented, keys in a stable order, a final newline."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


class DocumentCache:
    """The encoded document, made at the first request (the routes are fixed by then) and kept."""

    def __init__(self) -> None:
        self._body: bytes | None = None

    def body(self, app: web.Application) -> bytes:
        if self._body is None:
            self._body = encode(openapi_document(app))
        return self._body


OPENAPI_DOCUMENT = web.AppKey("openapi_document", DocumentCache)
routes = FamilyRoutes(Family.CONTROL)  # /openapi.json lies under no family's prefix: the default family's


@routes.get(
    "/openapi.json",
    access=PUBLIC,
    summary="This document",
    description="The OpenAPI 3.1 document of every operation, generated from the server's pydantic models.",
    responses={200: ApiDocument},
)
async def openapi(request: web.Request) -> web.Response:
    body = request.app[OPENAPI_DOCUMENT].body(request.app)
    return web.Response(body=body, content_type="application/json")


def setup(app: web.Application) -> None:
    routes.add_to(app)
    app[OPENAPI_DOCUMENT] = DocumentCache()
