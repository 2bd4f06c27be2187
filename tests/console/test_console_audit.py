"""Audit screen: newest page first, text filter (local as typed, server search on enter), changes-only view,
refresh key, page limit."""

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs

from console_harness import ConsoleUnderTest, PlantServer, component_state, select_component, wait_until
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console.connection import ConnectionState
from console.screens.audit import AuditScreen, entry_text, matches
from shared.control import AuditEntry


def audit_screen(console: ConsoleUnderTest) -> AuditScreen:
    screen = console.app.screen
    assert isinstance(screen, AuditScreen)
    return screen


def rows(console: ConsoleUnderTest) -> list[list[str]]:
    table = audit_screen(console).query_one("#audit", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def filter_title(console: ConsoleUnderTest) -> str:
    return str(audit_screen(console).query_one("#filter").border_title)


def audit_queries(console: ConsoleUnderTest) -> list[dict[str, list[str]]]:
    """The query of every GET /ops/audit the console sent, parsed, in order."""
    return [parse_qs(r.query) for r in console.transport.requests if r.path == "/ops/audit"]


async def restart_then_open_audit(pilot: Pilot, console: ConsoleUnderTest) -> None:
    """An operator restarts the execution engine by keys, then presses 2."""
    await select_component(pilot, "execution_engine")
    await pilot.press("r")
    await wait_until(pilot, lambda: len(console.app.screen_stack) == 2, what="the confirm dialog")
    await pilot.press("y")
    await wait_until(pilot, lambda: component_state(console.app, "execution_engine") == "restarting")
    await pilot.press("2")
    await wait_until(pilot, lambda: isinstance(console.app.screen, AuditScreen) and rows(console), what="audit rows")


def test_entry_text_includes_the_detail_as_the_server_searches_it() -> None:
    entry = AuditEntry(
        entry_id=3,
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        principal="env:OPS_API_TOKEN",
        request_id="req-0007",
        method="POST",
        path="/ops/command",
        action="command.confirm",
        target="mt5_bridge",
        outcome="ok",
        status=200,
        detail={"command": "Restart", "params": {"reason": "Stuck"}, "result": "restarting"},
        prev_hash="0" * 64,
        hash="1" * 64,
    )
    assert '{"command":"restart","params":{"reason":"stuck"},"result":"restarting"}' in entry_text(entry)
    assert matches(entry, "RESTART stuck mt5")
    assert matches(entry, '"command":"restart"')
    assert not matches(entry, "restart dry-run")
    assert not entry_text(entry.model_copy(update={"detail": {}})).endswith("{}")


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

    async def test_changes_key_leaves_out_reads(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await restart_then_open_audit(pilot, console)
            assert any(row[2].startswith("GET ") for row in rows(console))
            sent = len(audit_queries(console))
            await pilot.press("c")
            await wait_until(pilot, lambda: "changes only" in filter_title(console), what="the changes-only page")
            assert audit_queries(console)[sent:] == [{"limit": ["200"], "changes_only": ["true"]}]
            assert [row[2] for row in rows(console)] == ["command.confirm", "command.execute", "command.request"]
            assert {e.method for e in audit_screen(console).entries} == {"POST"}
            assert filter_title(console) == "3 of the newest 3 entries (page limit 200, changes only)"
            # The palette offers the way back; c again shows the reads again.
            commands = {c.title for c in console.app.get_system_commands(console.app.screen)}
            assert "Show all audit entries" in commands
            await pilot.press("c")
            await wait_until(pilot, lambda: "changes only" not in filter_title(console), what="the full page")
            assert audit_queries(console)[-1] == {"limit": ["200"]}
            assert any(row[2].startswith("GET ") for row in rows(console))

    async def test_submitted_filter_searches_the_whole_log(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        # An old runbook read, then enough status reads that a page of 5 no longer holds it.
        other, _ = plant_server.client()
        async with other:
            await other.runbook()
            for _ in range(8):
                await other.status()
        console = make_console(audit_limit=5)
        async with console.app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_until(pilot, lambda: isinstance(console.app.screen, AuditScreen) and rows(console))
            assert len(rows(console)) == 5
            await pilot.press("slash", *"runbook")
            assert rows(console) == []  # typing filters only the loaded page
            assert audit_queries(console) == [{"limit": ["5"]}]
            await pilot.press("enter")
            await wait_until(pilot, lambda: rows(console), what="the server search's rows")
            assert audit_queries(console)[-1] == {"limit": ["5"], "q": ["runbook"]}
            assert [row[2] for row in rows(console)] == ["GET /ops/runbook"]
            assert filter_title(console) == "1 entry matching 'runbook' (server search)"
            assert console.app.focused is audit_screen(console).query_one("#audit", DataTable)
            # Search and changes-only combine; the search is kept until the filter is cleared and submitted.
            await pilot.press("c")
            await wait_until(pilot, lambda: "changes only" in filter_title(console), what="the changes-only search")
            assert audit_queries(console)[-1] == {"limit": ["5"], "q": ["runbook"], "changes_only": ["true"]}
            assert rows(console) == []
            await pilot.press("c")
            await wait_until(pilot, lambda: rows(console), what="the search again")
            await pilot.press("slash", "ctrl+u", "enter")
            await wait_until(pilot, lambda: "server search" not in filter_title(console), what="the newest page")
            assert audit_queries(console)[-1] == {"limit": ["5"]}
            assert len(rows(console)) == 5
            assert "GET /ops/runbook" not in [row[2] for row in rows(console)]

    async def test_server_search_matches_in_the_detail_stay_visible(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        # The server's search also looks in each entry's detail (command name, params, result): the words typed in
        # the filter must not then hide what it found.
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await restart_then_open_audit(pilot, console)
            await pilot.press("slash", *"restart", "enter")
            await wait_until(pilot, lambda: "server search" in filter_title(console), what="the server search")
            assert audit_queries(console)[-1] == {"limit": ["200"], "q": ["restart"]}
            assert [row[2] for row in rows(console)] == ["command.confirm", "command.execute", "command.request"]
            assert filter_title(console) == "3 entries matching 'restart' (server search)"
            # Typing narrows by the detail too: the result the server reported.
            await pilot.press("slash", "ctrl+u", *"restarting")
            assert [row[2] for row in rows(console)] == ["command.confirm"]

    async def test_a_500_is_shown_in_place_without_reconnecting(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        detail = "audit entry 2 cannot be read; run 'ops-server audit verify'"
        console.transport.answer("/ops/audit", 500, {"error": "data_corrupted", "detail": detail})
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: console.app.connection is ConnectionState.CONNECTED, what="connected")
            await pilot.press("2")
            await wait_until(pilot, lambda: detail in filter_title(console), what="the server's detail")
            assert filter_title(console) == f"500 data_corrupted: {detail}"
            await pilot.pause(0.5)
            # Shown once, in place: no reconnect (one whoami), no reload loop (one audit request).
            assert console.transport.sent("GET", "/ops/whoami") == 1
            assert console.transport.sent("GET", "/ops/audit") == 1
            assert console.app.connection is ConnectionState.CONNECTED
            assert rows(console) == []
            # The operator's refresh asks again, once.
            await pilot.press("r")
            await wait_until(pilot, lambda: console.transport.sent("GET", "/ops/audit") == 2, what="the refresh")
            await pilot.pause(0.2)
            assert console.transport.sent("GET", "/ops/audit") == 2
            assert console.transport.sent("GET", "/ops/whoami") == 1
