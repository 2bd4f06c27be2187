"""The request pipeline: the server's one aiohttp middleware. It runs the cross-cutting concerns in the order
DESIGN.md gives them, each from its own module:

    request id -> errors -> rate limit -> audit -> auth -> handler -> response headers -> request metrics

Why one middleware and not five: aiohttp runs every middleware as one more coroutine layer around the handler.
On the hottest read (`GET /ops/status`) those layers, the response-prepare signal and awaiting stages that have
nothing to wait for cost about 8 % of the server's throughput (README, Benchmark). Here each stage is a plain
call, and only the two that may really wait are awaited: a token the cache does not know, and a state-changing
request's audit entry, which is committed before the answer goes out.

The order is what it is for reasons: the request id exists before anything can fail; errors wrap everything
after it; a rate-limited request is refused before the audit (a flood cannot grow the log); refusals by auth are
audited; every answer, errors included, gets the common headers, and is counted and timed by its route.

What each route lets in, and whether its reads are audited or only counted, is its declaration
(server/http/routes.py, server/http/access.py); errors are answered in its family's envelope
(server/http/envelopes.py)."""

from time import perf_counter

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from server.http.access import Bearer, MetricsToken, authorize
from server.http.audit import record_failure, record_response
from server.http.auth import identify_cached
from server.http.errors import change_not_audited, response_for_error
from server.http.rate_limit import enforce_rate_limit, identify_within_failure_budget
from server.http.request_id import begin_request
from server.http.request_metrics import observe_request
from server.http.response_headers import add_response_headers
from server.http.routes import spec_of
from server.keys import SETTINGS
from server.services.tokens import NotCached, Principal
from server.storage.audit_writer import AuditWriteFailed


def request_pipeline(app: web.Application) -> Middleware:
    """The one middleware of `app`. Bound to it so the stages reach its services directly, not through each
    request (a request finds its application through two properties)."""

    @web.middleware
    async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = perf_counter()
        context = begin_request(request)
        try:
            route = context.route = spec_of(handler)
            access = route.access if route is not None else None
            principal: Principal | None = None
            # No route: its 404 is still audited as the caller's. A token on a public route counts against the
            # token's budget, not the address's that anonymous callers (and other tokens behind one NAT) share.
            # A scrape's Authorization carries the metrics token, no API token: never looked up, never a failure.
            if (
                access is None
                or isinstance(access, Bearer)
                or ("Authorization" in request.headers and not isinstance(access, MetricsToken))
            ):
                cached = identify_cached(app, request, context)
                if isinstance(cached, NotCached):  # a database lookup: only while the address has failures left
                    principal = await identify_within_failure_budget(app, request, context)
                else:
                    principal = cached
            enforce_rate_limit(app, request, context, principal)
            try:
                authorize(app, request, access, principal)
                _refuse_declared_oversize(request)
                response = await handler(request)
            except Exception as exc:
                committed = record_failure(app, request, context, exc)
                if committed is not None:
                    await committed
                raise
            committed = record_response(app, request, context, response.status)
            if committed is not None:
                try:
                    await committed
                except AuditWriteFailed as exc:
                    if response.status >= 400:  # refused: nothing was changed, the audit's own error stands
                        raise
                    raise change_not_audited(request, exc) from exc
        except web.HTTPException as exc:
            if exc.status >= 400:
                response = response_for_error(request, exc)
                if isinstance(exc, _DeclaredOversize):
                    # Connection: close. The client is told to stop sending the body; the connection is not kept
                    # alive for another request after it. (aiohttp still reads and discards what arrives until
                    # then, for at most its lingering time of 10 s, so the client reads the 413, not a reset.)
                    response.force_close()
            else:  # a redirect: aiohttp sends the exception itself
                add_response_headers(request, context, exc)
                observe_request(app, request, context, exc.status, started)
                raise
        except Exception as exc:
            response = response_for_error(request, exc)
        if not response.prepared:  # a streamed response got its headers from prepare_stream
            add_response_headers(request, context, response)
        observe_request(app, request, context, response.status, started)
        return response

    return pipeline


class _DeclaredOversize(web.HTTPRequestEntityTooLarge):
    """A request refused for the body length it declares, before any of the body is read."""


def _refuse_declared_oversize(request: web.Request) -> None:
    """A body declared past the limit is refused (413) before the handler runs, and the answer closes the
    connection. aiohttp enforces the limit only when a handler reads the body, so a route that takes none (rotate a
    secret, delete, abort) acted on a request the server would refuse to read. Only a declared length is checked
    here: a chunked body (no Content-Length) is refused by that limit only on a route that reads it; a route that
    reads none runs and leaves it unread, as it would a body within the limit."""
    length = request.content_length
    if length is not None and length > (limit := request.app[SETTINGS].max_body_bytes):
        raise _DeclaredOversize(limit, length)
