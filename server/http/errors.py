"""The errors stage: turns what handling a request raised into the answer, in the envelope of the route's family
(server/http/envelopes.py decides its status and body). Nothing else writes an error body, and no traceback
ever reaches a client."""

import logging

from aiohttp import web

from server.errors import (
    MethodNotAllowed,
    NotFound,
    OpsError,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from server.http.envelopes import envelope_for
from server.http.request_id import request_id_of
from server.keys import SETTINGS

log = logging.getLogger(__name__)


def response_for_error(request: web.Request, exc: Exception) -> web.Response:
    """The answer to a request whose handling raised `exc`. An unexpected error is logged with its traceback here
    and answered with the request id to quote, never the traceback."""
    return envelope_for(request).error(as_ops_error(request, exc))


def as_ops_error(request: web.Request, exc: Exception) -> OpsError:
    """`exc` as the domain error it stands for: aiohttp's HTTP errors (the router's 404 and 405, the body limit's
    413) by their status, anything unexpected as a 500 quoting the request id."""
    if isinstance(exc, OpsError):
        return exc
    if isinstance(exc, web.HTTPException):
        return _from_http(request, exc)
    log.exception(
        "unhandled error in %s %s (request %s)", request.method, request.path, request_id_of(request), exc_info=exc
    )
    return OpsError(f"internal error; quote request id {request_id_of(request)}")


def _from_http(request: web.Request, exc: web.HTTPException) -> OpsError:
    match exc.status:
        case 404:
            return NotFound(f"no route {request.path}")
        case 405:
            allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return MethodNotAllowed(f"{request.method} is not allowed on {request.path}", headers=allow)
        case 413:
            limit = request.app[SETTINGS].max_body_bytes
            return PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
        case 415:
            return UnsupportedMediaType(exc.reason)
    return _OtherHttpError(exc)


class _OtherHttpError(OpsError):
    """An aiohttp HTTP error with no domain twin: it keeps its status and reason."""

    def __init__(self, exc: web.HTTPException) -> None:
        super().__init__(exc.reason, code="invalid_request" if exc.status == 400 else "http_error")
        self.status = exc.status
