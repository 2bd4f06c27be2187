"""Typed errors the client raises, one per way a request can fail, the same for every API family: a caller
catches `NotFound` whether the control, runbooks, agent, orchestration or live family said it. What the family
said is kept on the error (`code`, `detail`, `errors`, `body`, `family`)."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One invalid field of a request, as the server listed it. `loc` is dotted (`params.reason`), empty when the
    server named no field."""

    loc: str
    msg: str
    type: str | None = None

    def __str__(self) -> str:
        return f"{self.loc}: {self.msg}" if self.loc else self.msg


class OpsClientError(Exception):
    """Base of every client error.

    `status` is the HTTP status (None when no answer came); `code` the family's machine-readable code
    (`confirm_token_expired`, `OPS_AGENT_NOT_FOUND`, an orchestration `error` code) or None; `detail` a human
    sentence or None; `errors` the invalid fields when the server listed them; `body` the whole error body as a
    dict (e.g. `sections` of an unknown runbook section; empty when the answer had no JSON object); `family` the
    API family that answered ("control", "runbooks", "agent", "orchestration", "live")."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        errors: Iterable[FieldError] = (),
        body: dict[str, Any] | None = None,
        family: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors: list[FieldError] = list(errors)
        self.body: dict[str, Any] = body if body is not None else {}
        self.family = family


class ServerUnavailable(OpsClientError):
    """The server could not be reached, or answered 502/503/504 (a gateway, or the server's own dependency failure):
    try again later."""


class ServerError(OpsClientError):
    """500 or another 5xx that is not 502/503/504: the server is up but failed this request (e.g.
    `data_corrupted`). Retrying the connection will not help; show the server's `detail`."""


class InvalidRequest(OpsClientError):
    """400/413/422: the request itself is wrong; `errors` lists the invalid fields when the server named them."""


class Unauthorized(OpsClientError):
    """401: missing or invalid token."""


class Forbidden(OpsClientError):
    """403: the token lacks the scope, or the resource (a confirm token, say) belongs to someone else."""


class NotFound(OpsClientError):
    """404."""


class Conflict(OpsClientError):
    """409: the system's state does not allow this (refused command, used or mismatched token, stale state)."""


class Gone(OpsClientError):
    """410: it existed but is no longer valid (an expired confirm token: request a new one)."""


class RateLimited(OpsClientError):
    """429: slow down; `retry_after` seconds when the server said so in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class NotImplementedByServer(OpsClientError):
    """501: this server does not offer it (e.g. it runs without a controller, so commands are disabled)."""


ERRORS_BY_STATUS: dict[int, type[OpsClientError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    413: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
    501: NotImplementedByServer,
    502: ServerUnavailable,
    503: ServerUnavailable,
    504: ServerUnavailable,
}


def error_type_for(status: int) -> type[OpsClientError]:
    """The error class of an HTTP error status: a listed one, else ServerError for 5xx, else the base class."""
    error_type = ERRORS_BY_STATUS.get(status)
    if error_type is not None:
        return error_type
    return ServerError if status >= 500 else OpsClientError
