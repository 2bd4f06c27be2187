"""ReadOnlyBadge: shown while the token lacks ops:command, so the operator knows why no command keys exist."""

from typing import TYPE_CHECKING, cast

from textual.widgets import Label

from shared.scopes import Scope

if TYPE_CHECKING:
    from console.app import OpsConsole


class ReadOnlyBadge(Label):
    def __init__(self) -> None:
        super().__init__("READ-ONLY", classes="badge")

    def on_mount(self) -> None:
        app = cast("OpsConsole", self.app)
        self.watch(app, "scopes", self._refresh_badge)
        self.watch(app, "principal", self._refresh_badge)

    def _refresh_badge(self, _value: object = None) -> None:
        app = cast("OpsConsole", self.app)
        # Before whoami() first answers the console offers no commands either, but it does not know yet: no badge.
        self.display = app.identified and not app.has_scope(Scope.OPS_COMMAND)
