"""The health strip on the Status screen: every component with its state, a red warning when live with a
component down, dimmed with the table while disconnected."""

from collections.abc import Callable

import httpx
import pytest
from console_harness import ConsoleUnderTest, PlantServer, component_state, status_screen, wait_until
from textual.pilot import Pilot
from textual.widgets import Label

from console.app import OpsConsole
from console.connection import ConnectionState
from console.widgets.health_strip import HealthStrip
from shared.control import CommandParams

CHIPS = {
    "orchestrator": "orch up",
    "connector": "connector up",
    "database": "db up",
    "execution_engine": "engine up",
    "position_manager": "pos.mgr up",
    "mt5_bridge": "mt5 up",
}


def label(app: OpsConsole, selector: str) -> Label:
    return status_screen(app).query_one(selector, Label)


def text(app: OpsConsole, selector: str) -> str:
    return str(label(app, selector).content)


async def stop_connector_while_live(pilot: Pilot, plant_server: PlantServer) -> None:
    """Someone stops the connector behind this console's back; its next refresh shows it."""
    app = pilot.app
    assert isinstance(app, OpsConsole)
    await wait_until(pilot, lambda: component_state(app, "connector") == "running", what="first status")
    plant_server.server.call(plant_server.plant.execute, "stop", "connector", CommandParams())
    status_screen(app).refresh_status()
    await wait_until(pilot, lambda: component_state(app, "connector") == "stopped", what="the refresh")


class TestHealthStrip:
    async def test_every_component_has_a_chip_with_its_state(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: component_state(console.app, "mt5_bridge"), what="first status")
            assert {name: text(console.app, f"#chip-{name}") for name in CHIPS} == CHIPS
            assert all(label(console.app, f"#chip-{name}").has_class("-ok") for name in CHIPS)
            assert text(console.app, "#health-warning") == ""

    async def test_stopping_the_connector_while_live_turns_its_chip_and_the_warning_red(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await stop_connector_while_live(pilot, plant_server)
            assert text(console.app, "#chip-connector") == "connector down"
            assert label(console.app, "#chip-connector").has_class("-bad")
            assert text(console.app, "#health-warning") == "▲ LIVE with connector not running"
            assert label(console.app, "#health-warning").has_class("-alarm")
            # In dry-run a component may be down on purpose: no warning.
            plant_server.server.call(plant_server.plant.execute, "dry-run-on", "orchestrator", CommandParams())
            status_screen(console.app).refresh_status()
            await wait_until(pilot, lambda: text(console.app, "#pill-mode") == "Mode DRY-RUN", what="dry-run")
            assert text(console.app, "#health-warning") == ""
            assert not label(console.app, "#health-warning").has_class("-alarm")
            assert text(console.app, "#chip-connector") == "connector down"

    async def test_strip_and_table_dim_while_disconnected(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: component_state(console.app, "mt5_bridge"), what="first status")
            strip = status_screen(console.app).query_one(HealthStrip)
            assert not strip.has_class("-stale")

            async def refused(request: httpx.Request) -> httpx.Response:
                raise httpx.ConnectError("connection refused", request=request)

            console.transport.handle_async_request = refused  # type: ignore[method-assign]
            status_screen(console.app).refresh_status()
            await wait_until(pilot, lambda: console.app.connection is not ConnectionState.CONNECTED, what="the loss")
            assert strip.has_class("-stale")
            assert status_screen(console.app).has_class("-stale")
            chip = label(console.app, "#chip-orchestrator")
            assert chip.styles.text_opacity < 1
            assert text(console.app, "#chip-orchestrator") == "orch up"  # the last state read, dimmed

    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_live_with_the_connector_down(
        self,
        snap_compare,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        size: tuple[int, int],
    ) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await stop_connector_while_live(pilot, plant_server)

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)
