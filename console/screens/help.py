"""HelpScreen: `?` on any screen. The keys of the screen it was opened on (from its bindings), the app's keys, the
confirm dialog's keys, what the colours mean, and every screen — with why a screen is hidden from this token."""

from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from console.screens.ops_screen import OpsScreen, action_name
from console.widgets.confirm_dialog import ConfirmDialog

if TYPE_CHECKING:
    from console.app import OpsConsole

GENERAL_COLOURS: tuple[tuple[str, str], ...] = (
    ("red banner", "server unreachable, token refused or rate limited; the console retries"),
    ("READ-ONLY badge", "this token may look but not change anything"),
    ("dimmed table", "the last data read, not refreshing while disconnected"),
)

Row = tuple[str, str]


class HelpScreen(ModalScreen[None]):
    """Dismissed by escape, ? or q."""

    CSS_PATH = "help.tcss"
    BINDINGS = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding("question_mark", "close", "Close", show=False, key_display="?", id="help.close.question"),
        Binding("q", "close", "Close", show=False, id="help.close.q"),
    ]

    def __init__(self, screen: Screen[object]) -> None:
        super().__init__()
        self.for_screen = screen

    @property
    def ops(self) -> "OpsConsole":
        return cast("OpsConsole", self.app)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help") as panel:
            panel.border_title = "Help — ? or escape closes"
            yield Static(self.help_text(), id="help-body")
        yield Footer(compact=True)

    def sections(self) -> list[tuple[str, list[Row]]]:
        """(heading, rows) of the overlay; tests read them."""
        screen = self.for_screen
        heading = screen.HEADING if isinstance(screen, OpsScreen) else "Dialog"
        sections: list[tuple[str, list[Row]]] = [(f"{heading} keys", self._own_keys(screen))]
        sections.append(("Everywhere", self._app_keys()))
        sections.append(("Confirm dialog", self._keys_of(Binding.make_bindings(ConfirmDialog.BINDINGS))))
        colours = list(screen.HELP_COLOURS) if isinstance(screen, OpsScreen) else []
        sections.append(("Colours", colours + list(GENERAL_COLOURS)))
        sections.append(("Screens", self._screens()))
        return sections

    def help_text(self) -> Group:
        parts: list[RenderableType] = []
        for index, (heading, rows) in enumerate(self.sections()):
            parts.append(Text(f"{heading}" if not index else f"\n{heading}", style="bold"))
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold", no_wrap=True)
            table.add_column()
            for key, meaning in rows or [("", "none")]:
                table.add_row(f"  {key}", meaning)
            parts.append(table)
        return Group(*parts)

    def _own_keys(self, screen: Screen[object]) -> list[Row]:
        if isinstance(screen, OpsScreen):
            rows = []
            for binding in screen.own_bindings():
                if not binding.description:
                    continue
                scope = screen.ACTION_SCOPES.get(action_name(binding.action))
                meaning = binding.tooltip or binding.description
                if scope is not None and not self.ops.has_scope(scope):
                    meaning += f" (needs {scope.value})"
                rows.append((self.app.get_key_display(binding), meaning))
            return _merge_keys(rows)
        return self._keys_of(Binding.make_bindings(type(screen).BINDINGS))

    def _app_keys(self) -> list[Row]:
        rows = [("^p", "Command palette: every screen and action")]
        rows += self._keys_of(Binding.make_bindings(self.ops.BASE_BINDINGS))
        rows.append(("esc", "Close an overlay or dialog"))
        return rows

    def _keys_of(self, bindings: Iterable[Binding]) -> list[Row]:
        rows = [(self.app.get_key_display(b), b.tooltip or b.description) for b in bindings if b.description]
        return _merge_keys(rows)

    def _screens(self) -> list[Row]:
        rows = []
        for spec in self.ops.SCREEN_SPECS:
            key = spec.key or "ctrl+p"
            if self.ops.can_see(spec):
                rows.append((key, f"{spec.title}: {spec.description}"))
            else:
                scope = spec.scope.value if spec.scope else ""
                rows.append((key, f"{spec.title}: hidden — this token lacks {scope}"))
        return rows

    def action_close(self) -> None:
        self.dismiss(None)


def _merge_keys(rows: list[Row]) -> list[Row]:
    """One row per meaning: `n/escape  Cancel`."""
    merged: dict[str, list[str]] = {}
    for key, meaning in rows:
        keys = merged.setdefault(meaning, [])
        if key not in keys:
            keys.append(key)
    return [("/".join(keys), meaning) for meaning, keys in merged.items()]
