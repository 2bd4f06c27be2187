"""The errors stage: maps domain errors and HTTP exceptions to the route family's envelope. Nothing else writes
an error body, and no traceback ever reaches a client."""

import logging

from aiohttp import web

from server.errors import OpsError
from server.http.families import error_body, family_of
from server.http.request_id import request_id_of
from server.keys import SETTINGS

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(request: web.Request, status: int, code: str, detail: object, headers=None) -> web.Response:
    body = error_body(family_of(request.path), status, code, detail)
    return web.json_response(body, status=status, headers=headers)


def response_for_error(request: web.Request, exc: Exception) -> web.Response:
    """The answer to a request whose handling raised `exc`, in its family's envelope. An unexpected error is
    logged with its traceback here and answered with the request id to quote, never the traceback."""
    if isinstance(exc, OpsError):
        return error_response(request, exc.status, exc.code, exc.detail, exc.headers)
    if isinstance(exc, web.HTTPException):
        detail = _http_detail(request, exc)
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(request, exc.status, _HTTP_CODES.get(exc.status, "http_error"), detail, headers)
    log.exception(
        "unhandled error in %s %s (request %s)", request.method, request.path, request_id_of(request), exc_info=exc
    )
    return error_response(request, 500, "internal_error", f"internal error; quote request id {request_id_of(request)}")


def _http_detail(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return f"no route {request.path}"
    if exc.status == 405:
        return f"{request.method} is not allowed on {request.path}"
    if exc.status == 413:
        return f"request body is larger than the limit of {request.app[SETTINGS].max_body_bytes} bytes"
    return exc.reason
