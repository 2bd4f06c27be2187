"""One place turns client errors into what the operator reads: sentences, no class names or internal codes; and
what it shows does not pile up over the table."""

from collections.abc import Callable

import pytest
from console_harness import ConsoleUnderTest, status_line_text, wait_until

from console.app import MAX_TOASTS
from console.connection import ConnectionState
from console.problems import describe, missing_scope
from shared.errors import (
    Conflict,
    FieldError,
    Forbidden,
    Gone,
    InvalidRequest,
    NotImplementedByServer,
    OpsClientError,
    RateLimited,
    ServerError,
    ServerUnavailable,
    Unauthorized,
)
from shared.scopes import Scope


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ServerUnavailable("ConnectError: all attempts failed"),
            "The server cannot be reached; the console keeps retrying.",
        ),
        (Unauthorized("401", status=401, code="invalid_token"), "Unauthorized — check --token or OPS_API_TOKEN."),
        (
            RateLimited("429", status=429, retry_after=12),
            "Too many requests for this token; the server asks the console to slow down. Retry in 12 s.",
        ),
        (
            Gone("410", status=410, code="confirm_token_expired", detail="token expired at 12:00"),
            "The confirmation expired before it was sent; ask for a new one.",
        ),
        (
            Conflict("409", status=409, code="confirm_token_stale", detail="x"),
            "The system changed since this confirmation was issued; ask for a new one.",
        ),
        (
            Conflict(
                "409", status=409, code="command_refused", detail="database is needed while live with open positions"
            ),
            "Refused: database is needed while live with open positions",
        ),
        (
            Forbidden("403", status=403, code="insufficient_scope", detail="token 'r' lacks the scope 'ops:command'"),
            "This token is not allowed to do that.",
        ),
        (
            NotImplementedByServer("501", status=501, code="controller_unavailable", detail="no controller"),
            "This server does not offer that (commands may be disabled). no controller",
        ),
        (
            ServerError("500", status=500, code="data_corrupted", detail="audit chain broken at entry 7"),
            "The server failed this request. audit chain broken at entry 7",
        ),
        (
            InvalidRequest("422", status=422, errors=[FieldError("params.reason", "too long")]),
            "The server rejected the request. params.reason: too long",
        ),
        (Conflict("409", status=409, code="some_new_code", detail="the thing is busy"), "Refused. the thing is busy"),
        (OpsClientError("weird"), "The request failed."),
    ],
)
def test_errors_are_said_in_words(error: OpsClientError, expected: str) -> None:
    text = describe(error)
    assert text == expected
    for internal in ("Error", "_token_", "command_refused", "insufficient_scope", "data_corrupted"):
        assert internal not in text


def test_missing_scopes_are_said_plainly() -> None:
    assert missing_scope(Scope.OPS_COMMAND) == "read-only token: commands need ops:command"
    assert missing_scope(Scope.RUNBOOKS_READ, "the Runbooks screen") == (
        "this token lacks runbooks:read: the Runbooks screen is hidden"
    )


async def test_show_problem_sets_the_status_line_and_a_short_toast(
    make_console: Callable[..., ConsoleUnderTest],
) -> None:
    console = make_console()
    app = console.app
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")
        app.show_problem(Conflict("409", status=409, code="command_refused", detail="not now"), title="stop database")
        await pilot.pause()
        assert status_line_text(app) == "stop database: Refused: not now"
        assert console.notifications == ["stop database: Refused: not now"]
        assert all(n.timeout <= 5 for n in app._notifications)


async def test_an_unreachable_server_reported_by_a_screen_starts_reconnecting(
    make_console: Callable[..., ConsoleUnderTest],
) -> None:
    console = make_console()
    app = console.app
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")
        app.show_problem(ServerUnavailable("ConnectError"), title="Audit")
        await wait_until(pilot, lambda: app.connection is not ConnectionState.CONNECTED, what="reconnecting")


async def test_toasts_do_not_pile_up(make_console: Callable[..., ConsoleUnderTest]) -> None:
    console = make_console()
    app = console.app
    async with app.run_test(size=(80, 24)) as pilot:
        for n in range(8):
            app.notify(f"note {n}")
        await pilot.pause()
        shown = [notification.message for notification in app._notifications]
        assert shown == [f"note {n}" for n in range(8 - MAX_TOASTS, 8)]
