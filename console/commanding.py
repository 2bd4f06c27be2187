"""The two-step command flow, read top to bottom: request a confirm token, show the ConfirmDialog, and only on an
explicit confirm send the second request. Runs inside a screen's worker; it never touches the network otherwise."""

from typing import TYPE_CHECKING

from console.messages import ConnectionLost
from console.widgets.confirm_dialog import ConfirmChoice, ConfirmDialog
from shared.control import Command, CommandParams, CommandResult
from shared.errors import (
    ConfirmationExpired,
    Conflict,
    ControllerUnavailable,
    Forbidden,
    OpsClientError,
    RateLimited,
    ServerError,
    ServerUnavailable,
)

if TYPE_CHECKING:
    from console.app import OpsConsole

# Answers to the confirming request after which a fresh confirmation may well succeed.
RETRYABLE_CONFIRM_CODES = frozenset({"confirm_token_expired", "confirm_token_stale", "confirm_token_used"})


async def run_confirmed(
    app: "OpsConsole", command: Command, component: str, params: CommandParams | None = None
) -> CommandResult | None:
    """Run `command` on `component` through the ConfirmDialog. Returns the server's result, or None when the
    operator cancelled or the server refused (the reason is shown as a notification)."""
    client = app.client
    title = f"{command} {component}"
    required = None
    problem: str | None = None  # why the server would not execute the last confirmation
    while True:
        if problem is None or required is None:
            try:
                required = await client.request_command(command, component, params)
            except OpsClientError as exc:
                report_error(app, exc, title)
                return None
        # After a refused confirmation the dialog shows why and offers only a new request (or a new reason).
        dialog = ConfirmDialog(required.plan, 0 if problem else required.expires_in, clock=app.clock, problem=problem)
        choice = await app.push_screen_wait(dialog)
        problem = None
        if choice is ConfirmChoice.AMEND:
            params = CommandParams(reason=dialog.reason)
            continue
        if choice is ConfirmChoice.REREQUEST:
            continue
        if choice is not ConfirmChoice.CONFIRM:
            app.notify("Cancelled; nothing was executed.", title=title)
            return None
        try:
            executed = await client.confirm_command(command, component, required.confirm_token, params)
        except (ConfirmationExpired, Conflict) as exc:
            if exc.code not in RETRYABLE_CONFIRM_CODES:
                report_error(app, exc, title)
                return None
            problem = f"Server: {exc.code} — {exc.detail or exc}"
            continue
        except OpsClientError as exc:
            report_error(app, exc, title)
            return None
        return executed.result


def report_error(app: "OpsConsole", exc: OpsClientError, title: str) -> None:
    """Tell the operator, in the server's words, why a request did not do what they asked."""
    detail = exc.detail if exc.detail else str(exc)
    match exc:
        case ServerUnavailable():
            app.post_message(ConnectionLost(str(exc)))
            app.notify(f"Server unreachable: {exc}", title=title, severity="error")
        case ServerError():
            app.notify(f"Server error ({exc.code or exc.status}): {detail}", title=title, severity="error", timeout=10)
        case Conflict():
            app.notify(f"Refused ({exc.code}): {detail}", title=title, severity="error", timeout=10)
        case Forbidden():
            app.notify(f"Not allowed ({exc.code}): {detail}", title=title, severity="error", timeout=10)
        case ControllerUnavailable():
            app.notify(f"Commands are disabled on this server: {detail}", title=title, severity="error")
        case RateLimited():
            wait = f" Retry in {exc.retry_after:.0f} s." if exc.retry_after else ""
            app.notify(f"Rate limited.{wait}", title=title, severity="warning")
        case _:
            app.notify(f"{exc.code or 'error'}: {detail}", title=title, severity="error", timeout=10)
