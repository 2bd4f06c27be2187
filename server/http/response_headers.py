"""Headers every response carries, errors included: set just before the response goes out."""

from aiohttp import web

from server.http.request_id import HEADER as REQUEST_ID_HEADER


async def add_response_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if "request_id" in request:
        response.headers[REQUEST_ID_HEADER] = request["request_id"]
    if request.get("principal") is not None or "Authorization" in request.headers:
        # Authenticated answers are about one caller's view of the system: no cache may keep them.
        response.headers["Cache-Control"] = "no-store"
    limit = request.get("rate_limit")
    if limit is not None:
        response.headers["X-RateLimit-Limit"] = str(limit.limit)
        response.headers["X-RateLimit-Remaining"] = str(limit.remaining)
        response.headers["X-RateLimit-Reset"] = str(limit.reset)
