"""Audit screen: the newest page of audit entries (never more than 500), filterable by text, with the selected
entry's full record underneath.

Typing in the filter narrows the loaded page at once; submitting it (enter) asks the server to search the whole log
for those words. `c` toggles a changes-only view that leaves out reads (GET, HEAD, OPTIONS) — mostly the consoles'
own status polls."""

import json
from collections.abc import Iterable

from textual import on, work
from textual.app import SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from console.connection import ConnectionState
from console.messages import ConnectionLost
from console.screens.ops_screen import OpsScreen
from shared.control import AuditEntry
from shared.errors import OpsClientError, ServerUnavailable


def entry_text(entry: AuditEntry) -> str:
    """Everything the filter matches against, lower-cased: what the server's search looks in (the detail JSON too,
    written as the server stores it, so a command's name, params and result match) plus method and status."""
    fields = (
        entry.principal or "",
        entry.action,
        entry.target or "",
        entry.outcome,
        str(entry.status),
        entry.request_id,
        entry.method,
        entry.path,
        json.dumps(entry.detail, sort_keys=True, separators=(",", ":")) if entry.detail else "",
    )
    return " ".join(fields).lower()


def matches(entry: AuditEntry, text: str) -> bool:
    """Every whitespace-separated word of `text` occurs somewhere in the entry."""
    haystack = entry_text(entry)
    return all(word in haystack for word in text.lower().split())


class AuditScreen(OpsScreen):
    HEADING = "Audit"
    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="audit.refresh"),
        Binding("slash", "focus_filter", "Filter", id="audit.filter"),
        Binding("c", "toggle_changes", "Changes only", id="audit.changes"),
        Binding("escape", "focus_table", "Back to the table", show=False, id="audit.table"),
    ]

    entries: reactive[list[AuditEntry]] = reactive(list, always_update=True)
    filter_text: reactive[str] = reactive("")
    problem: reactive[str] = reactive("")
    changes_only: reactive[bool] = reactive(False, init=False)
    """Load only entries that change something: no GET/HEAD/OPTIONS reads."""

    def __init__(self) -> None:
        super().__init__()
        self._filter = Input(placeholder="/ filter: action, target, principal, outcome, request id", id="filter")
        self._table: DataTable[str] = DataTable(id="audit", cursor_type="row", zebra_stripes=True)
        self._detail = Static(id="audit-detail", markup=False)
        self._server_query = ""
        """The words the server searches for: the filter text as last submitted ('' for the newest page)."""
        self._loaded: tuple[str, bool] = ("", False)
        """(server query, changes only) that `entries` were loaded with."""

    def compose_body(self) -> Iterable[Widget]:
        yield self._filter
        yield self._table
        yield self._detail

    def on_mount(self) -> None:
        # Widths fit 80 columns up to the request id, which the detail line below the table shows in full.
        self._table.add_column("UTC", key="at", width=8)
        self._table.add_column("Principal", key="principal", width=12)
        self._table.add_column("Action", key="action", width=15)
        self._table.add_column("Target", key="target", width=16)
        self._table.add_column("Outcome", key="outcome", width=16)
        self._table.add_column("Request ID", key="request_id")
        self.watch(self.ops, "connection", self._on_connection, init=False)
        self._table.focus()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def _on_connection(self, state: ConnectionState) -> None:
        if state is ConnectionState.CONNECTED and self.is_current:
            self.load_page()

    def action_refresh(self) -> None:
        if self.ops.connection is ConnectionState.CONNECTED:
            self.load_page()

    def action_toggle_changes(self) -> None:
        self.changes_only = not self.changes_only

    def watch_changes_only(self) -> None:
        self._show_count()
        if self.is_mounted:
            self.action_refresh()

    def action_focus_filter(self) -> None:
        self._filter.focus()

    def action_focus_table(self) -> None:
        self._table.focus()

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Refresh audit", "Load the newest page of audit entries again (key r)", self.action_refresh)
        yield SystemCommand(
            "Filter audit", "Words entries must contain; enter searches the whole log (key /)", self.action_focus_filter
        )
        yield SystemCommand(
            "Show all audit entries" if self.changes_only else "Changes only in audit",
            "Show reads again (key c)" if self.changes_only else "Leave out GET/HEAD/OPTIONS reads (key c)",
            self.action_toggle_changes,
        )

    @work(exclusive=True, group="audit")
    async def load_page(self) -> None:
        query, changes_only = self._server_query, self.changes_only
        try:
            response = await self.ops.client.audit(self.ops.audit_limit, q=query or None, changes_only=changes_only)
        except ServerUnavailable as exc:
            self.post_message(ConnectionLost(str(exc)))
            return
        except OpsClientError as exc:
            self.problem = str(exc)
            return
        self._loaded = (query, changes_only)
        self.problem = ""
        self.entries = response.results

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

    def _visible(self) -> list[AuditEntry]:
        return [e for e in self.entries if matches(e, self.filter_text)]

    def _fill_table(self) -> None:
        table = self._table
        table.clear()
        for entry in self._visible():
            table.add_row(
                entry.at.strftime("%H:%M:%S"),
                entry.principal or "-",
                entry.action,
                entry.target or "-",
                # An intent entry (written before a command runs) has no HTTP status yet.
                f"{entry.status} {entry.outcome}" if entry.status else entry.outcome,
                entry.request_id,
                key=str(entry.entry_id),
            )
        self._show_count()
        self._show_detail()

    def _show_count(self) -> None:
        if self.problem:
            self._filter.border_title = self.problem
        else:
            self._filter.border_title = self._count_line()
        self._filter.set_class(bool(self.problem), "-problem")

    def _count_line(self) -> str:
        """What the table shows, said of the page as loaded (query and view), not as requested."""
        shown, total = self._table.row_count, len(self.entries)
        query, changes_only = self._loaded
        only = ", changes only" if changes_only else ""
        if query:
            noun = "entry" if total == 1 else "entries"
            line = f"{total} {noun} matching {query!r} (server search{only})"
            if shown != total:
                line = f"{shown} of {line}"
        else:
            line = f"{shown} of the newest {total} entries (page limit {self.ops.audit_limit}{only})"
        if (self._server_query, self.changes_only) != self._loaded:
            line += " · loading…"
        return line

    @on(DataTable.RowHighlighted, "#audit")
    def _row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        entry = self._highlighted()
        if entry is None:
            self._detail.update("No entry selected.")
            return
        detail = json.dumps(entry.detail, sort_keys=True) if entry.detail else "{}"
        self._detail.update(
            f"#{entry.entry_id} {entry.at:%Y-%m-%d %H:%M:%S} {entry.method} {entry.path} -> {entry.status}\n"
            f"request {entry.request_id} · detail {detail}"
        )

    def _highlighted(self) -> AuditEntry | None:
        table = self._table
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        entry_id = int(str(row_key.value))
        return next((e for e in self.entries if e.entry_id == entry_id), None)
