"""Audit screen: newest first with a verb column, date and time, columns that widen with the terminal; the
consoles' own polls hidden by default; text filter (local as typed, server search on enter, escape clears it);
changes-only view; live tail at the top that keeps the cursor; paging back with the server's cursor; a scrollable
detail pane."""

from collections.abc import Callable
from urllib.parse import parse_qs

import pytest
from console_harness import (
    ConsoleUnderTest,
    PlantServer,
    component_state,
    palette_titles,
    select_component,
    wait_until,
)
from textual.pilot import Pilot
from textual.widgets import Input

import console.screens.audit as audit_module
from console.connection import ConnectionState
from console.screens.audit import AuditScreen
from console.screens.status import StatusScreen
from console.widgets.audit_detail import AuditDetail
from console.widgets.nav_table import NavTable

RESTART = [
    ["restart execution_engine", "confirm", "200 ok"],
    ["restart execution_engine", "execute", "executing"],
    ["restart execution_engine", "ask", "200 ok"],
]


@pytest.fixture(autouse=True)
def no_timed_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """No live tail unless a test asks for one by setting REFRESH_SECONDS itself."""
    monkeypatch.setattr(StatusScreen, "REFRESH_SECONDS", 3600.0)
    monkeypatch.setattr(AuditScreen, "REFRESH_SECONDS", 3600.0)


def audit_screen(console: ConsoleUnderTest) -> AuditScreen:
    screen = console.app.screen
    assert isinstance(screen, AuditScreen)
    return screen


def table(console: ConsoleUnderTest) -> NavTable[str]:
    return audit_screen(console).query_one("#audit", NavTable)


def rows(console: ConsoleUnderTest) -> list[list[str]]:
    t = table(console)
    return [[str(cell) for cell in t.get_row_at(i)] for i in range(t.row_count)]


def what(console: ConsoleUnderTest) -> list[list[str]]:
    """Verb, step and outcome of every row."""
    return [row[2:5] for row in rows(console)]


def filter_title(console: ConsoleUnderTest) -> str:
    return str(audit_screen(console).query_one("#filter").border_title)


def audit_queries(console: ConsoleUnderTest) -> list[dict[str, list[str]]]:
    """The query of every GET /ops/audit the console sent, parsed, in order (`changes_only=false`, the default, left
    out)."""
    queries = [parse_qs(r.query) for r in console.transport.requests if r.path == "/ops/audit"]
    return [{k: v for k, v in q.items() if (k, v) != ("changes_only", ["false"])} for q in queries]


async def open_audit(pilot: Pilot, console: ConsoleUnderTest) -> None:
    await pilot.press("2")
    await wait_until(pilot, lambda: isinstance(console.app.screen, AuditScreen) and rows(console), what="audit rows")


async def restart_then_open_audit(pilot: Pilot, console: ConsoleUnderTest) -> None:
    """An operator restarts the execution engine by keys, then presses 2."""
    await select_component(pilot, "execution_engine")
    await pilot.press("r")
    await wait_until(pilot, lambda: len(console.app.screen_stack) == 2, what="the confirm dialog")
    await pilot.press("y")
    await wait_until(pilot, lambda: component_state(console.app, "execution_engine") == "restarting")
    await open_audit(pilot, console)


async def read_playbook(plant_server: PlantServer, times: int = 1) -> None:
    """Another operator's client reads the playbook `times` times: entries that are not polls."""
    other, _ = plant_server.client()
    async with other:
        for _ in range(times):
            await other.control.runbook()


class TestAuditTable:
    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_audit_screen(
        self, snap_compare, make_console: Callable[..., ConsoleUnderTest], size: tuple[int, int]
    ) -> None:
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await restart_then_open_audit(pilot, console)
            console.app.clear_notifications()

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)

    async def test_commands_read_as_verbs_with_date_and_time(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await restart_then_open_audit(pilot, console)
            assert what(console)[:3] == RESTART
            assert what(console)[3] == ["who am I", "read", "200 ok"]
            assert not any("command." in cell for row in rows(console) for cell in row)
            confirm = rows(console)[0]
            assert confirm[0] == "01-01 09:00:00"  # month-day and time at 80 columns
            assert confirm[1] == "env:OPS_API_TOKEN"

    async def test_columns_widen_with_the_terminal(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await restart_then_open_audit(pilot, console)
            narrow = {str(c.key.value): c.width for c in table(console).columns.values()}
            assert "request_id" not in narrow
            await pilot.resize_terminal(160, 40)
            await wait_until(pilot, lambda: "request_id" in {str(k.value) for k in table(console).columns})
            wide = {str(c.key.value): c.width for c in table(console).columns.values()}
            assert wide["verb"] > narrow["verb"]
            assert wide["principal"] > narrow["principal"]
            assert rows(console)[0][0] == "2026-01-01 09:00:00"
            assert rows(console)[0][5] in {r.request_id for r in console.transport.requests}
            assert what(console)[:3] == RESTART  # the same rows, cursor and all

    async def test_polls_are_hidden_until_p(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await restart_then_open_audit(pilot, console)
            assert not any(row[2] in ("read status", "read audit") for row in rows(console))
            assert "polls hidden (p)" in filter_title(console)
            await pilot.press("p")
            assert what(console)[0] == ["read status", "read", "200 ok"]  # the refresh after executing
            assert "polls hidden" not in filter_title(console)
            await pilot.press("p")
            assert what(console)[:3] == RESTART


class TestAuditFilter:
    async def test_filter_narrows_rows_and_escape_clears_it(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await restart_then_open_audit(pilot, console)
            everything = rows(console)
            await pilot.press("slash", *"confirm engine")
            assert what(console) == RESTART[:1]
            assert filter_title(console).startswith("1 of ")
            await pilot.press("enter")  # searches the server, back on the table
            await wait_until(pilot, lambda: "matching 'confirm engine'" in filter_title(console), what="the search")
            await pilot.press("escape")
            await wait_until(pilot, lambda: "matching" not in filter_title(console), what="the newest page")
            assert audit_screen(console).query_one("#filter", Input).value == ""
            assert audit_queries(console)[-1] == {"limit": ["200"]}
            assert rows(console)[:3] == everything[:3]
            assert console.app.focused is table(console)

    async def test_submitted_filter_searches_the_whole_log(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # An old runbook read, then more status reads than the pages read at first (5 of 5) hold.
        await read_playbook(plant_server)
        other, _ = plant_server.client()
        async with other:
            for _ in range(30):
                await other.control.status()
        monkeypatch.setattr(AuditScreen, "PAGE_SIZE", 5)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: console.app.connection is ConnectionState.CONNECTED)
            await pilot.press("2")
            await wait_until(pilot, lambda: "older: o" in filter_title(console), what="the first pages")
            await pilot.press("slash", *"runbook")
            assert rows(console) == []  # typing filters what is loaded
            before = len(audit_queries(console))
            await pilot.press("enter")
            await wait_until(pilot, lambda: "matching" in filter_title(console), what="the server search")
            assert audit_queries(console)[before] == {"limit": ["5"], "q": ["runbook"]}
            assert [row[2] for row in rows(console)] == ["read runbook"]
            assert console.app.focused is table(console)
            # Search and changes-only combine.
            await pilot.press("c")
            await wait_until(pilot, lambda: "changes only" in filter_title(console), what="changes-only search")
            assert audit_queries(console)[-1] == {"limit": ["5"], "q": ["runbook"], "changes_only": ["true"]}
            assert rows(console) == []

    async def test_changes_key_leaves_out_reads(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await restart_then_open_audit(pilot, console)
            sent = len(audit_queries(console))
            await pilot.press("c")
            await wait_until(pilot, lambda: "changes only" in filter_title(console), what="the changes-only page")
            assert audit_queries(console)[sent:] == [{"limit": ["200"], "changes_only": ["true"]}]
            assert what(console) == RESTART
            assert {e.method for e in audit_screen(console).entries} == {"POST"}
            assert filter_title(console) == "3 of 3 entries, changes only · all history"
            await pilot.press("c")
            await wait_until(pilot, lambda: "changes only" not in filter_title(console), what="the full page")
            assert audit_queries(console)[-1] == {"limit": ["200"]}


class TestAuditPaging:
    async def test_new_entries_appear_on_top_and_the_cursor_stays(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await restart_then_open_audit(pilot, console)
            await pilot.press("j")
            selected = table(console).cursor_key
            assert what(console)[1] == RESTART[1]
            monkeypatch.setattr(AuditScreen, "REFRESH_SECONDS", 0.1)
            audit_screen(console).set_interval(0.1, audit_screen(console)._tail_tick)
            rebuilds = audit_screen(console).table_rebuilds
            await pilot.pause(0.4)
            # Only this console's own poll of the audit arrived meanwhile: hidden, so the table is left alone.
            assert audit_screen(console).table_rebuilds == rebuilds
            await read_playbook(plant_server)
            await wait_until(pilot, lambda: rows(console)[0][2] == "read runbook", what="the new entry")
            assert table(console).cursor_key == selected
            assert what(console)[table(console).cursor_row] == RESTART[1]

    async def test_reaching_the_end_loads_older_pages_with_the_servers_cursor(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await read_playbook(plant_server, 30)
        monkeypatch.setattr(AuditScreen, "PAGE_SIZE", 10)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: console.app.connection is ConnectionState.CONNECTED)
            await open_audit(pilot, console)
            # Pages are read until 20 rows show.
            await wait_until(pilot, lambda: len(rows(console)) >= 20, what="a screenful")
            queries = audit_queries(console)
            assert queries[0] == {"limit": ["10"]}
            assert all("cursor" in q for q in queries[1:])
            assert "older: o" in filter_title(console)
            for _ in range(3):
                await pilot.press("end")
                await pilot.pause(0.2)
            await wait_until(pilot, lambda: "all history" in filter_title(console), what="all history")
            verbs = [row[2] for row in rows(console)]
            assert verbs == ["who am I"] + ["read runbook"] * 30
            ids = [e.entry_id for e in audit_screen(console).entries]
            assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids))

    async def test_a_tail_beyond_the_cap_starts_again_from_the_newest_page(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await read_playbook(plant_server, 30)
        monkeypatch.setattr(AuditScreen, "PAGE_SIZE", 10)
        monkeypatch.setattr(audit_module, "MAX_ENTRIES", 35)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: console.app.connection is ConnectionState.CONNECTED)
            await open_audit(pilot, console)
            await wait_until(pilot, lambda: len(rows(console)) >= 20, what="a screenful")
            screen = audit_screen(console)
            assert 20 <= len(screen.entries) <= 30
            await read_playbook(plant_server, 6)
            screen.tail()
            await wait_until(pilot, lambda: len(screen.entries) == 10, what="the newest page alone")
            assert screen.next_cursor is not None
            assert "older: o" in filter_title(console)


class TestAuditDetail:
    async def test_detail_pane_shows_the_whole_entry_and_scrolls_at_80x24(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await restart_then_open_audit(pilot, console)
            detail = audit_screen(console).query_one(AuditDetail)
            assert detail.entry is not None and detail.entry.action == "command.confirm"
            assert detail.entry.detail["result"] == "restarting"
            await pilot.press("enter")
            assert console.app.focused is detail
            await pilot.pause()
            assert detail.max_scroll_y > 0
            await pilot.press("down", "down")
            assert detail.scroll_y > 0
            await pilot.press("escape")
            assert console.app.focused is table(console)


class TestAuditProblems:
    async def test_server_refusal_is_shown_not_raised(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        # A token without ops:read can log in (whoami) but not read the audit.
        token = plant_server.create_token("runbooks-only", "runbooks:read")
        console = make_console(token)
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: console.app.connection is ConnectionState.CONNECTED)
            await pilot.press("2")
            await pilot.pause(0.3)
            assert not isinstance(console.app.screen, AuditScreen) or rows(console) == []

    async def test_a_500_is_shown_in_place_without_reconnecting(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        detail = "audit entry 2 cannot be read; run 'ops-server audit verify'"
        console.transport.answer("/ops/audit", 500, {"error": "data_corrupted", "detail": detail})
        async with console.app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: console.app.connection is ConnectionState.CONNECTED, what="connected")
            await pilot.press("2")
            await wait_until(pilot, lambda: "udit entry 2 cannot be read" in filter_title(console), what="the detail")
            assert "data_corrupted" not in filter_title(console)
            await pilot.pause(0.5)
            # Shown once, in place: no reconnect (one whoami), no reload loop (one audit request).
            assert console.transport.sent("GET", "/ops/whoami") == 1
            assert console.transport.sent("GET", "/ops/audit") == 1
            assert console.app.connection is ConnectionState.CONNECTED
            assert rows(console) == []
            await pilot.press("r")
            await wait_until(pilot, lambda: console.transport.sent("GET", "/ops/audit") == 2, what="the refresh")

    async def test_palette_offers_the_screens_keys(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_audit(pilot, console)
            titles = palette_titles(console.app)
            assert {"Refresh", "Filter", "Changes", "Polls", "Older"} <= {t.rsplit(": ", 1)[-1] for t in titles}
            assert not any("Restart" in t for t in titles)


async def test_resizing_keeps_the_too_small_notice_of_every_screen(
    make_console: Callable[..., ConsoleUnderTest],
) -> None:
    """The screen's own resize handler (column widths) runs besides OpsScreen's, not instead of it."""
    console = make_console()
    async with console.app.run_test(size=(80, 24)) as pilot:
        await open_audit(pilot, console)
        await pilot.resize_terminal(59, 24)
        await pilot.pause(0.2)
        assert audit_screen(console).has_class("-too-small")
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.2)
        assert not audit_screen(console).has_class("-too-small")
        assert "request_id" in {str(k.value) for k in table(console).columns}
