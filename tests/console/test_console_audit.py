"""Audit screen: newest page first, text filter, refresh key, page limit."""

from collections.abc import Callable

from console_harness import ConsoleUnderTest, PlantServer, component_state, select_component, wait_until
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console.screens.audit import AuditScreen


def audit_screen(console: ConsoleUnderTest) -> AuditScreen:
    screen = console.app.screen
    assert isinstance(screen, AuditScreen)
    return screen


def rows(console: ConsoleUnderTest) -> list[list[str]]:
    table = audit_screen(console).query_one("#audit", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def restart_then_open_audit(pilot: Pilot, console: ConsoleUnderTest) -> None:
    """An operator restarts the execution engine by keys, then presses 2."""
    await select_component(pilot, "execution_engine")
    await pilot.press("r")
    await wait_until(pilot, lambda: len(console.app.screen_stack) == 2, what="the confirm dialog")
    await pilot.press("y")
    await wait_until(pilot, lambda: component_state(console.app, "execution_engine") == "restarting")
    await pilot.press("2")
    await wait_until(pilot, lambda: isinstance(console.app.screen, AuditScreen) and rows(console), what="audit rows")


class TestAuditScreen:
    def test_snapshot_audit_screen(self, snap_compare, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await restart_then_open_audit(pilot, console)
            console.app.clear_notifications()

        assert snap_compare(console.app, terminal_size=(80, 24), run_before=run_before)

    async def test_newest_entries_first_with_who_what_and_request_id(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await restart_then_open_audit(pilot, console)
            table = rows(console)
            # time, principal, action, target, outcome, request id — newest first.
            assert table[0][2] == "GET /ops/status"  # the refresh after executing
            confirm = next(row for row in table if row[2] == "command.confirm")
            assert confirm[1:5] == ["env:OPS_API_TOKEN", "command.confirm", "execution_engine", "200 ok"]
            request = next(row for row in table if row[2] == "command.request")
            assert table.index(request) > table.index(confirm)
            sent_ids = {r.request_id for r in console.transport.requests}
            assert {row[5] for row in table} <= sent_ids
            assert confirm[5] in sent_ids

    async def test_filter_narrows_rows_by_text(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await restart_then_open_audit(pilot, console)
            everything = rows(console)
            await pilot.press("slash", *"confirm engine")
            filtered = rows(console)
            assert [row[2] for row in filtered] == ["command.confirm"]
            assert len(everything) > len(filtered)
            assert audit_screen(console).query_one("#filter").border_title.startswith("1 of the newest")
            await pilot.press("enter")  # back to the table; keys work again
            await pilot.press("ctrl+u")  # not bound on the table: the filter keeps its text
            assert len(rows(console)) == 1

    async def test_detail_line_shows_the_selected_entry(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await restart_then_open_audit(pilot, console)
            await pilot.press("slash", *"confirm", "enter")
            detail = str(audit_screen(console).query_one("#audit-detail", Static).content)
            assert "POST /ops/command -> 200" in detail
            assert '"command": "restart"' in detail
            assert '"result": "restarting"' in detail

    async def test_refresh_key_loads_entries_made_since(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_until(pilot, lambda: isinstance(console.app.screen, AuditScreen) and rows(console))
            before = len(rows(console))
            other, _ = plant_server.client()
            async with other:
                await other.runbook()
            await pilot.press("r")
            await wait_until(pilot, lambda: len(rows(console)) > before, what="the refreshed page")
            assert rows(console)[0][2] == "GET /ops/runbook"

    async def test_palette_offers_the_screens_actions(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_until(pilot, lambda: isinstance(console.app.screen, AuditScreen) and rows(console))
            commands = {c.title: c for c in console.app.get_system_commands(console.app.screen)}
            assert {"Status screen", "Audit screen", "Refresh audit", "Filter audit", "Quit"} <= commands.keys()
            assert "Restart selected component" not in commands  # status commands belong to the status screen
            commands["Filter audit"].callback()
            await pilot.pause()
            assert console.app.focused is audit_screen(console).query_one("#filter")
            commands["Status screen"].callback()
            await wait_until(pilot, lambda: console.app.current_mode == "status", what="the status screen")

    async def test_asks_for_one_page_of_at_most_500(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console(audit_limit=10_000)
        async with console.app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_until(pilot, lambda: any(r.path == "/ops/audit" for r in console.transport.requests))
            queries = [r.query for r in console.transport.requests if r.path == "/ops/audit"]
            assert queries == ["limit=500"]
            await wait_until(pilot, lambda: rows(console), what="rows")

    async def test_server_refusal_is_shown_not_raised(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        # A token without ops:read can log in (whoami) but not read the audit.
        token = plant_server.create_token("runbooks-only", "runbooks:read")
        console = make_console(token)
        async with console.app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_until(pilot, lambda: "403" in str(audit_screen(console).query_one("#filter").border_title))
            assert rows(console) == []
