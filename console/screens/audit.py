"""Audit screen: the audit log newest first — a page at a time, older pages loaded as the cursor reaches the end —
with new entries arriving at the top while it is open, and the selected entry's whole record underneath.

Typing in the filter narrows the loaded entries at once; submitting it (enter) asks the server to search the whole
log for those words; `escape` clears it. `c` shows only entries that change something (no reads); `p` shows the
consoles' own status and audit polls, hidden by default because they would bury everything else."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from textual import events, on, work
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Input

from console.connection import ConnectionState
from console.problems import read
from console.screens.audit_words import is_poll, matches, outcome, step, verb
from console.screens.ops_screen import OpsScreen
from console.widgets.audit_detail import AuditDetail
from console.widgets.nav_table import NavTable
from shared.control import AuditEntry, AuditResponse

FILL_ROWS = 20
"""After a load, older pages are fetched until this many rows show (or history ends), so hiding polls never leaves
an empty table over a full log."""
FILL_PAGES = 5
"""...but never more than this many pages for one load: the operator pages on with the cursor or `o`."""
MAX_ENTRIES = 2000
"""The live tail adds an entry every few seconds (this console's own audit reads among them): beyond this many the
screen starts again from the newest page, so a screen left open for a day stays small."""
WIDE = 110
"""From this terminal width on, dates show the year and the request id gets a column."""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int


def columns_for(width: int) -> tuple[Column, ...]:
    """Column widths for a terminal `width` wide: what does not fit at 80 (the request id) comes with width, and
    the verb, who and outcome columns share what is left."""
    wide = width >= WIDE
    when, step_width = (19 if wide else 14), 7
    count = 6 if wide else 5
    room = width - 2 * count - 2 - when - step_width  # each column pads 1 on both sides; 2 for the scrollbar
    request = min(32, max(10, room // 5)) if wide else 0
    room -= request
    who = max(10, min(24, room * 27 // 100))
    result = max(11, min(20, room // 5))
    columns = [
        Column("at", "When (UTC)", when),
        Column("principal", "Who", who),
        Column("verb", "Verb", max(16, room - who - result)),
        Column("step", "Step", step_width),
        Column("outcome", "Outcome", result),
    ]
    if wide:
        columns.append(Column("request_id", "Request ID", request))
    return tuple(columns)


def row_cells(entry: AuditEntry, columns: tuple[Column, ...]) -> list[str]:
    date_format = "%Y-%m-%d %H:%M:%S" if columns[0].width >= 19 else "%m-%d %H:%M:%S"
    cells = {
        "at": entry.at.strftime(date_format),
        "principal": entry.principal or "-",
        "verb": verb(entry),
        "step": step(entry),
        "outcome": outcome(entry),
        "request_id": entry.request_id,
    }
    return [cells[c.key] for c in columns]


class AuditScreen(OpsScreen):
    HEADING = "Audit"
    CSS_PATH = "audit.tcss"
    PAGE_SIZE: ClassVar[int] = 200
    """Entries per request (the server allows at most 500)."""
    REFRESH_SECONDS: ClassVar[float] = 3.0
    """How often new entries are fetched for the top of the table while the screen is shown."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh", id="audit.refresh", tooltip="Load the newest page again"),
        Binding(
            "slash",
            "focus_filter",
            "Filter",
            id="audit.filter",
            tooltip="Words entries must contain; enter searches the whole log",
        ),
        Binding("c", "toggle_changes", "Changes", id="audit.changes", tooltip="Only entries that change something"),
        Binding("p", "toggle_polls", "Polls", id="audit.polls", tooltip="Show or hide the consoles' own polls"),
        Binding("o", "older", "Older", id="audit.older", tooltip="Load the next older page"),
        Binding("escape", "escape", "Clear", show=False, id="audit.escape", tooltip="Clear the filter"),
    ]

    entries: reactive[list[AuditEntry]] = reactive(list, always_update=True)
    """Every entry loaded, newest first: the newest page, what the live tail added on top, older pages below."""
    filter_text: reactive[str] = reactive("", init=False)
    problem: reactive[str] = reactive("", init=False)
    changes_only: reactive[bool] = reactive(False, init=False)
    """Load only entries that change something: no GET/HEAD/OPTIONS reads."""
    show_polls: reactive[bool] = reactive(False, init=False)

    def __init__(self) -> None:
        super().__init__()
        self._filter = Input(placeholder="/ filter: verb, who, outcome, request id", id="filter")
        self._table: NavTable[str] = NavTable(id="audit")
        self._detail = AuditDetail(id="audit-detail")
        self._columns = columns_for(80)
        self._server_query = ""
        """The words the server searches for: the filter text as last submitted ('' for the newest page)."""
        self._loaded: tuple[str, bool] = ("", False)
        """(server query, changes only) that `entries` were loaded with."""
        self.next_cursor: str | None = None
        """Where the next older page starts (the server's keyset cursor); None once all history is loaded."""
        self.table_rebuilds = 0
        """How often the table was cleared and refilled (tests read it: an idle tail must not do it)."""

    def compose_body(self) -> Iterable[Widget]:
        yield self._filter
        yield self._table
        yield self._detail

    def on_mount(self) -> None:
        self._columns = columns_for(self.size.width or 80)
        self._add_columns()
        self.watch(self.ops, "connection", self._on_connection, init=False)
        self.set_interval(self.REFRESH_SECONDS, self._tail_tick)
        self._show_count()
        self._table.focus()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def on_resize(self, event: events.Resize) -> None:
        columns = columns_for(event.size.width)
        if columns != self._columns:
            self._columns = columns
            self._table.clear(columns=True)
            self._add_columns()
            self._fill_table()

    def _add_columns(self) -> None:
        for column in self._columns:
            self._table.add_column(column.label, key=column.key, width=column.width)

    def _on_connection(self, state: ConnectionState) -> None:
        if state is ConnectionState.CONNECTED and self.is_current:
            self.load_page()

    # --- actions ---

    def action_refresh(self) -> None:
        if self.ops.connection is ConnectionState.CONNECTED:
            self.load_page()

    def action_toggle_changes(self) -> None:
        self.changes_only = not self.changes_only

    def action_toggle_polls(self) -> None:
        self.show_polls = not self.show_polls

    def action_older(self) -> None:
        if self.next_cursor is None:
            self.notify("All history is loaded.", timeout=3)
            return
        self.load_older()

    def action_focus_filter(self) -> None:
        self._filter.focus()

    def action_escape(self) -> None:
        """Out of the detail pane back to the table; elsewhere clear the filter (and the server search)."""
        if self.focused is self._detail:
            self._table.focus()
            return
        self._table.focus()
        searched = bool(self._server_query)
        self._filter.value = ""
        self.filter_text = self._server_query = ""
        if searched:
            self.action_refresh()

    def watch_changes_only(self) -> None:
        self._show_count()
        self.action_refresh()

    def watch_show_polls(self) -> None:
        self._fill_table()

    # --- loading ---

    async def _read(self, *, cursor: str | None = None) -> AuditResponse | None:
        """One page as the view asks for it; None when it failed (said in place, or by the connection monitor)."""
        page = self.ops.client.control.audit(
            self.PAGE_SIZE, q=self._server_query or None, changes_only=self.changes_only, cursor=cursor
        )
        response = await read(self, page, title="Audit", on_problem=self._set_problem)
        if response is not None:
            self.problem = ""
        return response

    def _set_problem(self, problem: str) -> None:
        self.problem = problem

    @work(exclusive=True, group="audit")
    async def load_page(self) -> None:
        """The newest page again, for the current search and view; then older pages until the table shows enough."""
        loaded = (self._server_query, self.changes_only)
        response = await self._read()
        if response is None:
            return
        self._loaded = loaded
        self.next_cursor = response.next_cursor
        self.entries = response.results
        for _ in range(FILL_PAGES - 1):
            if self.next_cursor is None or self._table.row_count >= FILL_ROWS:
                break
            if not await self._append_older():
                break

    @work(exclusive=True, group="older")
    async def load_older(self) -> None:
        await self._append_older()

    async def _append_older(self) -> bool:
        cursor, loaded = self.next_cursor, (self._server_query, self.changes_only)
        if cursor is None:
            return False
        response = await self._read(cursor=cursor)
        # A new search or view started meanwhile: this page belongs to the old one.
        if response is None or loaded != self._loaded or cursor != self.next_cursor:
            return False
        known = {e.entry_id for e in self.entries}
        older = [e for e in response.results if e.entry_id not in known]
        self.next_cursor = response.next_cursor
        self.set_reactive(AuditScreen.entries, self.entries + older)
        for entry in older:
            if self._visible(entry):
                self._table.add_row(*row_cells(entry, self._columns), key=str(entry.entry_id))
        self._show_count()
        return True

    def _tail_tick(self) -> None:
        if not self.is_current or self.ops.connection is not ConnectionState.CONNECTED:
            return
        if not self._loading({"audit", "tail"}):
            self.tail()

    @work(exclusive=True, group="tail")
    async def tail(self) -> None:
        """New entries go on top; the cursor stays on the entry it was on."""
        loaded = self._loaded
        if (self._server_query, self.changes_only) != loaded:
            return
        response = await self._read()
        if response is None or loaded != self._loaded:
            return
        newest = self.entries[0].entry_id if self.entries else 0
        new = [e for e in response.results if e.entry_id > newest]
        if not new:
            return
        gap = self.entries and len(new) == len(response.results) == self.PAGE_SIZE
        if gap or len(self.entries) + len(new) > MAX_ENTRIES:
            # More arrived than a page holds (the loaded entries no longer join up with the newest page), or the
            # screen has been open so long that it holds too much: start again from the newest page.
            self.next_cursor = response.next_cursor
            self.entries = response.results
            return
        self.set_reactive(AuditScreen.entries, new + self.entries)
        if any(self._visible(e) for e in new):
            self._fill_table()
        else:
            self._show_count()  # hidden arrivals (polls) change only the counts

    def _loading(self, groups: set[str]) -> bool:
        """A worker of one of these groups is still reading."""
        return any(w.node is self and w.group in groups and w.is_running for w in self.workers)

    # --- the filter ---

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        """Search the whole log on the server for the filter's words (none: the newest page again)."""
        self._server_query = " ".join(event.value.split())
        self._show_count()
        self.action_refresh()
        self._table.focus()

    def watch_entries(self) -> None:
        self._fill_table()

    def watch_filter_text(self) -> None:
        self._fill_table()

    def watch_problem(self) -> None:
        self._show_count()

    # --- the table ---

    def _visible(self, entry: AuditEntry) -> bool:
        if not self.show_polls and is_poll(entry):
            return False
        return matches(entry, self.filter_text)

    def _fill_table(self) -> None:
        """Refill the table from `entries`, keeping the cursor on the entry it was on."""
        table = self._table
        selected = table.cursor_key
        table.clear()
        self.table_rebuilds += 1
        for entry in self.entries:
            if self._visible(entry):
                table.add_row(*row_cells(entry, self._columns), key=str(entry.entry_id))
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected), animate=False)
        self._show_count()
        self._show_detail()

    def _show_count(self) -> None:
        self._filter.border_title = self.problem or self._count_line()
        self._filter.set_class(bool(self.problem), "-problem")

    def _count_line(self) -> str:
        """What the table shows, said of the entries as loaded (query and view), not as requested."""
        shown, total = self._table.row_count, len(self.entries)
        query, changes_only = self._loaded
        noun = "entry" if total == 1 else "entries"
        line = f"{shown} of {total} {noun}"
        if query:
            line += f" matching {query!r}"
        if changes_only:
            line += ", changes only"
        polls = 0 if self.show_polls else sum(1 for e in self.entries if is_poll(e))
        if polls:
            line += f" · {polls} polls hidden (p)"
        line += " · older: o" if self.next_cursor else " · all history"
        if (self._server_query, self.changes_only) != self._loaded:
            line += " · loading…"
        return line

    @on(DataTable.RowHighlighted, "#audit")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()
        # Reaching the last row pages back through history, as scrolling a log does.
        at_end = event.cursor_row == self._table.row_count - 1 and self.next_cursor is not None
        if at_end and not self._loading({"audit", "older"}):
            self.load_older()

    @on(DataTable.RowSelected, "#audit")
    def _row_selected(self) -> None:
        self._detail.focus()

    def _show_detail(self) -> None:
        key = self._table.cursor_key
        entry = None
        if key is not None:
            entry_id = int(key)
            entry = next((e for e in self.entries if e.entry_id == entry_id), None)
        self._detail.show(entry)
