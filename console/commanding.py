"""The two-step flow, read top to bottom, for every family: `request` a confirmation, show the ConfirmDialog, and
only on an explicit confirm call `confirm`. The control command, a runbook's dry-run-then-run, a worklist
acknowledge, a refund process-once and an asset publish are all `run_flow` with their own two callables.
Runs inside a screen's worker; it touches the network only through the callables."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from console.problems import describe
from console.widgets.confirm_dialog import ConfirmChoice, ConfirmDialog, ConfirmView
from shared.control import Command, CommandParams, CommandResult, ConfirmationPlan
from shared.errors import Conflict, Gone, OpsClientError

if TYPE_CHECKING:
    from console.app import OpsConsole

T = TypeVar("T")
"""What `confirm` needs from the request step (a confirm token and the params it was issued for, say)."""
R = TypeVar("R")
"""What `confirm` returns."""

# Answers to the confirming request after which a fresh confirmation may well succeed.
RETRYABLE_CONFIRM_CODES = frozenset({"confirm_token_expired", "confirm_token_stale", "confirm_token_used"})


@dataclass(frozen=True)
class Prepared(Generic[T]):
    """The request step's answer: what the dialog shows, and what the confirm step will need."""

    view: ConfirmView
    ticket: T


Request = Callable[[str | None], Awaitable[Prepared[T]]]
"""The first step, given the reason the operator set (None: none)."""
Confirm = Callable[[T], Awaitable[R]]
"""The second step, given the ticket of the confirmation the operator confirmed."""


def may_retry(exc: OpsClientError) -> bool:
    """A refused confirmation that a fresh request may well turn into a success (expired, stale, used)."""
    return isinstance(exc, Gone | Conflict) and exc.code in RETRYABLE_CONFIRM_CODES


async def run_flow(
    app: "OpsConsole",
    *,
    title: str,
    request: Request[T],
    confirm: Confirm[T, R],
    retryable: Callable[[OpsClientError], bool] = may_retry,
    reason: str | None = None,
) -> R | None:
    """Request, show, confirm; again when the confirmation expired, went stale or the reason changed. Returns what
    `confirm` returned, or None when the operator cancelled or the server refused (the app has said why).
    `reason`: the reason to request with first; the operator may change it with `e` when the view asks for one."""
    prepared: Prepared[T] | None = None
    problem: str | None = None  # why the server would not carry out the last confirmation
    while True:
        if prepared is None:
            try:
                prepared = await request(reason)
            except OpsClientError as exc:
                app.show_problem(exc, title=title)
                return None
        # After a refused confirmation the dialog shows why and offers only a new request (or a new reason).
        dialog = ConfirmDialog(prepared.view, clock=app.clock, problem=problem)
        choice = await app.push_screen_wait(dialog)
        problem = None
        match choice:
            case ConfirmChoice.AMEND:
                reason, prepared = dialog.reason, None
                continue
            case ConfirmChoice.REREQUEST:
                prepared = None
                continue
            case ConfirmChoice.CONFIRM:
                pass
            case _:
                app.say(f"{title}: cancelled; nothing was done.")
                return None
        try:
            return await confirm(prepared.ticket)
        except OpsClientError as exc:
            if not retryable(exc):
                app.show_problem(exc, title=title)
                return None
            problem = describe(exc)


@dataclass(frozen=True)
class _CommandTicket:
    confirm_token: str
    params: CommandParams


async def run_confirmed(
    app: "OpsConsole", command: Command, component: str, params: CommandParams | None = None
) -> CommandResult | None:
    """Run `command` on `component` through the ConfirmDialog. Returns the server's result, or None when the
    operator cancelled or the server refused (the reason is in the status line)."""
    control = app.client.control
    base = params or CommandParams()

    async def request(reason: str | None) -> Prepared[_CommandTicket]:
        # The reason is bound into the confirm token, so a changed reason means a new first step.
        bound = base.model_copy(update={"reason": reason})
        required = await control.request_command(command, component, bound)
        return Prepared(command_view(required.plan, required.expires_in), _CommandTicket(required.confirm_token, bound))

    async def confirm(ticket: _CommandTicket) -> CommandResult:
        executed = await control.confirm_command(command, component, ticket.confirm_token, ticket.params)
        return executed.result

    return await run_flow(app, title=f"{command} {component}", request=request, confirm=confirm, reason=base.reason)


def command_view(plan: ConfirmationPlan, expires_in: int) -> ConfirmView:
    """The dialog of a control command: exactly what the confirm token will execute."""
    params = plan.params.model_dump(exclude_none=True)
    return ConfirmView(
        title=f"Confirm: {plan.command} {plan.component}",
        rows=(
            ("Command", plan.command),
            ("Component", plan.component),
            ("Params", ", ".join(f"{k}={v}" for k, v in params.items()) or "none"),
            ("Current state", plan.current_state),
            ("Mode", plan.mode),
            ("Summary", plan.summary),
        ),
        expires_in=expires_in,
        asks_reason=True,
        reason=plan.params.reason,
    )
