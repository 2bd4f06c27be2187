"""Status screen: what it shows, that it refreshes (redrawing only what changed), the keys that move and open the
detail pane, the mode keys offered only when they apply, and that refused commands say why."""

import asyncio
import io
from collections.abc import Callable
from functools import partial

import httpx
import pytest
from console_harness import (
    ConsoleUnderTest,
    PlantServer,
    component_state,
    select_component,
    status_screen,
    wait_until,
)
from rich.console import Console, RenderableType
from textual import events
from textual.pilot import Pilot
from textual.widgets import Label, Static

from console.app import OpsConsole
from console.connection import ConnectionState
from console.screens.audit import AuditScreen
from console.screens.status import StatusScreen
from console.widgets.component_detail import ComponentDetail, render_facts
from console.widgets.confirm_dialog import ConfirmDialog
from console.widgets.health_strip import HealthStrip
from console.widgets.nav_table import NavTable
from shared.client import OpsClient
from shared.control import CommandParams, StatusSnapshot

COMPONENTS = ["orchestrator", "connector", "database", "execution_engine", "position_manager", "mt5_bridge"]


@pytest.fixture(autouse=True)
def no_timed_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Screens refresh when a test says so; a test wanting the timer sets REFRESH_SECONDS itself."""
    monkeypatch.setattr(StatusScreen, "REFRESH_SECONDS", 3600.0)
    monkeypatch.setattr(AuditScreen, "REFRESH_SECONDS", 3600.0)


def press_in_one_tick(app: OpsConsole, *keys: str) -> None:
    """Queue key presses as a fast typist or a key repeat does: all arrive before the app handles the first."""
    for key in keys:
        event = events.Key(key, key)
        event.set_sender(app)
        app.post_message(event)


def table(app: OpsConsole) -> NavTable[object]:
    return status_screen(app).query_one("#components", NavTable)


def plain(renderable: RenderableType) -> str:
    console = Console(width=120, file=io.StringIO(), color_system=None)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def detail_text(app: OpsConsole) -> str:
    """What the detail pane shows, as plain text ('' while it has nothing)."""
    facts = status_screen(app).query_one(ComponentDetail).facts
    return plain(render_facts(facts)) if facts is not None else ""


def label_text(app: OpsConsole, selector: str) -> str:
    return str(status_screen(app).query_one(selector, Label).content)


def footer_keys(app: OpsConsole) -> set[str]:
    """Keys the footer offers: what the active bindings allow, as the Footer computes it."""
    return {key for key, active in app.screen.active_bindings.items() if active.enabled and active.binding.show}


def changed(screen: StatusScreen, before: StatusSnapshot | None) -> bool:
    return screen.snapshot is not before


def shown(notifications: list[str], count: int) -> bool:
    return len(notifications) == count


async def loaded(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, OpsConsole)
    await wait_until(pilot, lambda: component_state(app, "mt5_bridge"), what="first status")


async def run_command(pilot: Pilot, console: ConsoleUnderTest, key: str) -> None:
    """Press a command key and confirm it; wait for the confirming request."""
    sent = len(console.transport.confirms())
    await pilot.press(key)
    await wait_until(pilot, lambda: len(console.app.screen_stack) == 2, what="the confirm dialog")
    await pilot.press("y")
    await wait_until(pilot, lambda: len(console.transport.confirms()) > sent, what="the confirming request")
    await wait_until(pilot, lambda: len(console.app.screen_stack) == 1, what="the dialog to close")


class TestStatusScreen:
    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_status_screen(
        self, snap_compare, make_console: Callable[..., ConsoleUnderTest], size: tuple[int, int]
    ) -> None:
        console = make_console()
        assert snap_compare(console.app, terminal_size=size, run_before=loaded)

    async def test_table_lists_every_component_and_the_strip(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await loaded(pilot)
            assert [str(key.value) for key in table(console.app).rows] == COMPONENTS
            assert all(component_state(console.app, name) == "running" for name in COMPONENTS)
            assert str(table(console.app).get_cell("database", "since")) == "2026-01-01 09:00:00"
            assert label_text(console.app, "#pill-mode") == "Mode LIVE"
            assert label_text(console.app, "#pill-positions") == "Positions 3"
            assert label_text(console.app, "#chip-connector") == "connector up"

    async def test_interval_refresh_shows_changes_made_elsewhere(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console(refresh_seconds=0.1)
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: component_state(console.app, "mt5_bridge") == "running")
            plant_server.server.call(plant_server.plant.execute, "stop", "mt5_bridge", CommandParams())
            await wait_until(pilot, lambda: component_state(console.app, "mt5_bridge") == "stopped", what="refresh")
            assert label_text(console.app, "#chip-mt5_bridge") == "mt5 down"
            assert status_screen(console.app).query_one("#chip-mt5_bridge").has_class("-bad")

    async def test_idle_refresh_rewrites_only_the_cells_that_changed(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        """Nothing but time passes: a refresh rewrites the six ages, never the table or the strip wholesale."""
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await loaded(pilot)
            screen = status_screen(console.app)
            components, strip = table(console.app), screen.query_one(HealthStrip)
            clears = 0
            clear = components.clear

            def counting_clear(columns: bool = False) -> NavTable[object]:
                nonlocal clears
                clears += 1
                return clear(columns)

            components.clear = counting_clear  # type: ignore[method-assign]
            cells, labels = components.cell_updates, strip.label_writes
            for _ in range(3):
                plant_server.advance(2)  # a new snapshot: same states, later `as_of`
                before = screen.snapshot
                screen.refresh_status()
                await wait_until(pilot, partial(changed, screen, before), what="the next snapshot")
            assert clears == 0
            assert components.cell_updates - cells == 3 * len(COMPONENTS)  # the "For" column, nothing else
            assert strip.label_writes == labels
            assert str(components.get_cell("database", "age")).endswith("s")

    async def test_refused_command_shows_the_servers_reason(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await select_component(pilot, "database")
            await pilot.press("x")
            await wait_until(pilot, lambda: console.notifications, what="a notification")
            assert any("cannot go down while live with 3 open positions" in m for m in console.notifications)
            # Refused at the first step: no dialog, no confirming request.
            assert console.transport.confirms() == []
            assert len(console.app.screen_stack) == 1

    async def test_dry_run_keys_target_the_orchestrator_whatever_is_selected(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await select_component(pilot, "mt5_bridge")
            await run_command(pilot, console, "d")
            [request] = console.transport.commands()[:1]
            assert request["command"] == "dry-run-on"
            assert request["component"] == "orchestrator"
            await wait_until(pilot, lambda: label_text(console.app, "#pill-mode") == "Mode DRY-RUN")

    async def test_slow_server_answers_are_not_cancelled_by_the_next_tick(
        self, plant_server: PlantServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Status answers slower than the refresh interval still arrive: a tick does not cancel a read in flight."""
        monkeypatch.setattr(StatusScreen, "REFRESH_SECONDS", 0.1)
        _, transport = plant_server.client()

        class SlowStatus(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                if request.url.path == "/ops/status":
                    await asyncio.sleep(0.5)
                return await transport.handle_async_request(request)

        client = OpsClient("http://127.0.0.1:8000", "test-admin-token", transport=SlowStatus())
        app = OpsConsole(client)
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
                await wait_until(pilot, partial(shown, console.notifications, attempt), what="the error")
                await wait_until(pilot, lambda: not status_screen(console.app)._command_in_flight, what="the worker")
            assert all("controller crashed" in m for m in console.notifications)
            assert console.transport.sent("POST", "/ops/command") == 2
            # A 500 is the server's answer, not a lost connection.
            assert console.transport.sent("GET", "/ops/whoami") == 1
            assert console.app.connection is ConnectionState.CONNECTED

    async def test_a_500_from_status_is_shown_under_the_table_without_reconnecting(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console(refresh_seconds=0.1)
        console.transport.answer("/ops/status", 500, {"error": "internal_error", "detail": "plant state unreadable"})
        async with console.app.run_test(size=(80, 24)) as pilot:
            footnote = status_screen(console.app).query_one("#status-footnote", Static)
            await wait_until(pilot, lambda: "lant state unreadable" in str(footnote.content), what="the problem")
            assert "internal_error" not in str(footnote.content)  # said in words, not codes
            assert footnote.has_class("-problem")
            await pilot.pause(0.3)
            assert console.transport.sent("GET", "/ops/whoami") == 1
            assert console.app.connection is ConnectionState.CONNECTED


class TestStatusKeys:
    async def test_j_k_home_end_move_the_cursor(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await loaded(pilot)
            screen = status_screen(console.app)
            assert screen.selected_component == "orchestrator"
            await pilot.press("j", "j")
            assert screen.selected_component == "database"
            await pilot.press("k")
            assert screen.selected_component == "connector"
            await pilot.press("end")
            assert screen.selected_component == "mt5_bridge"
            await pilot.press("home")
            assert screen.selected_component == "orchestrator"

    async def test_enter_opens_the_detail_with_last_command_and_playbook(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await select_component(pilot, "connector")
            await run_command(pilot, console, "x")
            await wait_until(pilot, lambda: component_state(console.app, "connector") == "stopped", what="stopped")
            pane = status_screen(console.app).query_one(ComponentDetail)
            assert not pane.display
            await pilot.press("enter")
            await wait_until(pilot, lambda: "Symptoms" in detail_text(console.app), what="the playbook section")
            text = detail_text(console.app)
            assert "connector · stopped since 2026-01-01 09:00:00 UTC" in text
            assert "Last command: stop connector by env:OPS_API_TOKEN" in text
            assert "— done: stopped" in text
            assert "Playbook — Connector down" in text
            audit = [r.query for r in console.transport.requests if r.path == "/ops/audit"]
            assert audit == ["limit=20&q=connector&changes_only=true"]
            # The pane follows the cursor; escape closes it.
            await pilot.press("j")
            await wait_until(pilot, lambda: "Database maintenance" in detail_text(console.app), what="database")
            assert "Last command: none in the audit log" in detail_text(console.app)
            assert console.app.focused is table(console.app)
            await pilot.press("escape")
            assert not pane.display

    async def test_a_component_without_its_own_section_gets_the_startup_order(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await select_component(pilot, "execution_engine")
            await pilot.press("enter")
            await wait_until(pilot, lambda: "Playbook — Startup order" in detail_text(console.app))

    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_detail_pane(
        self, snap_compare, make_console: Callable[..., ConsoleUnderTest], size: tuple[int, int]
    ) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await select_component(pilot, "connector")
            await pilot.press("enter")
            await wait_until(pilot, lambda: "Symptoms" in detail_text(console.app), what="the playbook section")

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)


class TestModeKeys:
    async def test_dry_run_is_offered_only_when_live_and_go_live_only_in_dry_run(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await loaded(pilot)
            await pilot.pause()
            screen = status_screen(console.app)
            assert "d" in footer_keys(console.app)
            assert "l" not in footer_keys(console.app)
            await pilot.press("l")  # not offered: does nothing
            await pilot.pause(0.1)
            assert console.transport.commands() == []

            await run_command(pilot, console, "d")
            await wait_until(pilot, lambda: screen.snapshot is not None and screen.snapshot.mode == "dry-run")
            await pilot.pause()
            assert "l" in footer_keys(console.app)
            assert "d" not in footer_keys(console.app)

            # With the orchestrator down the mode is unknown: neither is offered.
            plant_server.server.call(plant_server.plant.execute, "stop", "orchestrator", CommandParams())
            screen.refresh_status()
            await wait_until(pilot, lambda: screen.snapshot is not None and screen.snapshot.mode == "unknown")
            await pilot.pause()
            assert not {"d", "l"} & footer_keys(console.app)
            assert {"s", "x", "r"} <= footer_keys(console.app)
