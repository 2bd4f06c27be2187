"""Domain errors. Services raise these; the request pipeline's errors stage hands each to the envelope of the
route's family, which decides its status and body."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal


class OpsError(Exception):
    """`detail` is a sentence for people; `code` a machine-readable name (`confirm_token_expired`); `extra` any
    structured detail beside the sentence (the sections there are). A mapping given as `detail` is read as its
    "message" plus extra keys."""

    status = 500
    code = "internal_error"

    def __init__(
        self,
        detail: str | Mapping[str, Any] | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        structured: dict[str, Any] = dict(extra or {})
        if isinstance(detail, Mapping):
            structured = {**{k: v for k, v in detail.items() if k != "message"}, **structured}
            message = detail.get("message")
            detail = message if isinstance(message, str) else None
        if code is not None:
            self.code = code
        super().__init__(detail or self.code)
        self.detail: str | None = detail
        self.extra: dict[str, Any] = structured
        self.headers: dict[str, str] = headers or {}


class InvalidRequest(OpsError):
    status = 400
    code = "invalid_request"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid part of a request: where it is (`source`, then the path inside it, empty for the whole
    body or query), what is wrong with it, and pydantic's name for that (`missing`, `string_too_long`)."""

    source: Literal["body", "query", "path"]
    loc: tuple[str | int, ...]
    msg: str
    type: str

    @property
    def dotted(self) -> str:
        """`params.reason`; the source for an error about the whole of it."""
        return ".".join(str(part) for part in self.loc) or self.source

    def __str__(self) -> str:
        return f"{self.dotted}: {self.msg}" if self.loc else self.msg


class ValidationFailed(InvalidRequest):
    """A body, query or path that failed validation, listing every invalid field. The family's envelope decides
    the status (400 in the control family, 422 where the contract follows FastAPI)."""

    code = "validation_failed"

    def __init__(self, errors: Sequence[FieldError], *, code: str | None = None) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors) or "the request is not valid", code=code)


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


class UnsupportedMediaType(OpsError):
    status = 415
    code = "unsupported_media_type"


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
