"""A token without ops:command: READ-ONLY badge, no command keys in the footer or the palette, and a command key
pressed says why nothing happens instead of doing nothing silently."""

from collections.abc import Callable

from console_harness import (
    ConsoleUnderTest,
    PlantServer,
    component_state,
    palette_titles,
    status_line_text,
    status_screen,
    wait_until,
)
from textual.pilot import Pilot

from console.connection import ConnectionState
from console.widgets.read_only_badge import ReadOnlyBadge
from shared.scopes import Scope

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

    async def test_read_only_token_hides_command_keys_and_says_why_when_pressed(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console(plant_server.create_token("reader", "ops:read"))
        app = console.app
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: component_state(app, "execution_engine"), what="first status")
            screen = status_screen(app)
            assert app.scopes == frozenset({"ops:read"})
            assert not app.has_scope(Scope.OPS_COMMAND)
            assert screen.query_one(ReadOnlyBadge).display
            assert footer_keys(console).isdisjoint(COMMAND_KEYS)
            assert {"1", "2", "q", "question_mark"} <= footer_keys(console)
            titles = palette_titles(app)
            assert "Status screen" in titles
            assert not any("Restart" in t or "Dry-run" in t for t in titles)

            for key in COMMAND_KEYS:
                await pilot.press(key)
                await pilot.pause()
                assert status_line_text(app) == "read-only token: commands need ops:command"
            await pilot.pause(0.2)
            assert console.transport.commands() == []
            assert len(app.screen_stack) == 1

    async def test_require_scope_refuses_in_words(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console(plant_server.create_token("reader", "ops:read"))
        app = console.app
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")
            screen = status_screen(app)
            assert screen.require_scope(Scope.OPS_READ)
            assert status_line_text(app) == ""
            assert not screen.require_scope(Scope.OPS_COMMAND)
            await pilot.pause()
            assert status_line_text(app) == "read-only token: commands need ops:command"

    async def test_command_token_gets_command_keys_and_no_badge(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        app = console.app
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED)
            await pilot.pause()
            screen = status_screen(app)
            assert not screen.query_one(ReadOnlyBadge).display
            assert {"s", "x", "r"} <= footer_keys(console)
            assert "Status: Restart" in palette_titles(app)
