"""Test-only screens for the console's shell: registry entries added in tests, screens that never poll."""

from collections.abc import Iterable, Mapping
from typing import ClassVar

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from console.app import OpsConsole
from console.registry import SCREENS, ScreenSpec
from console.screens.ops_screen import OpsScreen
from shared.scopes import Scope


class QuietScreen(OpsScreen):
    """A screen that sends no request of its own: only the app's monitor can notice the server is gone."""

    HEADING = "Quiet"
    BINDINGS = [Binding("w", "wave", "Wave", tooltip="Wave at the operator", id="quiet.wave")]
    HELP_COLOURS: ClassVar[tuple[tuple[str, str], ...]] = (("purple", "a quiet screen's colour"),)

    def compose_body(self) -> Iterable[Widget]:
        yield Static("nothing to see", id="quiet-body")

    def action_wave(self) -> None:
        self.ops.say("hello")


class RefundsLikeScreen(OpsScreen):
    """A screen whose only action needs a scope the read-only test tokens lack."""

    HEADING = "Refunds"
    BINDINGS = [Binding("p", "process", "Process", id="refunds.process")]
    ACTION_SCOPES: ClassVar[Mapping[str, Scope]] = {"process": Scope.REFUNDS_OPERATOR}
    processed = 0

    def action_process(self) -> None:
        if self.require_scope(Scope.REFUNDS_OPERATOR):
            RefundsLikeScreen.processed += 1


EXTRA = (
    ScreenSpec("0", "quiet", "Quiet", QuietScreen, Scope.OPS_READ, "A screen added by a test"),
    ScreenSpec(None, "secret", "Secret", RefundsLikeScreen, Scope.REFUNDS_PII, "Palette only, needs refunds:pii"),
)


class ExtendedConsole(OpsConsole):
    """The console with two more registry lines: a number-key screen and a palette-only one."""

    SCREEN_SPECS = (*SCREENS, *EXTRA)
