"""OpsScreen: what every console screen shares — the header, the connection banner, a heading, the footer, and
typed access to the app."""

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header

from console.widgets.connection_banner import ConnectionBanner
from console.widgets.screen_heading import ScreenHeading

if TYPE_CHECKING:
    from console.app import OpsConsole


class OpsScreen(Screen[None]):
    HEADING: ClassVar[str] = ""

    @property
    def ops(self) -> "OpsConsole":
        return cast("OpsConsole", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner(id="banner")
        yield ScreenHeading(self.HEADING)
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> Iterable[Widget]:
        """The screen's own widgets, between the heading and the footer."""
        return ()
