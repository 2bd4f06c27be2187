"""Authentication and scopes. Every route declares what it needs with `@requires(scope)` or `@public`;
a route that declares nothing is refused at start-up, so nothing is open by omission."""

from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from server.errors import Forbidden, Unauthorized
from server.http.context import CONTEXT
from server.keys import TOKENS
from server.services.tokens import NOT_CACHED, Principal

REQUIRED_SCOPE = "required_scope"
PUBLIC = "public"
AUTHENTICATED = ""  # any valid token, no particular scope

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ops"'}


def requires(scope: str) -> Callable[[Any], Any]:
    def mark(handler: Any) -> Any:
        setattr(handler, REQUIRED_SCOPE, scope)
        return handler

    return mark


def public(handler: Any) -> Any:
    setattr(handler, REQUIRED_SCOPE, PUBLIC)
    return handler


def required_scope(request: web.Request) -> str | None:
    route = request.match_info.route
    return getattr(route.handler, REQUIRED_SCOPE, None)


def check_routes_declare_access(app: web.Application) -> None:
    undeclared = [
        f"{r.method} {r.resource.canonical}"
        for r in app.router.routes()
        if r.resource is not None and r.method != "HEAD" and getattr(r.handler, REQUIRED_SCOPE, None) is None
    ]
    if undeclared:
        raise RuntimeError(f"routes without @requires/@public: {', '.join(undeclared)}")


async def identify(request: web.Request) -> Principal | None:
    """The caller's principal from the bearer token, or None. Cached on the request: the rate limiter and the
    auth middleware both ask."""
    context = request[CONTEXT]
    if context.identified:
        return context.principal
    principal: Principal | None = None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token and len(token) <= 512:
        tokens = request.app[TOKENS]
        known = tokens.cached(token)  # synchronous: a cached token costs no coroutine
        principal = await tokens.look_up(token) if known is NOT_CACHED else known
    context.principal, context.identified = principal, True
    return principal


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    scope = required_scope(request)
    if scope is None and request.match_info.http_exception is not None:
        # No route matched: let the router answer 404/405 without revealing more to anonymous callers.
        raise request.match_info.http_exception
    if scope == PUBLIC:
        return await handler(request)
    principal = await identify(request)
    if principal is None:
        if "Authorization" in request.headers:
            raise Unauthorized("invalid or revoked bearer token", code="invalid_token", headers=_CHALLENGE)
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'", headers=_CHALLENGE)
    if scope and not principal.has(scope):
        raise Forbidden(f"token '{principal.name}' lacks the scope '{scope}'", code="insufficient_scope")
    return await handler(request)
