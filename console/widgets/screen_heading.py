"""ScreenHeading: the screen's name, the READ-ONLY badge when it applies, and who the console acts as."""

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from console.widgets.read_only_badge import ReadOnlyBadge

if TYPE_CHECKING:
    from console.app import OpsConsole


class ScreenHeading(Horizontal):
    def __init__(self, title: str) -> None:
        super().__init__(classes="heading")
        self._title = title
        self._principal = Label("", classes="principal", markup=False)

    def compose(self) -> ComposeResult:
        yield Label(self._title, classes="screen-title")
        yield ReadOnlyBadge()
        yield self._principal

    def on_mount(self) -> None:
        self.watch(cast("OpsConsole", self.app), "principal", self._show_principal)

    def _show_principal(self, principal: str | None) -> None:
        self._principal.update(f"as {principal}" if principal else "")
