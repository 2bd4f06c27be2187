"""Status screen: what it shows, that it refreshes, and that refused commands say why."""

import asyncio
from collections.abc import Callable

import httpx
from console_harness import (
    ConsoleUnderTest,
    PlantServer,
    component_state,
    select_component,
    status_screen,
    wait_until,
)
from textual import events
from textual.pilot import Pilot
from textual.widgets import DataTable, Label

from console.app import OpsConsole
from console.connection import ConnectionState
from console.widgets.confirm_dialog import ConfirmDialog
from shared.client import OpsClient
from shared.control import CommandParams

COMPONENTS = ["orchestrator", "connector", "database", "execution_engine", "position_manager", "mt5_bridge"]


def press_in_one_tick(app: OpsConsole, *keys: str) -> None:
    """Queue key presses as a fast typist or a key repeat does: all arrive before the app handles the first."""
    for key in keys:
        event = events.Key(key, key)
        event.set_sender(app)
        app.post_message(event)


class TestStatusScreen:
    def test_snapshot_status_screen(self, snap_compare, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()

        async def loaded(pilot: Pilot) -> None:
            await wait_until(pilot, lambda: component_state(console.app, "mt5_bridge"), what="first status")

        assert snap_compare(console.app, terminal_size=(80, 24), run_before=loaded)

    async def test_table_lists_every_component_and_the_summary(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: component_state(console.app, "mt5_bridge"), what="first status")
            screen = status_screen(console.app)
            table = screen.query_one("#components", DataTable)
            assert [str(key.value) for key in table.rows] == COMPONENTS
            assert all(component_state(console.app, name) == "running" for name in COMPONENTS)
            assert str(table.get_cell("database", "since")) == "2026-01-01 09:00:00"
            assert str(screen.query_one("#pill-mode", Label).content) == "Mode LIVE"
            assert str(screen.query_one("#pill-positions", Label).content) == "Positions 3"

    async def test_interval_refresh_shows_changes_made_elsewhere(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console(status_interval=0.1)
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: component_state(console.app, "mt5_bridge") == "running")
            plant_server.server.call(plant_server.plant.execute, "stop", "mt5_bridge", CommandParams())
            await wait_until(pilot, lambda: component_state(console.app, "mt5_bridge") == "stopped", what="refresh")
            pill = status_screen(console.app).query_one("#pill-mt5", Label)
            assert str(pill.content) == "MT5 down"
            assert pill.has_class("-bad")

    async def test_refused_command_shows_the_servers_reason(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await select_component(pilot, "database")
            await pilot.press("x")
            await wait_until(pilot, lambda: console.notifications, what="a notification")
            [message] = console.notifications
            assert "stop database" in message
            assert "command_refused" in message
            assert "cannot go down while live with 3 open positions" in message
            # Refused at the first step: no dialog, no confirming request.
            assert console.transport.confirms() == []
            assert len(console.app.screen_stack) == 1

    async def test_dry_run_keys_target_the_orchestrator_whatever_is_selected(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await select_component(pilot, "mt5_bridge")
            await pilot.press("d")
            await wait_until(pilot, lambda: len(console.app.screen_stack) == 2, what="the confirm dialog")
            await pilot.press("y")
            await wait_until(pilot, lambda: console.transport.confirms(), what="the confirming request")
            [request] = console.transport.commands()[:1]
            assert request["command"] == "dry-run-on"
            assert request["component"] == "orchestrator"
            screen = status_screen(console.app)
            await wait_until(pilot, lambda: str(screen.query_one("#pill-mode", Label).content) == "Mode DRY-RUN")

    async def test_slow_server_answers_are_not_cancelled_by_the_next_tick(self, plant_server: PlantServer) -> None:
        """Status answers slower than the refresh interval still arrive: a tick does not cancel a read in flight."""
        _, transport = plant_server.client()

        class SlowStatus(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                if request.url.path == "/ops/status":
                    await asyncio.sleep(0.5)
                return await transport.handle_async_request(request)

        client = OpsClient("http://127.0.0.1:8000", "test-admin-token", transport=SlowStatus())
        app = OpsConsole(client, status_interval=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: component_state(app, "mt5_bridge") == "running", what="a slow status")

    async def test_two_command_keys_in_one_tick_ask_once_and_open_one_dialog(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await select_component(pilot, "execution_engine")
            press_in_one_tick(console.app, "r", "r")
            await wait_until(pilot, lambda: len(console.app.screen_stack) > 1, what="the confirm dialog")
            await pilot.pause(0.3)
            assert console.transport.sent("POST", "/ops/command") == 1
            dialogs = [s for s in console.app.screen_stack if isinstance(s, ConfirmDialog)]
            assert len(dialogs) == 1
            assert "Another command is waiting for its confirmation." in console.notifications
            # Once that command is done (cancelled), the key starts a new one.
            await pilot.press("n")
            await wait_until(pilot, lambda: len(console.app.screen_stack) == 1, what="the dialog to close")
            await wait_until(pilot, lambda: not status_screen(console.app)._command_in_flight, what="the worker")
            await pilot.press("r")
            await wait_until(pilot, lambda: len(console.app.screen_stack) == 2, what="a second dialog")
            assert console.transport.sent("POST", "/ops/command") == 2
            assert console.transport.confirms() == []

    async def test_a_failed_command_request_frees_the_keys(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        body = {"error": "internal_error", "detail": "controller crashed"}
        console.transport.answer("/ops/command", 500, body)
        async with console.app.run_test(size=(80, 24)) as pilot:
            await select_component(pilot, "execution_engine")
            for attempt in (1, 2):
                await pilot.press("r")
                await wait_until(pilot, lambda n=attempt: len(console.notifications) == n, what="the error")
                await wait_until(pilot, lambda: not status_screen(console.app)._command_in_flight, what="the worker")
            assert (
                console.notifications
                == ["restart execution_engine: Server error (internal_error): controller crashed"] * 2
            )
            assert console.transport.sent("POST", "/ops/command") == 2
            # A 500 is the server's answer, not a lost connection.
            assert console.transport.sent("GET", "/ops/whoami") == 1
            assert console.app.connection is ConnectionState.CONNECTED

    async def test_a_500_from_status_is_shown_under_the_table_without_reconnecting(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console(status_interval=0.1)
        console.transport.answer("/ops/status", 500, {"error": "internal_error", "detail": "plant state unreadable"})
        async with console.app.run_test(size=(80, 24)) as pilot:
            footnote = status_screen(console.app).query_one("#status-footnote")
            await wait_until(pilot, lambda: "plant state unreadable" in str(footnote.render()), what="the problem")
            assert "500 internal_error: plant state unreadable" in str(footnote.render())
            await pilot.pause(0.3)
            assert console.transport.sent("GET", "/ops/whoami") == 1
            assert console.app.connection is ConnectionState.CONNECTED
