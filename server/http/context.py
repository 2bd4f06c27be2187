"""RequestContext: what the pipeline's stages learn about one request (its id, the route's declaration, its caller,
its rate-limit state, the handler's notes for the audit) in one typed object, rather than loose string keys on the
request."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from server.http.rate_limit import RateLimitState
    from server.http.routes import RouteSpec
    from server.services.tokens import Principal


@dataclass(slots=True)
class RequestContext:
    request_id: str
    route: "RouteSpec | None" = None  # None until the pipeline looked, and when no route matched
    principal: "Principal | None" = None
    rate_limit: "RateLimitState | None" = None
    audit_action: str | None = None
    audit_target: str | None = None
    audit_detail: dict[str, Any] | None = None  # made by the first note: most requests (reads) have none


CONTEXT = web.RequestKey("ops_context", RequestContext)


def begin_context(request: web.Request, request_id: str) -> RequestContext:
    context = request[CONTEXT] = RequestContext(request_id)
    return context


def find_context(request: web.Request) -> RequestContext | None:
    """The request's context, or None for a request that never reached the pipeline."""
    try:
        return request[CONTEXT]
    except KeyError:  # rare: most requests have one, and Request.get() is two Python calls deep
        return None


def context_of(request: web.Request) -> RequestContext:
    """The request's context. The request id stage runs first and makes it; a request that never reached
    the pipeline (aiohttp answered it itself) gets a blank one."""
    try:
        return request[CONTEXT]
    except KeyError:
        return begin_context(request, "-")


def principal_of(request: web.Request) -> "Principal":
    """The authenticated caller, for handlers behind `Bearer` access: the auth stage guarantees there is one."""
    principal = context_of(request).principal
    if principal is None:
        raise RuntimeError("principal_of() called on a request the auth stage did not authenticate")
    return principal
