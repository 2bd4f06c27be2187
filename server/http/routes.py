"""Route tables of the API families. Each routes module makes one `FamilyRoutes(Family.X)` and declares every
route on it with its access:

    routes = FamilyRoutes(Family.CONTROL)

    @routes.get("/ops/status", access=Bearer(Scope.OPS_READ))
    async def status(request: web.Request) -> web.Response: ...

The declaration (`RouteSpec`: family, access, path, and the family's envelope) goes with the handler, where the
request pipeline finds it; a handler serves one route. What the route takes and answers (`Operation`: its summary,
the pydantic models of its body, query and path, its answers by status, the errors its service raises) is declared
there too, and the OpenAPI document (server/http/openapi.py) is generated from it:

    @routes.get("/ops/audit", access=Bearer(Scope.OPS_READ), summary="Recent audit entries",
                query=AuditQuery, responses={200: AuditPage})

At start-up `check_routes` refuses a route that declares nothing (nothing is open by omission) and a route whose
path the prefix table (server/http/families.py) gives to another family (its errors would reach clients of
one contract in another's envelope)."""

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from server.http.access import Access
from server.http.envelopes import ENVELOPES, Envelope
from server.http.families import Family, family_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

SPEC_ATTRIBUTE = "ops_route_spec"  # where a handler carries its RouteSpec


@dataclass(frozen=True, slots=True)
class Text:
    """An answer that is not JSON: its media type (the Prometheus exposition, a trace's HTML page)."""

    media_type: str


@dataclass(frozen=True, slots=True)
class Header:
    """A request header a route reads, with the pattern its value must match (None: any string)."""

    description: str
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    """What a route takes and answers, for the OpenAPI document. `responses` maps each success status to the type of
    its payload (a pydantic model, any type pydantic can describe, `Text`, or None for no body): the family's
    envelope wraps it as it wraps the answer. `errors` are the error statuses the service raises (404, 409, ...);
    the ones every route of its kind can answer (401/403 by access, 400/422 when it parses input, 413 for a body
    past the limit, 429, and 503 for a change) are added by the generator. `headers` are request headers the route
    reads, by name, each a description or a `Header`. `body_required` False: a route that takes no body as an empty
    one."""

    summary: str = ""
    responses: Mapping[int, Any] = field(default_factory=dict)
    body: Any = None
    query: Any = None
    path: Any = None
    errors: tuple[int, ...] = ()
    headers: Mapping[str, "str | Header"] = field(default_factory=dict)
    description: str = ""
    body_required: bool = True


@dataclass(frozen=True, slots=True)
class RouteSpec:
    family: Family
    access: Access
    path: str  # canonical (no variable regexes): the audit names the route by it ("GET /webhooks/{webhook_id}")
    envelope: Envelope  # the family's, looked up once here rather than on every request
    operation: Operation | None = field(default=None, compare=False)  # None: not documented (refused by openapi.py)


# A path variable with its own regex, `{name:regex}` (the regex may hold `{m,n}` quantifiers).
_VARIABLE_WITH_REGEX = re.compile(r"\{([^{}:]+):(?:[^{}]|\{[^{}]*\})*\}")


def canonical(path: str) -> str:
    """`path` with each variable's regex dropped, as aiohttp's `resource.canonical`: the name the audit uses."""
    return _VARIABLE_WITH_REGEX.sub(r"{\1}", path)


def spec_of(handler: Any) -> RouteSpec | None:
    """The declaration of `handler`; None for the router's own handler when no route matched."""
    return getattr(handler, SPEC_ATTRIBUTE, None)


class FamilyRoutes:
    """The routes of one family, each declared with its access. `add_to(app)` adds them."""

    def __init__(self, family: Family) -> None:
        self.family = family
        self._table = web.RouteTableDef()

    def route(
        self,
        method: str,
        path: str,
        *,
        access: Access,
        summary: str = "",
        responses: Mapping[int, Any] | None = None,
        body: Any = None,
        query: Any = None,
        path_params: Any = None,
        errors: tuple[int, ...] = (),
        headers: Mapping[str, str | Header] | None = None,
        description: str = "",
        body_required: bool = True,
        **kwargs: Any,
    ) -> Callable[[H], H]:
        operation = None
        if responses is not None:
            operation = Operation(
                summary,
                responses,
                body,
                query,
                path_params,
                errors,
                headers or {},
                description=description,
                body_required=body_required,
            )

        def declare(handler: H) -> H:
            spec = RouteSpec(self.family, access, canonical(path), ENVELOPES[self.family], operation)
            declared = spec_of(handler)
            if declared is not None and declared != spec:
                raise ValueError(f"{handler.__name__} serves {declared.path} already: give {path} a handler of its own")
            setattr(handler, SPEC_ATTRIBUTE, spec)
            self._table.route(method, path, **kwargs)(handler)
            return handler

        return declare

    def get(self, path: str, *, access: Access, **kwargs: Any) -> Callable[[H], H]:
        return self.route("GET", path, access=access, **kwargs)

    def post(self, path: str, *, access: Access, **kwargs: Any) -> Callable[[H], H]:
        return self.route("POST", path, access=access, **kwargs)

    def put(self, path: str, *, access: Access, **kwargs: Any) -> Callable[[H], H]:
        return self.route("PUT", path, access=access, **kwargs)

    def patch(self, path: str, *, access: Access, **kwargs: Any) -> Callable[[H], H]:
        return self.route("PATCH", path, access=access, **kwargs)

    def delete(self, path: str, *, access: Access, **kwargs: Any) -> Callable[[H], H]:
        return self.route("DELETE", path, access=access, **kwargs)

    def add_to(self, app: web.Application) -> None:
        app.router.add_routes(self._table)


def check_routes(app: web.Application) -> None:
    """Refuse to start with a route that declares no access, or whose path belongs to another family."""
    problems = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None:
            continue
        where = f"{route.method} {resource.canonical}"
        spec = spec_of(route.handler)
        if spec is None:
            if route.method != "HEAD":  # GET's twin: named once
                problems.append(f"{where} declares no access (declare it on a FamilyRoutes)")
        elif (owner := family_of(resource.canonical)) is not spec.family:
            problems.append(f"{where} is declared in the {spec.family} family, but its path is the {owner} family's")
    if problems:
        raise RuntimeError("routes refused: " + "; ".join(problems))


async def check_routes_at_startup(app: web.Application) -> None:
    """An on_startup hook, run before anything starts, so routes added after create_app are held to it too."""
    check_routes(app)
