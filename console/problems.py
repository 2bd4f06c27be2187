"""One place that turns a client error into the sentence an operator reads. Messages say what happened in words:
no exception class names, no internal codes (the server's own `detail` is already written for people). `read` is the
one way a screen's reader reports a failed request."""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar, cast

from textual.widget import Widget

from console.messages import ConnectionAlive
from shared.errors import (
    Conflict,
    Forbidden,
    Gone,
    InvalidRequest,
    NotFound,
    NotImplementedByServer,
    OpsClientError,
    RateLimited,
    ServerError,
    ServerUnavailable,
    Unauthorized,
)
from shared.scopes import Scope

if TYPE_CHECKING:
    from console.app import OpsConsole

T = TypeVar("T")

CONNECTION_ERRORS = (ServerUnavailable, RateLimited, Unauthorized)
"""Errors about the connection rather than this request: the app's connection monitor shows them."""

CODE_SENTENCES: dict[str, str] = {
    "confirm_token_expired": "The confirmation expired before it was sent; ask for a new one.",
    "confirm_token_stale": "The system changed since this confirmation was issued; ask for a new one.",
    "confirm_token_used": "This confirmation was already used; ask for a new one.",
    "confirm_token_mismatch": "This confirmation was issued for a different command.",
    "confirm_token_principal_mismatch": "This confirmation belongs to another token.",
    "confirm_token_invalid": "The server does not know this confirmation.",
    "insufficient_scope": "This token is not allowed to do that.",
    "invalid_token": "The server refused the token.",
    "unknown_component": "The server does not know that component.",
}
"""Codes whose meaning is worth a fixed sentence (it says what to do, which a server's detail may not)."""

REFUSED_CODES = frozenset({"command_refused"})
"""Codes whose `detail` is the whole story (the plant says why it refused)."""


def describe(exc: OpsClientError) -> str:
    """What went wrong, in words an operator can act on."""
    detail = (exc.detail or "").strip()
    code = exc.code or ""
    match exc:
        case ServerUnavailable():
            return "The server cannot be reached; the console keeps retrying."
        case Unauthorized():
            return "Unauthorized — check --token or OPS_API_TOKEN."
        case RateLimited():
            wait = f" Retry in {exc.retry_after:.0f} s." if exc.retry_after else ""
            return f"Too many requests for this token; the server asks the console to slow down.{wait}"
        case NotImplementedByServer():
            return _join("This server does not offer that (commands may be disabled).", detail)
        case ServerError():
            return _join("The server failed this request.", detail)
    if code in REFUSED_CODES and detail:
        return f"Refused: {detail}"
    if code in CODE_SENTENCES:
        return CODE_SENTENCES[code]
    match exc:
        case Forbidden():
            return _join("Not allowed.", detail)
        case Conflict():
            return _join("Refused.", detail)
        case Gone():
            return _join("No longer valid.", detail)
        case NotFound():
            return _join("Not found.", detail)
        case InvalidRequest():
            fields = "; ".join(str(error) for error in exc.errors)
            return _join("The server rejected the request.", fields or detail)
    return detail or "The request failed."


async def read(reader: Widget, call: Awaitable[T], *, title: str, on_problem: Callable[[str], None]) -> T | None:
    """The answer to `call`, or None once its failure is reported: a connection failure by the app (under `title`),
    any other failure by `on_problem`, in words, for the reader to show in place. An answer tells the app's
    connection monitor the server is alive; clearing the reader's shown problem is left to the caller."""
    try:
        answer = await call
    except CONNECTION_ERRORS as exc:
        cast("OpsConsole", reader.app).show_problem(exc, title=title)
        return None
    except OpsClientError as exc:
        on_problem(describe(exc))
        return None
    reader.post_message(ConnectionAlive())
    return answer


def missing_scope(scope: Scope, what: str = "commands") -> str:
    """Why a key did nothing: `read-only token: commands need ops:command`."""
    if scope.value.endswith(":read"):
        return f"this token lacks {scope.value}: {what} is hidden"
    return f"read-only token: {what} need {scope.value}"


def _join(sentence: str, detail: str) -> str:
    if not detail or detail.rstrip(".").lower() in sentence.lower():
        return sentence
    return f"{sentence} {detail}"
