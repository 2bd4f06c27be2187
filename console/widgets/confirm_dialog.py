"""ConfirmDialog: the second step of every state-changing command. It shows exactly what the confirm token will
execute and how long it stays valid; only an explicit confirm (y, or enter on Confirm) lets the caller send it."""

import math
import time
from collections.abc import Callable
from enum import StrEnum

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from console.widgets.reason_prompt import ReasonPrompt
from shared.control import ConfirmationPlan

# The countdown turns to the warning colour for its last seconds.
SOON_SECONDS = 10


class ConfirmChoice(StrEnum):
    """How the dialog was left. More than a bool: an expired confirmation can be requested again."""

    CONFIRM = "confirm"
    CANCEL = "cancel"
    REREQUEST = "rerequest"
    AMEND = "amend"  # the operator changed the reason: the token is bound to the old params, so request anew


class ConfirmDialog(ModalScreen[ConfirmChoice]):
    BINDINGS = [
        Binding("y", "confirm", "Confirm", id="confirm"),
        Binding("n", "cancel", "Cancel", id="cancel"),
        Binding("escape", "cancel", "Cancel", show=False, id="cancel.escape"),
        Binding("r", "rerequest", "Request again", id="rerequest"),
        Binding("e", "reason", "Reason", id="reason"),
    ]

    remaining: reactive[int] = reactive(0)
    """Whole seconds until the confirm token expires."""
    expired: reactive[bool] = reactive(False)

    def __init__(
        self,
        plan: ConfirmationPlan,
        expires_in: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        problem: str | None = None,
    ) -> None:
        """`problem`: why the server would not execute an earlier confirmation; only a re-request is offered."""
        super().__init__()
        self.plan = plan
        self.problem = problem
        # What the operator wants the reason to be; differs from the plan's after an AMEND.
        self.reason = plan.params.reason
        self._clock = clock
        self._deadline = clock() + expires_in
        self.set_reactive(ConfirmDialog.remaining, max(0, expires_in))
        self.set_reactive(ConfirmDialog.expired, problem is not None or expires_in <= 0)
        self._countdown = Static(id="countdown")
        self._confirm = Button("Confirm (y)", variant="error", id="confirm")
        self._rerequest = Button("Request again (r)", variant="warning", id="rerequest")
        self._cancel = Button("Cancel (n)", id="cancel")

    def compose(self) -> ComposeResult:
        plan = self.plan
        params = plan.params.model_dump(exclude_none=True)
        rows = [
            ("Command", plan.command),
            ("Component", plan.component),
            ("Params", ", ".join(f"{k}={v}" for k, v in params.items()) or "none"),
            ("Current state", plan.current_state),
            ("Mode", plan.mode),
            ("Summary", plan.summary),
        ]
        with Vertical(id="dialog"):
            yield Label(f"Confirm: {plan.command} {plan.component}", id="dialog-title")
            with Grid(id="plan"):
                for name, value in rows:
                    yield Label(name, classes="plan-key")
                    yield Label(value, classes="plan-value", markup=False)
            yield self._countdown
            if self.problem is not None:
                yield Static(self.problem, id="problem", markup=False)
            with Horizontal(id="buttons"):
                yield self._confirm
                yield self._rerequest
                yield self._cancel
        yield Footer()

    def on_mount(self) -> None:
        self._show_state()
        # Safe default: enter cancels unless the operator moved to Confirm on purpose.
        self._cancel.focus()
        self.set_interval(0.25, self._tick)

    def _tick(self) -> None:
        if self.expired:
            return
        left = self._deadline - self._clock()
        self.remaining = max(0, math.ceil(left))
        if left <= 0:
            self.expired = True

    def watch_remaining(self) -> None:
        if self.is_mounted:
            self._show_state()

    def watch_expired(self) -> None:
        if self.is_mounted:
            self._show_state()
            self.refresh_bindings()

    def _show_state(self) -> None:
        countdown = self._countdown
        if self.problem is not None:
            countdown.update("The server did not execute this confirmation.")
        elif self.expired:
            countdown.update("Expired: r requests a new confirmation, n cancels.")
        else:
            countdown.update(f"Expires in {self.remaining} s — y confirms, n cancels.")
        countdown.set_class(self.expired, "-expired")
        countdown.set_class(not self.expired and self.remaining <= SOON_SECONDS, "-soon")
        self._confirm.display = not self.expired
        self._rerequest.display = self.expired
        if self.expired and self.focused is self._confirm:
            self._cancel.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            return not self.expired
        if action == "rerequest":
            return self.expired
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        match event.button.id:
            case "confirm":
                self.action_confirm()
            case "rerequest":
                self.action_rerequest()
            case _:
                self.action_cancel()

    def action_confirm(self) -> None:
        # Re-check the clock: a key pressed between two ticks must not confirm an expired token.
        self._tick()
        if not self.expired:
            self.dismiss(ConfirmChoice.CONFIRM)

    def action_cancel(self) -> None:
        self.dismiss(ConfirmChoice.CANCEL)

    def action_rerequest(self) -> None:
        if self.expired:
            self.dismiss(ConfirmChoice.REREQUEST)

    def action_reason(self) -> None:
        def amend(reason: str | None) -> None:
            if reason is not None and reason != (self.plan.params.reason or ""):
                self.reason = reason or None
                self.dismiss(ConfirmChoice.AMEND)

        self.app.push_screen(ReasonPrompt(self.plan.params.reason), amend)
