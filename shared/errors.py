"""Typed errors the client raises, one per way a request can fail."""

from typing import Any


class OpsClientError(Exception):
    """Base of every client error. `code` is the server's machine-readable error, `detail` its explanation (a
    string, or None), `body` the whole error body as a dict (e.g. `errors` of a validation failure, `sections` of
    an unknown runbook section; empty when the answer had no JSON object)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        body: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail
        self.body: dict[str, Any] = body if body is not None else {}


class ServerUnavailable(OpsClientError):
    """The server could not be reached, or answered 502/503/504 (a gateway, or the server's own dependency failure):
    try again later."""


class ServerError(OpsClientError):
    """500 or another 5xx that is not 502/503/504: the server is up but failed this request (e.g.
    `data_corrupted`). Retrying the connection will not help; show the server's `detail`."""


class InvalidRequest(OpsClientError):
    """400/413/422: the request itself is wrong."""


class Unauthorized(OpsClientError):
    """401: missing or invalid token."""


class Forbidden(OpsClientError):
    """403: the token lacks the scope, or the confirm token belongs to someone else."""


class NotFound(OpsClientError):
    """404."""


class Conflict(OpsClientError):
    """409: the system's state does not allow this (refused command, used or mismatched token, stale state)."""


class ConfirmationExpired(OpsClientError):
    """410: the confirm token expired; request a new one."""


class RateLimited(OpsClientError):
    """429: slow down; `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ControllerUnavailable(OpsClientError):
    """501: the server has no controller bound; commands are disabled."""


ERRORS_BY_STATUS: dict[int, type[OpsClientError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: ConfirmationExpired,
    413: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
    501: ControllerUnavailable,
    502: ServerUnavailable,
    503: ServerUnavailable,
    504: ServerUnavailable,
}
