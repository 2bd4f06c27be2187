"""Command palette providers: the screens the token may open (the app's), and the current screen's own keys
(every OpsScreen's), so a screen gets palette entries by declaring bindings."""

from abc import abstractmethod
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from console.app import OpsConsole
    from console.screens.ops_screen import OpsScreen

Entry = tuple[str, str, Callable[[], object]]
"""(title, help, callback) of one palette entry."""


class _EntriesProvider(Provider):
    """A provider whose hits are a list of entries; subclasses say which."""

    @abstractmethod
    def entries(self) -> list[Entry]:
        """The entries to offer, as the token and the screen stand now."""

    async def discover(self) -> Hits:
        for title, help_text, callback in self.entries():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self.entries():
            if (score := matcher.match(title)) > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class ScreensProvider(_EntriesProvider):
    """One entry per registered screen the token may see."""

    def entries(self) -> list[Entry]:
        app = cast("OpsConsole", self.app)
        return [
            (
                f"{spec.title} screen",
                f"{spec.description} (key {spec.key})" if spec.key else spec.description,
                partial(app.action_show, spec.mode),
            )
            for spec in app.visible_screens()
        ]


class ScreenActionsProvider(_EntriesProvider):
    """The calling screen's own keys that are enabled now (a key hidden for lack of scope is not offered)."""

    def entries(self) -> list[Entry]:
        screen = cast("OpsScreen", self.screen)  # only OpsScreen.COMMANDS lists this provider
        own = {binding.action for binding in screen.own_bindings()}
        entries: list[Entry] = []
        for active in screen.active_bindings.values():
            binding = active.binding
            if active.node is not screen or binding.action not in own or not active.enabled or not binding.description:
                continue
            display = self.app.get_key_display(binding)
            title = f"{screen.HEADING}: {binding.description}" if screen.HEADING else binding.description
            help_text = f"{binding.tooltip} (key {display})" if binding.tooltip else f"key {display}"
            entries.append((title, help_text, partial(self.app.run_action, binding.action, screen)))
        return entries
