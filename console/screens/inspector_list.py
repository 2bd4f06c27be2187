"""The Inspector's Traces tab: the filter bar, a line with the page, the filters and the marks, and the list itself,
newest first, a page at a time by offset (the server counts every trace the filters match)."""

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from console.problems import read
from console.screens.inspector_filters import FilterBar
from console.screens.inspector_words import (
    Column,
    TraceFilters,
    columns_for,
    mark_cell,
    page_words,
    row_cells,
    short_trace,
)
from console.widgets.nav_table import NavTable
from shared.inspector import TraceList, TraceSummary

if TYPE_CHECKING:
    from console.app import OpsConsole


class TracesPane(Vertical):
    def __init__(self, page_size: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.page_size = page_size
        self._filter_bar = FilterBar(id="filters")
        self._bar = Static(id="traces-bar", markup=False)
        self._table: NavTable[str | Text] = NavTable(id="traces")
        self._columns: tuple[Column, ...] = ()
        self.filters = TraceFilters()
        self.page_offset = 0
        """Where the shown page starts in the filtered list (`offset` is the widget's own)."""
        self.page: TraceList | None = None
        self.problem = ""
        """Why the last read failed other than by the connection (a 422, a 500), or a filter that is not valid."""
        self.marks: list[str] = []
        """The marked trace ids, as the screen keeps them: A the baseline, then B."""

    @property
    def ops(self) -> "OpsConsole":
        return cast("OpsConsole", self.app)

    def compose(self) -> ComposeResult:
        yield self._filter_bar
        yield self._bar
        yield self._table

    def on_mount(self) -> None:
        self._show_bar()

    def set_width(self, width: int) -> None:
        """Columns for a terminal `width` wide: the question takes what the others leave."""
        columns = columns_for(width)
        if columns != self._columns:
            self._columns = columns
            self._table.clear(columns=True)
            for column in columns:
                self._table.add_column(column.label, key=column.key, width=column.width)
            self._fill_table()

    def focus_table(self) -> None:
        self._table.focus()

    def focus_filter(self) -> None:
        self._filter_bar.focus_search()

    @property
    def table_focused(self) -> bool:
        return self.screen.focused is self._table

    def clear_filters(self) -> None:
        self._filter_bar.clear()

    @property
    def selected(self) -> TraceSummary | None:
        key = self._table.cursor_key
        return next((t for t in self.page.traces if t.trace_id == key), None) if self.page is not None else None

    # --- reading ---

    @property
    def reading(self) -> bool:
        return any(w.group == "traces" and w.is_running for w in self.workers)

    @property
    def has_older(self) -> bool:
        page = self.page
        if page is None:
            return False
        # A capped total is a lower bound: a full page may have more behind it.
        full = len(page.traces) == self.page_size
        return self.page_offset + len(page.traces) < page.total or (page.total_capped and full)

    def older(self) -> None:
        if self.has_older:
            self.page_offset += self.page_size
            self.load()

    def newer(self) -> None:
        if self.page_offset > 0:
            self.page_offset = max(0, self.page_offset - self.page_size)
            self.load()

    @on(FilterBar.Applied)
    def _filters_applied(self, event: FilterBar.Applied) -> None:
        self._set_problem("")
        self.filters, self.page_offset = event.filters, 0
        self.load()
        if event.submitted:
            self._table.focus()

    @on(FilterBar.Refused)
    def _filters_refused(self, event: FilterBar.Refused) -> None:
        self._set_problem(event.problem)

    @work(exclusive=True, group="traces")
    async def load(self) -> None:
        filters, offset = self.filters, self.page_offset
        listing = self.ops.client.orchestration.list_traces(
            q=filters.q,
            feature=filters.feature,
            status=filters.status,
            route=filters.route,
            from_=filters.from_,
            to=filters.to,
            limit=self.page_size,
            offset=offset,
        )
        page = await read(self, listing, title="Traces", on_problem=self._set_problem)
        if page is None:
            return
        self._set_problem("")
        if page != self.page:
            self.page = page
            self._fill_table()
            self.screen.refresh_bindings()
        self._show_bar()  # the same page may answer other filters: the bar names them

    # --- showing ---

    def set_marks(self, marks: list[str]) -> None:
        self.marks = list(marks)
        for key in [str(k.value) for k in self._table.rows]:
            self._table.put(key, "mark", mark_cell(key, self.marks))
        self._show_bar()

    def _set_problem(self, problem: str) -> None:
        if self.problem != problem:
            self.problem = problem
            self._show_bar()

    def _fill_table(self) -> None:
        table = self._table
        traces = self.page.traces if self.page is not None else []
        if [t.trace_id for t in traces] == [str(k.value) for k in table.rows]:
            for trace in traces:
                for column, cell in zip(self._columns, row_cells(trace, self._columns, self.marks), strict=True):
                    table.put(trace.trace_id, column.key, cell)
        else:
            selected = table.cursor_key
            table.clear()
            for trace in traces:
                table.add_row(*row_cells(trace, self._columns, self.marks), key=trace.trace_id)
            if selected is not None and selected in table.rows:
                table.move_cursor(row=table.get_row_index(selected), animate=False)
        self._show_bar()

    def _show_bar(self) -> None:
        self._bar.set_class(bool(self.problem), "-problem")
        if self.problem:
            self._bar.update(self.problem)
            return
        if self.page is None:
            text = "Loading traces..."
        else:
            page = self.page
            text = page_words(self.page_offset, len(page.traces), page.total, capped=page.total_capped)
            text += " · newest first"
            described = self.filters.describe()
            if described:
                text += f" · {described}"
        self._bar.update(text + " · " + self._marks_words())

    def _marks_words(self) -> str:
        if not self.marks:
            return "m marks two to compare"
        named = [f"{letter} {short_trace(trace_id)}" for letter, trace_id in zip("AB", self.marks, strict=False)]
        return ", ".join(named) + (" · c compares" if len(self.marks) == 2 else " · mark one more")
