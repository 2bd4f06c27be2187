"""OpsScreen: what every console screen shares — the header, the connection banner, a heading, the status line, the
footer, the palette entries of its own keys, scope checks, the "terminal too small" notice, and typed access to
the app."""

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar, cast

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header, Static

from console.palette import ScreenActionsProvider
from console.problems import missing_scope
from console.widgets.connection_banner import ConnectionBanner
from console.widgets.ops_footer import OpsFooter
from console.widgets.screen_heading import ScreenHeading
from console.widgets.status_line import StatusLine
from shared.scopes import Scope

if TYPE_CHECKING:
    from console.app import OpsConsole

MIN_WIDTH = 60
MIN_HEIGHT = 16
"""Below this the screens cannot show a useful table: a plain notice replaces them."""


class OpsScreen(Screen[None]):
    """Base of every console screen.

    Subclasses set `HEADING`, yield their widgets from `compose_body()`, and declare `BINDINGS` with descriptions
    (the footer, the palette and the help overlay read them). An action that needs a scope names it in
    `ACTION_SCOPES` (action name -> scope): without that scope its key leaves the footer and the palette, and
    pressing it says why. Actions also call `require_scope()` before acting (the palette or a stale footer can still
    reach them). `HELP_COLOURS` lists (what, meaning) rows for the help overlay."""

    HEADING: ClassVar[str] = ""
    ACTION_SCOPES: ClassVar[Mapping[str, Scope]] = {}
    HELP_COLOURS: ClassVar[tuple[tuple[str, str], ...]] = ()
    COMMANDS = {ScreenActionsProvider}

    @property
    def ops(self) -> "OpsConsole":
        return cast("OpsConsole", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner(id="banner")
        yield ScreenHeading(self.HEADING)
        yield from self.compose_body()
        yield StatusLine()
        yield OpsFooter()
        yield Static(
            f"Terminal too small: the console needs at least {MIN_WIDTH}x{MIN_HEIGHT}. Enlarge it, or press q to quit.",
            id="too-small",
        )

    def compose_body(self) -> Iterable[Widget]:
        """The screen's own widgets, between the heading and the footer."""
        return ()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < MIN_WIDTH or event.size.height < MIN_HEIGHT, "-too-small")

    # --- scopes ---

    def require_scope(self, scope: Scope, what: str = "commands") -> bool:
        """True when the token carries `scope`; otherwise says so in the status line and returns False."""
        if self.ops.has_scope(scope):
            return True
        self.ops.say(missing_scope(scope, what), severity="warning")
        return False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Subclasses that override this call it first: a scoped action the token may not run is hidden."""
        scope = self.ACTION_SCOPES.get(action)
        return scope is None or self.ops.has_scope(scope)

    def on_key(self, event: events.Key) -> None:
        # A key whose binding is hidden for lack of scope reaches no action: say why instead of doing nothing.
        for binding in self.own_bindings():
            if binding.key != event.key:
                continue
            scope = self.ACTION_SCOPES.get(action_name(binding.action))
            if scope is not None and not self.ops.has_scope(scope):
                event.stop()
                self.require_scope(scope)
                return
        spec = self.ops.hidden_screen_for_key(event.key)
        if spec is not None and spec.scope is not None:
            event.stop()
            self.require_scope(spec.scope, f"the {spec.title} screen")

    @classmethod
    def own_bindings(cls) -> list[Binding]:
        """The bindings declared by this screen class and its OpsScreen bases, in declaration order."""
        bindings: list[Binding] = []
        for base in reversed(cls.__mro__):
            if isinstance(base, type) and issubclass(base, OpsScreen) and "BINDINGS" in base.__dict__:
                bindings.extend(Binding.make_bindings(base.__dict__["BINDINGS"]))
        return bindings


def action_name(action: str) -> str:
    """`command('start')` -> `command`."""
    return action.split("(", 1)[0].rsplit(".", 1)[-1]
