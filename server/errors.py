"""Domain errors. Services raise these; the request pipeline's errors stage maps each to a status and the route
family's envelope."""

from typing import Any


class OpsError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, detail: Any = None, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail if isinstance(detail, str) else self.code)
        self.detail = detail
        if code is not None:
            self.code = code
        self.headers = headers or {}


class InvalidRequest(OpsError):
    status = 400
    code = "invalid_request"


class ValidationFailed(InvalidRequest):
    """A body or query that failed validation; `detail` lists the invalid fields."""

    code = "validation_failed"


class Unauthorized(OpsError):
    status = 401
    code = "unauthorized"


class Forbidden(OpsError):
    status = 403
    code = "forbidden"


class NotFound(OpsError):
    status = 404
    code = "not_found"


class MethodNotAllowed(OpsError):
    status = 405
    code = "method_not_allowed"


class Conflict(OpsError):
    status = 409
    code = "conflict"


class Gone(OpsError):
    status = 410
    code = "gone"


class PayloadTooLarge(OpsError):
    status = 413
    code = "payload_too_large"


class RateLimited(OpsError):
    status = 429
    code = "rate_limited"


class DependencyFailure(OpsError):
    status = 503
    code = "dependency_failure"


class ControllerUnavailable(OpsError):
    status = 501
    code = "controller_unavailable"


class DataCorrupted(OpsError):
    """Stored data no longer reads back (tampering or disk damage): say so rather than answer wrongly."""

    status = 500
    code = "data_corrupted"
