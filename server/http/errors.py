"""The errors stage: turns what handling a request raised into the answer, in the envelope of the route's family
(server/http/envelopes.py decides its status and body). Nothing else writes an error body, and no traceback
ever reaches a client."""

import logging

from aiohttp import web

from server.errors import (
    DependencyFailure,
    MethodNotAllowed,
    NotFound,
    OpsError,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from server.http.envelopes import envelope_for
from server.http.request_id import request_id_of
from server.keys import SETTINGS
from server.storage.audit_writer import audit_write_busy

# How long a client is told to wait after the database was busy: about one busy timeout.
BUSY_RETRY_AFTER_SECONDS = 5

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
    busy = busy_error(exc)
    if busy is not None:
        # Another connection holds the database's write lock (a backup, an operator's sqlite3 shell): this
        # write (or its audit entry) was not made and may be tried again shortly. A dependency failed, not we.
        log.warning(
            "database busy in %s %s (request %s): %s", request.method, request.path, request_id_of(request), exc
        )
        return busy
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


class ChangeNotAudited(OpsError):
    """The change a request asked for was made, but the audit entry of its outcome could not be committed."""

    code = "change_not_audited"


def change_not_audited(request: web.Request, exc: Exception) -> ChangeNotAudited:
    """The answer when the audit entry that follows a completed change fails (`exc`): never "try again" (a busy
    database's 503 would invite a retry of an action that already happened), but a 500 saying the change was made.
    Logged here, with the traceback."""
    log.error(
        "the change of %s %s (request %s) was made but its audit entry was not written",
        request.method,
        request.path,
        request_id_of(request),
        exc_info=exc,
    )
    return ChangeNotAudited(
        "the change was made, but its audit entry could not be written; do not repeat it "
        f"(quote request id {request_id_of(request)})"
    )


# The audit writer's process reports what failed as text: "<exception type>: <message>".
def busy_error(exc: BaseException) -> DependencyFailure | None:
    """The 503 (with Retry-After) for a busy database — raised by a write itself, or by an audit entry (made before
    any change) that the answer waited on — else None. Not logged: the caller does that, once."""
    if audit_write_busy(exc):
        return DependencyFailure(
            "the database is busy (locked by another connection); try again shortly",
            code="database_busy",
            headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
        )
    return None
