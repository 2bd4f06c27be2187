"""Headers every response carries, errors included: set just before the response goes out."""

from aiohttp import hdrs, web
from multidict import istr

from server.http.context import find_context
from server.http.request_id import HEADER as REQUEST_ID_HEADER

# istr names: the header map takes them without folding case again on every response.
_REQUEST_ID = istr(REQUEST_ID_HEADER)
_LIMIT = istr("X-RateLimit-Limit")
_REMAINING = istr("X-RateLimit-Remaining")
_RESET = istr("X-RateLimit-Reset")


async def add_response_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers[hdrs.X_CONTENT_TYPE_OPTIONS] = "nosniff"
    context = find_context(request)
    if context is None:  # aiohttp answered before any middleware ran (a malformed request)
        if hdrs.AUTHORIZATION in request.headers:
            headers[hdrs.CACHE_CONTROL] = "no-store"
        return
    headers[_REQUEST_ID] = context.request_id
    if context.principal is not None or hdrs.AUTHORIZATION in request.headers:
        # Authenticated answers are about one caller's view of the system: no cache may keep them.
        headers[hdrs.CACHE_CONTROL] = "no-store"
    limit = context.rate_limit
    if limit is not None:
        headers[_LIMIT] = str(limit.limit)
        headers[_REMAINING] = str(limit.remaining)
        headers[_RESET] = str(limit.reset)
