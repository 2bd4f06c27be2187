"""StatusLine: one line above the footer for what the operator should read now (a refusal, a failed request).
It reads the app's `status_note`, so every screen shows the same note; the app clears it after a while."""

from typing import TYPE_CHECKING, cast

from textual.widgets import Static

if TYPE_CHECKING:
    from console.app import OpsConsole, StatusNote


class StatusLine(Static):
    def __init__(self) -> None:
        super().__init__(id="status-line", markup=False)

    def on_mount(self) -> None:
        self.watch(cast("OpsConsole", self.app), "status_note", self._show)

    def _show(self, note: "StatusNote | None") -> None:
        self.display = note is not None
        self.update(note.text if note is not None else "")
        self.set_class(note is not None and note.severity == "error", "-error")
        self.set_class(note is not None and note.severity == "warning", "-warning")
