"""Typed errors the client raises, one per way a request can fail."""

from typing import Any


class OpsClientError(Exception):
    """Base of every client error. `code` is the server's machine-readable error, `detail` its explanation."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, detail: Any = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail


class ServerUnavailable(OpsClientError):
    """The server could not be reached, or answered 5xx."""


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
}
