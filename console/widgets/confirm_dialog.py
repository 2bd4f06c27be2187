"""ConfirmDialog: the second step of every state-changing action. It shows a `ConfirmView` — exactly what will run,
how long the confirmation stays valid, an optional reason and an optional preview (a dry run's log) — and only an
explicit confirm (y, or enter on Confirm) lets the caller send it."""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from console.widgets.reason_prompt import COMMAND_REASON, ReasonPrompt, ReasonWording

# The countdown turns to the warning colour for its last seconds.
SOON_SECONDS = 10


@dataclass(frozen=True)
class ConfirmView:
    """What the dialog shows. `expires_in`: seconds the confirmation stays valid (None: no countdown).
    `asks_reason`: offer `e` to set a reason; `reason` is the one this confirmation was issued with;
    `reason_wording`: how `e` and its prompt name it (a command's reason, a decision's comment).
    `preview`: a body shown under the rows, e.g. a runbook's dry-run log."""

    title: str
    rows: tuple[tuple[str, str], ...]
    expires_in: int | None = None
    asks_reason: bool = False
    reason: str | None = None
    preview: str | None = None
    reason_wording: ReasonWording = COMMAND_REASON


class ConfirmChoice(StrEnum):
    """How the dialog was left. More than a bool: an expired confirmation can be requested again."""

    CONFIRM = "confirm"
    CANCEL = "cancel"
    REREQUEST = "rerequest"
    AMEND = "amend"  # the operator changed the reason: a confirmation is bound to its reason, so request anew


class ConfirmDialog(ModalScreen[ConfirmChoice]):
    BINDINGS = [
        Binding("y", "confirm", "Confirm", id="confirm"),
        Binding("n", "cancel", "Cancel", id="cancel"),
        Binding("escape", "cancel", "Cancel", show=False, id="cancel.escape"),
        Binding("r", "rerequest", "Request again", id="rerequest"),
        Binding("e", "reason", "Reason", id="reason"),
        # `e` labelled for a view that asks for a comment. A comment is the decision's reason: one row in the help.
        Binding("e", "comment", "Comment", tooltip="Reason", id="comment"),
        # A modal screen hides the app's keys: help must be bound here too.
        Binding("question_mark", "app.help", "Help", key_display="?", id="confirm.help"),
    ]

    remaining: reactive[int] = reactive(0)
    """Whole seconds until the confirmation expires."""
    expired: reactive[bool] = reactive(False)

    def __init__(
        self,
        view: ConfirmView,
        *,
        clock: Callable[[], float] = time.monotonic,
        problem: str | None = None,
    ) -> None:
        """`problem`: why an earlier confirmation was not carried out; only a new request is offered."""
        super().__init__()
        self.view = view
        self.problem = problem
        # What the operator wants the reason to be; differs from the view's after an AMEND.
        self.reason = view.reason
        self._clock = clock
        expires_in = view.expires_in
        self._deadline = None if expires_in is None else clock() + expires_in
        self.set_reactive(ConfirmDialog.remaining, max(0, expires_in or 0))
        self.set_reactive(ConfirmDialog.expired, problem is not None or (expires_in is not None and expires_in <= 0))
        self._countdown = Static(id="countdown")
        self._confirm = Button("Confirm (y)", variant="error", id="confirm")
        self._rerequest = Button("Request again (r)", variant="warning", id="rerequest")
        self._cancel = Button("Cancel (n)", id="cancel")
        self._left = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.view.title, id="dialog-title", markup=False)
            with Grid(id="plan"):
                for name, value in self.view.rows:
                    yield Label(name, classes="plan-key", markup=False)
                    yield Label(value, classes="plan-value", markup=False)
            if self.view.preview is not None:
                with VerticalScroll(id="preview"):
                    yield Static(self.view.preview, markup=False)
            yield self._countdown
            if self.problem is not None:
                yield Static(self.problem, id="problem", markup=False)
            with Horizontal(id="buttons"):
                yield self._confirm
                yield self._rerequest
                yield self._cancel
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._show_state()
        # Safe default: enter cancels unless the operator moved to Confirm on purpose.
        self._cancel.focus()
        if self._deadline is not None:
            self.set_interval(0.25, self._tick)

    def _tick(self) -> None:
        if self.expired or self._deadline is None:
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
            countdown.update("This confirmation was not carried out: r asks for a new one, n cancels.")
        elif self.expired:
            countdown.update("Expired: r requests a new confirmation, n cancels.")
        elif self._deadline is None:
            countdown.update("y confirms, n cancels.")
        else:
            countdown.update(f"Expires in {self.remaining} s — y confirms, n cancels.")
        countdown.set_class(self.expired, "-expired")
        countdown.set_class(self._deadline is not None and not self.expired and self.remaining <= SOON_SECONDS, "-soon")
        self._confirm.display = not self.expired
        self._rerequest.display = self.expired
        if self.expired and self.focused is self._confirm:
            self._cancel.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            return not self.expired
        if action == "rerequest":
            return self.expired
        if action == "reason":
            return self.view.asks_reason and self.view.reason_wording.kind == "reason"
        if action == "comment":
            return self.view.asks_reason and self.view.reason_wording.kind == "comment"
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
        # Re-check the clock: a key pressed between two ticks must not confirm an expired confirmation.
        self._tick()
        if not self.expired:
            self._leave(ConfirmChoice.CONFIRM)

    def action_cancel(self) -> None:
        self._leave(ConfirmChoice.CANCEL)

    def action_rerequest(self) -> None:
        if self.expired:
            self._leave(ConfirmChoice.REREQUEST)

    def _leave(self, choice: ConfirmChoice) -> None:
        """Dismiss once. A key and a button press queued together (enter on Cancel, then n) would otherwise dismiss
        twice, and dismissing pops whatever screen is on top by then."""
        if not self._left:
            self._left = True
            self.dismiss(choice)

    def action_reason(self) -> None:
        if not self.view.asks_reason:
            return

        def amend(reason: str | None) -> None:
            if reason is not None and reason != (self.view.reason or ""):
                self.reason = reason or None
                self._leave(ConfirmChoice.AMEND)

        self.app.push_screen(ReasonPrompt(self.view.reason, self.view.reason_wording), amend)

    def action_comment(self) -> None:
        self.action_reason()
