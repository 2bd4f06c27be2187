"""Who the caller is: the principal of the request's bearer token. What a route lets in is its access
declaration's business (server/http/access.py)."""

from aiohttp import web
from multidict import istr

from server.http.context import RequestContext
from server.keys import TOKENS
from server.services.tokens import NOT_CACHED, NotCached, Principal

_AUTHORIZATION = istr("Authorization")


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
    if isinstance(principal, NotCached):
        principal = context.principal = await app[TOKENS].look_up(_bearer_token(request) or "")
    return principal
