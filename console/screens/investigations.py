"""Investigations screen: the ops agent's investigations newest first (status, transaction, mode, started, duration,
verdict), a page at a time (`]` next, `[` previous: the server's offset pages, as the contract gives them), filtered
by status (`f`) and by transaction id (`/`, enter asks the server). `n` runs one — on a recent
suspicious deposit or on a typed transaction id — through the confirm dialog. `enter` opens one: its trace as a tree
of steps (each planner decision with the tool and reasoning calls it led to) beside the selected step's input and
output, then its insights, evidence, recommendations and rule draft; `e` exports the trace's HTML page to a file.
`u` resumes an interrupted or failed one. Running investigations update live: the screen polls while any it shows
is running."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Input, Tree

from console.connection import ConnectionState
from console.messages import ConnectionAlive
from console.problems import CONNECTION_ERRORS, describe
from console.screens import investigation_flows
from console.screens.ops_screen import OpsScreen
from console.widgets.agent_format import format_at, format_duration, short_id
from console.widgets.nav_table import NavTable
from console.widgets.run_picker import RunPicker
from console.widgets.step_detail import StepDetail
from console.widgets.trace_export import fetch_trace_html, write_trace
from console.widgets.trace_tree import TraceNode, TraceTree
from shared.agent import (
    INVESTIGATION_STATUSES,
    InvestigationDetail,
    InvestigationPage,
    InvestigationStatus,
    InvestigationSummary,
)
from shared.errors import OpsClientError
from shared.scopes import Scope

STATUS_STYLES: dict[str, str] = {
    "running": "bold yellow",
    "completed": "green",
    "failed": "bold red",
    "interrupted": "magenta",
}
WIDE = 110
"""From this terminal width on, the full transaction id and the year show."""
RESUMABLE = frozenset({"interrupted", "failed"})
PICK_LIMIT = 20
"""Recent suspicious deposits offered by `n`."""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int


def columns_for(width: int) -> tuple[Column, ...]:
    wide = width >= WIDE
    return (
        Column("status", "Status", 11),
        Column("transaction", "Transaction", 36 if wide else 12),
        Column("mode", "Mode", 5),
        Column("started", "Started (UTC)", 19 if wide else 14),
        Column("duration", "Duration", 9),
        Column("verdict", "Verdict", 10),
    )


def row_cells(item: InvestigationSummary, columns: tuple[Column, ...]) -> list[str | Text]:
    wide = columns[1].width >= 36
    cells: dict[str, str | Text] = {
        "status": Text(item.status, style=STATUS_STYLES.get(item.status, "")),
        "transaction": item.transaction_id if wide else short_id(item.transaction_id, 12),
        "mode": item.mode,
        "started": format_at(item.started_at, wide=wide),
        "duration": format_duration(item.duration_ms),
        "verdict": item.verdict or "-",
    }
    return [cells[c.key] for c in columns]


class InvestigationsScreen(OpsScreen):
    HEADING = "Investigations"
    CSS_PATH = "investigations.tcss"
    PAGE_SIZE: ClassVar[int] = 50
    REFRESH_SECONDS: ClassVar[float] = 5.0
    """How often the list is read again while the screen is shown."""
    POLL_SECONDS: ClassVar[float] = 1.0
    """How often a running investigation (in the list or open) is read again."""
    ACTION_SCOPES: ClassVar[Mapping[str, Scope]] = {"run": Scope.OPS_AGENT_RUN, "resume": Scope.OPS_AGENT_RUN}
    HELP_COLOURS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("yellow status", "running: the screen follows it live"),
        ("green status", "completed"),
        ("red status", "failed (a dependency or the engine)"),
        ("magenta status", "interrupted by a server restart; u resumes it"),
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "run", "Run", id="investigations.run", tooltip="Investigate a suspicious deposit or a typed id"),
        Binding(
            "u",
            "resume",
            "Resume",
            id="investigations.resume",
            tooltip="Continue an interrupted or failed investigation from its last finished step",
        ),
        Binding("f", "cycle_status", "Status", id="investigations.status", tooltip="Show one status, then all"),
        Binding(
            "slash",
            "focus_filter",
            "Filter",
            id="investigations.filter",
            tooltip="Only investigations of one transaction id (enter)",
        ),
        Binding(
            "right_square_bracket",
            "next_page",
            "Next page",
            key_display="]",
            id="investigations.next_page",
            tooltip="The next (older) page of investigations",
        ),
        Binding(
            "left_square_bracket",
            "previous_page",
            "Prev page",
            key_display="[",
            id="investigations.previous_page",
            tooltip="The previous (newer) page of investigations",
        ),
        Binding("r", "refresh", "Refresh", id="investigations.refresh", tooltip="Read the list again"),
        Binding("e", "export", "Export trace", id="investigations.export", tooltip="Write the trace's HTML to a file"),
        Binding("escape", "escape", "Back", show=False, id="investigations.escape", tooltip="Close the detail"),
    ]

    page: reactive[InvestigationPage | None] = reactive(None, always_update=True)
    detail: reactive[InvestigationDetail | None] = reactive(None, always_update=True)
    status_filter: reactive[InvestigationStatus | None] = reactive(None, init=False)
    problem: reactive[str] = reactive("", init=False)

    def __init__(self) -> None:
        super().__init__()
        self._filter = Input(placeholder="/ transaction id, enter filters", id="investigations-filter")
        self._table: NavTable[str | Text] = NavTable(id="investigations")
        self._tree = TraceTree(id="trace")
        self._step = StepDetail(id="step-detail")
        self._detail_pane = Horizontal(self._tree, self._step, id="investigation-detail")
        self._columns = columns_for(80)
        self._transaction_filter = ""
        self.list_offset = 0
        """Where the page to show starts in the server's list (newest first)."""
        self.detail_id: str | None = None
        """The investigation whose detail is open (None: the list shows)."""
        self._select_after_load: str | None = None
        self.exported: Path | None = None
        """Where the last trace export was written."""

    def compose_body(self) -> Iterable[Widget]:
        yield self._filter
        yield self._table
        yield self._detail_pane

    def on_mount(self) -> None:
        self._columns = columns_for(self.size.width or 80)
        self._add_columns()
        self._detail_pane.display = False
        self.watch(self.ops, "connection", self._on_connection, init=False)
        self.set_interval(self.REFRESH_SECONDS, self._refresh_tick)
        self.set_interval(self.POLL_SECONDS, self._poll_tick)
        self._show_count()
        self._table.focus()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def on_resize(self, event: events.Resize) -> None:
        super().on_resize(event)
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
            self.action_refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if not allowed:
            return allowed
        if action == "export":
            return self.detail_id is not None
        if action == "resume":
            # Offered only where it can work: the footer stays short at 80 columns.
            target = self.resume_target
            return target is not None and target.status in RESUMABLE
        if action in ("cycle_status", "focus_filter"):
            return self.detail_id is None
        # The page keys are offered only where there is such a page: the footer stays short at 80 columns.
        if action == "next_page":
            return self.detail_id is None and self._next_offset() is not None
        if action == "previous_page":
            return self.detail_id is None and self.list_offset > 0
        return True

    # --- reading ---

    def _connected(self) -> bool:
        return self.is_current and self.ops.connection is ConnectionState.CONNECTED

    def _busy(self, group: str) -> bool:
        return any(w.node is self and w.group == group and w.is_running for w in self.workers)

    def _refresh_tick(self) -> None:
        if self._connected() and self.detail_id is None and not self._busy("list"):
            self.load_list()

    def _poll_tick(self) -> None:
        """Follow running investigations: the open one, or the list while it shows any."""
        if not self._connected():
            return
        if self.detail_id is not None:
            if self.detail is not None and self.detail.status == "running" and not self._busy("detail"):
                self.load_detail()
        elif self.page is not None and any(i.status == "running" for i in self.page.items) and not self._busy("list"):
            self.load_list()

    @work(exclusive=True, group="list")
    async def load_list(self) -> None:
        offset = self.list_offset
        try:
            page = await self.ops.client.agent.investigations(
                self.PAGE_SIZE, offset, status=self.status_filter, transaction_id=self._transaction_filter or None
            )
            if not page.items and offset > 0:
                # Past the end (the list shrank under a filter): show the last page there is.
                offset = max(0, (page.total - 1) // self.PAGE_SIZE * self.PAGE_SIZE)
                page = await self.ops.client.agent.investigations(
                    self.PAGE_SIZE, offset, status=self.status_filter, transaction_id=self._transaction_filter or None
                )
        except CONNECTION_ERRORS as exc:
            self.ops.show_problem(exc, title="Investigations")
            return
        except OpsClientError as exc:
            self.problem = describe(exc)
            return
        self.post_message(ConnectionAlive())
        self.problem = ""
        self.list_offset = page.offset
        self.page = page

    @work(exclusive=True, group="detail")
    async def load_detail(self) -> None:
        investigation_id = self.detail_id
        if investigation_id is None:
            return
        try:
            detail = await self.ops.client.agent.investigation(investigation_id)
        except OpsClientError as exc:  # the connection's trouble or this one's (gone: 404): the status line says
            self.ops.show_problem(exc, title="Investigation")
            return
        self.post_message(ConnectionAlive())
        if investigation_id == self.detail_id:  # not closed (or another opened) meanwhile
            self.detail = detail

    # --- the list ---

    def watch_page(self) -> None:
        self._fill_table()

    def watch_problem(self) -> None:
        self._show_count()

    def watch_status_filter(self) -> None:
        self.list_offset = 0
        self._show_count()
        self.action_refresh()

    def _fill_table(self) -> None:
        """The page's rows; only cells that changed are rewritten while the rows stay the same."""
        table = self._table
        items = self.page.items if self.page is not None else []
        keys = [i.investigation_id for i in items]
        if keys == [str(k.value) for k in table.rows]:
            for item in items:
                for column, cell in zip(self._columns, row_cells(item, self._columns), strict=True):
                    table.put(item.investigation_id, column.key, cell)
        else:
            selected = self._select_after_load or table.cursor_key
            table.clear()
            for item in items:
                table.add_row(*row_cells(item, self._columns), key=item.investigation_id)
            if selected is not None and selected in table.rows:
                table.move_cursor(row=table.get_row_index(selected), animate=False)
            else:  # another page: start at its top
                table.move_cursor(row=0, animate=False)
        if self._select_after_load in table.rows:
            self._select_after_load = None
        self._show_count()
        self.refresh_bindings()

    def _show_count(self) -> None:
        self._filter.border_title = self.problem or self._count_line()
        self._filter.set_class(bool(self.problem), "-problem")

    def _count_line(self) -> str:
        if self.page is None:
            return "loading…"
        shown, total, offset = len(self.page.items), self.page.total, self.page.offset
        span = f"{offset + 1}-{offset + shown}" if shown and (offset or shown < total) else str(shown)
        line = f"{span} of {total} investigation{'' if total == 1 else 's'}"
        if self.status_filter:
            line += f", {self.status_filter}"
        if self._transaction_filter:
            line += f", transaction {short_id(self._transaction_filter, 13)}"
        running = sum(1 for i in self.page.items if i.status == "running")
        if running:
            line += f" · {running} running"
        return line + " · f status · n run"

    def _next_offset(self) -> int | None:
        """Where the next page starts; None on the last page."""
        if self.page is None:
            return None
        after = self.page.offset + len(self.page.items)
        return after if after < self.page.total else None

    # --- actions ---

    def action_next_page(self) -> None:
        following = self._next_offset()
        if following is not None and self.detail_id is None:
            self._turn_to(following)

    def action_previous_page(self) -> None:
        if self.list_offset > 0 and self.detail_id is None:
            self._turn_to(max(0, self.list_offset - self.PAGE_SIZE))

    def _turn_to(self, offset: int) -> None:
        self.list_offset = offset
        self._select_after_load = None
        self.action_refresh()

    def action_refresh(self) -> None:
        if self.ops.connection is not ConnectionState.CONNECTED:
            return
        if self.detail_id is not None:
            self.load_detail()
        else:
            self.load_list()

    def action_cycle_status(self) -> None:
        order: list[InvestigationStatus | None] = [None, *INVESTIGATION_STATUSES]
        self.status_filter = order[(order.index(self.status_filter) + 1) % len(order)]

    def action_focus_filter(self) -> None:
        self._filter.focus()

    @on(Input.Submitted, "#investigations-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self._transaction_filter = event.value.strip()
        self.list_offset = 0
        self._show_count()
        self.action_refresh()
        self._table.focus()

    def action_escape(self) -> None:
        """Out of the detail back to the list; in the list, clear the filters."""
        if self.detail_id is not None:
            self.close_detail()
            return
        had_filter = bool(self._transaction_filter or self.status_filter)
        self._filter.value = ""
        self._transaction_filter = ""
        if had_filter:
            self.list_offset = 0  # the unfiltered list from its start
        self._table.focus()
        if self.status_filter is not None:
            self.status_filter = None  # its watcher reloads
        elif had_filter:
            self.action_refresh()

    def action_run(self) -> None:
        if self.require_scope(Scope.OPS_AGENT_RUN, "running investigations"):
            self.run_investigation()

    @work(exclusive=True, group="run")
    async def run_investigation(self) -> None:
        agent = self.ops.client.agent
        problem = ""
        try:
            suspicious = (await agent.transactions(PICK_LIMIT, suspicious=True)).items
        except CONNECTION_ERRORS as exc:
            self.ops.show_problem(exc, title="Run")
            return
        except OpsClientError as exc:
            suspicious, problem = [], f"The suspicious deposits could not be listed: {describe(exc)}"
        choice = await self.app.push_screen_wait(RunPicker(suspicious, problem))
        if choice is None:
            return
        started = await investigation_flows.run_investigation(self.ops, choice)
        if started is None:
            return
        self.ops.say(f"Investigation {short_id(started.investigation_id)} started ({started.mode}); enter opens it.")
        if self.detail_id is None:
            self._select_after_load = started.investigation_id
            self.list_offset = 0  # newest first: the new one is on the first page
            self.load_list()

    @property
    def resume_target(self) -> InvestigationSummary | None:
        """The open investigation, or the one under the list's cursor."""
        if self.detail_id is not None:
            return self.detail
        key = self._table.cursor_key
        items = self.page.items if self.page is not None else []
        return next((i for i in items if i.investigation_id == key), None)

    def action_resume(self) -> None:
        if not self.require_scope(Scope.OPS_AGENT_RUN, "resuming investigations"):
            return
        target = self.resume_target
        if target is not None and target.status in RESUMABLE:
            self.resume_investigation(target)

    @work(exclusive=True, group="run")
    async def resume_investigation(self, target: InvestigationSummary) -> None:
        resumed = await investigation_flows.resume_investigation(self.ops, target)
        if resumed is not None:
            self.ops.say(f"Investigation {short_id(resumed.investigation_id)} resumed.")
            self.action_refresh()

    # --- the detail ---

    @on(DataTable.RowHighlighted, "#investigations")
    def _row_highlighted(self) -> None:
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#investigations")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_detail(str(event.row_key.value))

    def open_detail(self, investigation_id: str) -> None:
        self.detail_id = investigation_id
        self.detail = None
        self._filter.display = False
        self._table.display = False
        self._detail_pane.display = True
        self._tree.clear()
        self._tree.focus()
        self.refresh_bindings()
        self.load_detail()

    def close_detail(self) -> None:
        self.detail_id = None
        self.detail = None
        self._detail_pane.display = False
        self._filter.display = True
        self._table.display = True
        self._table.focus()
        self.refresh_bindings()
        self.action_refresh()

    def watch_detail(self, detail: InvestigationDetail | None) -> None:
        if detail is None:
            return
        self._tree.border_title = f"Trace · {detail.status} · {detail.mode}"
        self._tree.border_subtitle = "esc back · e export"
        self._step.border_title = f"{short_id(detail.investigation_id)} · tx {short_id(detail.transaction_id, 13)}"
        self._tree.set_class(detail.status == "running", "-running")
        self.refresh_bindings()
        self._tree.show(detail)
        self._show_step(self._tree.cursor_node.data if self._tree.cursor_node is not None else None)

    @on(Tree.NodeHighlighted, "#trace")
    def _node_highlighted(self, event: Tree.NodeHighlighted[TraceNode]) -> None:
        self._show_step(event.node.data)

    def _show_step(self, node: TraceNode | None) -> None:
        if self.detail is not None:
            self._step.show(node, self.detail)

    @property
    def selected_step(self) -> TraceNode | None:
        node = self._tree.cursor_node
        return node.data if node is not None else None

    def action_export(self) -> None:
        if self.detail_id is not None:
            self.export_trace(self.detail_id)

    @work(exclusive=True, group="export")
    async def export_trace(self, investigation_id: str) -> None:
        try:
            html = await fetch_trace_html(self.ops.client, investigation_id)
        except OpsClientError as exc:
            self.ops.show_problem(exc, title="Export trace")
            return
        try:
            path = write_trace(html, investigation_id)
        except (OSError, ValueError) as exc:
            self.ops.say(f"Export trace: could not write the file: {exc}", severity="error")
            return
        self.exported = path
        self.ops.say(f"Trace written to {path}")
