"""ReasonPrompt: asks the operator why they run a command. The reason travels in the command's params, so the
server binds it into the confirm token and records it in the audit trail with the command."""

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from shared.control import REASON_MAX_LENGTH


class ReasonPrompt(ModalScreen[str | None]):
    """Dismisses with the reason typed (an empty one clears it), or None when the operator backs out."""

    BINDINGS = [Binding("escape", "cancel", "Keep the reason", id="cancel")]

    def __init__(self, current: str | None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="reason-dialog"):
            yield Label("Reason for this command", id="reason-title")
            yield Input(
                value=self.current or "",
                placeholder="e.g. maintenance window, ticket OPS-123",
                max_length=REASON_MAX_LENGTH,
                id="reason",
            )
            yield Static(
                "Recorded in the audit trail with the command.\nenter saves, escape keeps the reason as it was."
            )
        yield Footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
