"""End to end: an operator restarts a component from the console of a demo-like server, watches it come back,
and finds the confirmation on the audit screen and in the server's audit trail."""

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from console.app import OpsConsole
from console.screens.audit import AuditScreen
from console.screens.status import StatusScreen
from server.clock import ManualClock
from server.embedded import EmbeddedServer
from server.plant.plant import Plant
from server.settings import Settings
from shared.client import OpsClient

RESTART_SECONDS = 2.0
TOKEN = secrets.token_urlsafe(32)


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[EmbeddedServer, ManualClock]]:
    clock = ManualClock()
    settings = Settings(
        data_dir=tmp_path / "demo", port=0, api_token=TOKEN, restart_seconds=RESTART_SECONDS, plant_tick_seconds=0.5
    )
    server = EmbeddedServer(settings, clock=clock, plant=Plant(clock, seed=7, restart_seconds=RESTART_SECONDS))
    server.start()
    yield server, clock
    server.stop()


def cell(app: OpsConsole, table_id: str, row: str, column: str) -> str:
    table = app.screen_stack[0].query_one(table_id, DataTable)
    try:
        return str(table.get_cell(row, column))
    except CellDoesNotExist:
        return ""


async def until(pilot: Pilot, condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def audit_rows(table: DataTable) -> list[dict[str, str]]:
    """The audit table's rows as {column key: text}, so the test does not depend on the columns' order."""
    keys = [str(key.value) for key in table.columns]
    return [dict(zip(keys, (str(c) for c in table.get_row_at(i)), strict=True)) for i in range(table.row_count)]


async def test_restart_by_keys_then_running_then_audited(
    demo_server: tuple[EmbeddedServer, ManualClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, clock = demo_server
    monkeypatch.setattr(StatusScreen, "REFRESH_SECONDS", 0.2)
    app = OpsConsole(OpsClient(server.url, TOKEN))

    def state(component: str) -> str:
        return cell(app, "#components", component, "state")

    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "running" in state("connector"), "the status table")
        status = app.screen
        assert isinstance(status, StatusScreen)

        await pilot.press("down")  # orchestrator -> connector
        assert status.selected_component == "connector"
        await pilot.press("r")
        await until(pilot, lambda: len(app.screen_stack) == 2, "the confirm dialog")
        await pilot.press("y")
        await until(pilot, lambda: "restarting" in state("connector"), "restarting")

        server.call(clock.advance, RESTART_SECONDS + 1)
        await until(pilot, lambda: "running" in state("connector"), "running again")

        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.screen, AuditScreen), "the audit screen")
        table = app.screen.query_one("#audit", DataTable)
        await until(pilot, lambda: table.row_count > 0, "audit rows")
        confirms = [row for row in audit_rows(table) if row["step"] == "confirm"]
        assert [(row["verb"], row["outcome"]) for row in confirms] == [("restart connector", "200 ok")]

    # The server's own record, through the client's control sub-client: one confirmed restart of the connector.
    async with OpsClient(server.url, TOKEN) as client:
        trail = await client.control.audit(q="command.confirm", changes_only=True)
    assert [(e.action, e.target, e.status) for e in trail.results] == [("command.confirm", "connector", 200)]
