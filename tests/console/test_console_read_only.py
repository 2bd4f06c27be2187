"""A token without ops:command: READ-ONLY badge, no command keys in the footer or the palette, and keys do nothing."""

from collections.abc import Callable

from console_harness import ConsoleUnderTest, PlantServer, component_state, status_screen, wait_until
from textual.pilot import Pilot
from textual.widgets import Static

from console.connection import ConnectionState
from console.widgets.read_only_badge import ReadOnlyBadge

COMMAND_KEYS = ("s", "x", "r", "d", "l")


def footer_keys(console: ConsoleUnderTest) -> set[str]:
    """Keys the footer offers: what the active bindings allow, as the Footer computes it."""
    return {key for key, active in console.app.screen.active_bindings.items() if active.enabled and active.binding.show}


class TestReadOnly:
    def test_snapshot_read_only_status(
        self, snap_compare, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console(plant_server.create_token("reader", "ops:read"))

        async def loaded(pilot: Pilot) -> None:
            await wait_until(pilot, lambda: component_state(console.app, "mt5_bridge"), what="first status")

        assert snap_compare(console.app, terminal_size=(80, 24), run_before=loaded)

    async def test_read_only_token_hides_command_keys(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console(plant_server.create_token("reader", "ops:read"))
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: component_state(console.app, "execution_engine"), what="first status")
            screen = status_screen(console.app)
            assert screen.query_one(ReadOnlyBadge).display
            assert "read-only" in str(screen.query_one("#status-footnote", Static).content)
            assert footer_keys(console).isdisjoint(COMMAND_KEYS)
            assert {"1", "2", "q"} <= footer_keys(console)
            titles = [c.title for c in console.app.get_system_commands(screen)]
            assert "Status screen" in titles
            assert not any("Restart" in t or "Dry-run" in t for t in titles)

            await pilot.press(*COMMAND_KEYS)
            await pilot.pause(0.2)
            assert console.transport.commands() == []
            assert len(console.app.screen_stack) == 1

    async def test_command_token_gets_command_keys_and_no_badge(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: console.app.connection is ConnectionState.CONNECTED)
            await pilot.pause()
            screen = status_screen(console.app)
            assert not screen.query_one(ReadOnlyBadge).display
            assert set(COMMAND_KEYS) <= footer_keys(console)
            titles = [c.title for c in console.app.get_system_commands(screen)]
            assert "Restart selected component" in titles
