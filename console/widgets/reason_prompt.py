"""ReasonPrompt: asks the operator why they run a command. The reason travels in the command's params, so the
server binds it into the confirm token and records it in the audit trail with the command. The same prompt takes
the comment a decision needs (a worklist acknowledge or reject); its `ReasonWording` says which it asks for."""

from dataclasses import dataclass
from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from shared.control import REASON_MAX_LENGTH


@dataclass(frozen=True)
class ReasonWording:
    """What the prompt asks for and says happens to it. `kind` names it in the keys' labels."""

    kind: Literal["reason", "comment"] = "reason"
    title: str = "Reason for this command"
    placeholder: str = "e.g. maintenance window, ticket OPS-123"
    note: str = "Recorded in the audit trail with the command."
    max_length: int = REASON_MAX_LENGTH


COMMAND_REASON = ReasonWording()


class ReasonPrompt(ModalScreen[str | None]):
    """Dismisses with the text typed (an empty one clears it), or None when the operator backs out."""

    BINDINGS = [
        Binding("escape", "cancel", "Keep the reason", id="cancel"),
        # The same key, labelled for a comment (Textual's dynamic actions: check_action offers one of the two).
        Binding("escape", "keep_comment", "Keep the comment", id="cancel.comment"),
    ]

    def __init__(self, current: str | None, wording: ReasonWording = COMMAND_REASON) -> None:
        super().__init__()
        self.current = current
        self.wording = wording
        self._left = False

    def compose(self) -> ComposeResult:
        wording = self.wording
        with Vertical(id="reason-dialog"):
            yield Label(wording.title, id="reason-title", markup=False)
            yield Input(
                value=self.current or "",
                placeholder=wording.placeholder,
                max_length=wording.max_length,
                id="reason",
            )
            yield Static(f"{wording.note}\nenter saves, escape keeps the {wording.kind} as it was.", markup=False)
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.wording.kind == "reason"
        if action == "keep_comment":
            return self.wording.kind == "comment"
        return True

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._leave(event.value.strip())

    def action_cancel(self) -> None:
        self._leave(None)

    def action_keep_comment(self) -> None:
        self._leave(None)

    def _leave(self, result: str | None) -> None:
        # Once: a second enter queued before the prompt is gone would pop the dialog under it.
        if not self._left:
            self._left = True
            self.dismiss(result)
