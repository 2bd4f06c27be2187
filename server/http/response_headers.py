"""Headers every response carries, errors included: set by the pipeline on the response it returns."""

from aiohttp import hdrs, web
from multidict import istr

from server.http.context import RequestContext, find_context
from server.http.request_id import HEADER as REQUEST_ID_HEADER

# istr names: the header map takes them without folding case again on every response.
_NOSNIFF = istr(hdrs.X_CONTENT_TYPE_OPTIONS)
_CACHE_CONTROL = istr(hdrs.CACHE_CONTROL)
_AUTHORIZATION = istr(hdrs.AUTHORIZATION)
_REQUEST_ID = istr(REQUEST_ID_HEADER)
_LIMIT = istr("X-RateLimit-Limit")
_REMAINING = istr("X-RateLimit-Remaining")
_RESET = istr("X-RateLimit-Reset")
# The IETF fields (draft-ietf-httpapi-ratelimit-headers-11) beside the X- ones clients already read.
_POLICY = istr("RateLimit-Policy")
_RATELIMIT = istr("RateLimit")


def add_response_headers(request: web.Request, context: RequestContext, response: web.StreamResponse) -> None:
    """The last stage. A handler that streams (prepares its response itself) calls `prepare_stream` instead, so
    the headers go out with the first bytes."""
    headers = response.headers
    headers[_NOSNIFF] = "nosniff"
    headers[_REQUEST_ID] = context.request_id
    if context.principal is not None or _AUTHORIZATION in request.headers:
        # Authenticated answers are about one caller's view of the system: no cache may keep them.
        headers[_CACHE_CONTROL] = "no-store"
    limit = context.rate_limit
    if limit is not None:
        headers[_LIMIT], headers[_REMAINING], headers[_RESET], headers[_POLICY], headers[_RATELIMIT] = (
            limit.header_values()
        )


async def prepare_stream(request: web.Request, response: web.StreamResponse) -> None:
    """Prepare a streamed response with the headers every response carries: once its first bytes are out, the
    pipeline can no longer add them."""
    context = find_context(request)
    if context is not None:
        add_response_headers(request, context, response)
    await response.prepare(request)
