"""Authentication and scopes. Every route declares what it needs with `@requires(scope)` or `@public`;
a route that declares nothing is refused at start-up, so nothing is open by omission."""

from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import istr

from server.errors import Forbidden, Unauthorized
from server.http.context import RequestContext
from server.keys import TOKENS
from server.services.tokens import NOT_CACHED, NotCached, Principal

REQUIRED_SCOPE = "required_scope"
PUBLIC = "public"
AUTHENTICATED = ""  # any valid token, no particular scope

_AUTHORIZATION = istr("Authorization")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ops"'}


def requires(scope: str) -> Callable[[Any], Any]:
    def mark(handler: Any) -> Any:
        setattr(handler, REQUIRED_SCOPE, scope)
        return handler

    return mark


def public(handler: Any) -> Any:
    setattr(handler, REQUIRED_SCOPE, PUBLIC)
    return handler


def required_scope(handler: Handler) -> str | None:
    """The scope `handler` declares; None for the router's own handler when no route matched. (Middlewares inside
    the caller's wrap the handler with its attributes copied, so the declaration is still found.)"""
    return getattr(handler, REQUIRED_SCOPE, None)


def check_routes_declare_access(app: web.Application) -> None:
    undeclared = [
        f"{r.method} {r.resource.canonical}"
        for r in app.router.routes()
        if r.resource is not None and r.method != "HEAD" and getattr(r.handler, REQUIRED_SCOPE, None) is None
    ]
    if undeclared:
        raise RuntimeError(f"routes without @requires/@public: {', '.join(undeclared)}")


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get(_AUTHORIZATION, "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and len(token) <= 512 else None


def identify_cached(
    app: web.Application, request: web.Request, context: RequestContext
) -> Principal | NotCached | None:
    """The caller's principal (None: no valid token) when it is known without the database: no token, the admin
    token, or one checked within the token cache's time. NOT_CACHED otherwise. Synchronous: the hot path then
    awaits nothing."""
    token = _bearer_token(request)
    principal = None if token is None else app[TOKENS].cached(token)
    if principal is not NOT_CACHED:
        context.principal = principal
    return principal


async def identify(app: web.Application, request: web.Request, context: RequestContext) -> Principal | None:
    """The caller's principal, looked up in the database when the cache does not know it."""
    principal = identify_cached(app, request, context)
    if principal is NOT_CACHED:
        principal = context.principal = await app[TOKENS].look_up(_bearer_token(request) or "")
    return principal


def authorize(request: web.Request, scope: str | None, principal: Principal | None) -> None:
    """The auth stage: let the request through to its handler, or raise 401/403 (or the router's 404/405)."""
    if scope is None and request.match_info.http_exception is not None:
        # No route matched: let the router answer 404/405 without revealing more to anonymous callers.
        raise request.match_info.http_exception
    if scope == PUBLIC:
        return
    if principal is None:
        if _AUTHORIZATION in request.headers:
            raise Unauthorized("invalid or revoked bearer token", code="invalid_token", headers=_CHALLENGE)
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'", headers=_CHALLENGE)
    if scope and not principal.has(scope):
        raise Forbidden(f"token '{principal.name}' lacks the scope '{scope}'", code="insufficient_scope")
