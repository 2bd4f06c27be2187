"""Inspector screen: the traces of the ask pipeline, newest first, a page at a time with the total the filters
match (text, feature, status, route, a time range); one trace in detail (its stages' diagnostics, replans and audit
entries); two marked traces (`m`: A the baseline, then B) compared stage by stage with their regression scores, and
a regression analysis of them (`a` stage, `A` full), which is stored and may send a webhook, so it goes through the
confirm dialog; and the webhook subscriptions with their latest delivery (`x` deletes one, after confirming)."""

from collections.abc import Iterable, Mapping
from typing import ClassVar, Literal

from textual import events, on
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import DataTable, TabbedContent, TabPane

from console.connection import ConnectionState
from console.screens.inspector_compare_pane import ComparePane
from console.screens.inspector_detail import DetailPane
from console.screens.inspector_list import TracesPane
from console.screens.inspector_webhooks import WebhooksPane
from console.screens.inspector_words import (
    WIDE,
    TraceFilters,
    short_trace,
)
from console.screens.ops_screen import OpsScreen
from shared.inspector import AnalysisType, RegressionAnalysis, StageComparison, TraceDetail, TraceSummary
from shared.orchestration import Trace
from shared.scopes import Scope
from shared.webhooks import Webhook

Tab = Literal["traces", "detail", "compare", "webhooks"]
PANES: dict[Tab, str] = {tab: f"{tab}-tab" for tab in ("traces", "detail", "compare", "webhooks")}
TABS: dict[str, Tab] = {pane: tab for tab, pane in PANES.items()}


def summary_of(trace: Trace) -> TraceSummary:
    """The list's view of a trace shown in detail (to mark it without the list)."""
    return TraceSummary(
        trace_id=trace.trace_id,
        created_at=trace.created_at,
        feature=trace.feature,
        status=trace.status,
        route=trace.route,
        duration_ms=trace.duration_ms,
        question_snippet=trace.question,
        applied_asset_versions=[f"{kind}:{ref}" for kind, ref in trace.applied_assets.items()],
        test_mode=trace.test_mode,
    )


class InspectorScreen(OpsScreen):
    HEADING = "Inspector"
    CSS_PATH = "inspector.tcss"
    PAGE_SIZE: ClassVar[int] = 50
    REFRESH_SECONDS: ClassVar[float] = 10.0
    """How often the first page (and the webhooks) are read again while shown: new traces arrive on top."""
    ACTION_SCOPES: ClassVar[Mapping[str, Scope]] = {
        "analyze": Scope.INSPECTOR_WRITE,
        "delete_webhook": Scope.WEBHOOKS_ADMIN,
    }
    HELP_COLOURS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("A / B (reversed)", "the marked baseline and comparison traces"),
        ("green score", "no regression (below 10)"),
        ("yellow score", "a significant change (10 to 49)"),
        ("red score", "a critical regression (50 and more)"),
        ("magenta status", "a refused question"),
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", id="inspector.filter", tooltip="Search; tab to the other filters"),
        Binding("m", "mark", "Mark", id="inspector.mark", tooltip="Mark the trace for comparison (A, then B)"),
        Binding("c", "compare", "Compare", id="inspector.compare", tooltip="Compare the marked traces stage by stage"),
        Binding("a", "analyze('stage')", "Analyze", id="inspector.analyze", tooltip="Stored stage regression analysis"),
        Binding(
            "A", "analyze('full')", "Full", id="inspector.analyze-full", tooltip="Stored analysis of stages and answers"
        ),
        Binding("d", "show_detail", "Detail", id="inspector.detail", tooltip="The selected trace's stages and audit"),
        Binding("t", "show_traces", "Traces", id="inspector.traces", tooltip="Back to the trace list"),
        Binding("w", "show_webhooks", "Webhooks", id="inspector.webhooks", tooltip="Subscriptions, last deliveries"),
        Binding("right_square_bracket", "older", "Older", key_display="]", id="inspector.older", tooltip="Next page"),
        Binding("left_square_bracket", "newer", "Newer", key_display="[", id="inspector.newer", tooltip="Back a page"),
        Binding("x", "delete_webhook", "Delete", id="inspector.delete-webhook", tooltip="Delete the webhook"),
        Binding("r", "refresh", "Refresh", show=False, id="inspector.refresh", tooltip="Read the shown tab again"),
        Binding("escape", "back", "Back", show=False, id="inspector.back", tooltip="To the list; clear the filters"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._tabs = TabbedContent(initial=PANES["traces"], id="inspector-tabs")
        self._list = TracesPane(self.PAGE_SIZE, id="list")
        self._detail = DetailPane(id="detail")
        self._compare = ComparePane(id="compare")
        self._hooks = WebhooksPane(id="hooks")
        self.marks: list[str] = []
        """The marked trace ids: the first is the baseline (A), the second the comparison (B)."""
        self._marked: dict[str, TraceSummary] = {}

    @property
    def detail(self) -> TraceDetail | None:
        return self._detail.detail

    @property
    def comparison(self) -> StageComparison | None:
        return self._compare.comparison

    @property
    def analysis(self) -> RegressionAnalysis | None:
        return self._compare.analysis

    @property
    def webhooks(self) -> list[Webhook]:
        return self._hooks.webhooks

    def compose_body(self) -> Iterable[Widget]:
        with self._tabs:
            with TabPane("Traces", id=PANES["traces"]):
                yield self._list
            with TabPane("Detail", id=PANES["detail"]):
                yield self._detail
            with TabPane("Compare", id=PANES["compare"]):
                yield self._compare
            with TabPane("Webhooks", id=PANES["webhooks"]):
                yield self._hooks

    def on_mount(self) -> None:
        self._resized(self.size.width or 80)
        self.watch(self.ops, "connection", self._on_connection, init=False)
        self.watch(self.ops, "scopes", lambda _scopes: self._scopes_changed())
        self.set_interval(self.REFRESH_SECONDS, self._poll)
        self._list.focus_table()

    def on_screen_resume(self) -> None:
        self.refresh_tab()

    def on_resize(self, event: events.Resize) -> None:
        super().on_resize(event)
        self._resized(event.size.width)

    def _resized(self, width: int) -> None:
        self._compare.set_wide(width >= WIDE)
        self._list.set_width(width)

    # --- tabs ---

    @property
    def active_tab(self) -> Tab:
        return TABS.get(self._tabs.active, "traces")

    def _activate(self, tab: Tab) -> None:
        self._tabs.active = PANES[tab]

    @on(TabbedContent.TabActivated, "#inspector-tabs")
    def _tab_activated(self) -> None:
        self.refresh_bindings()
        match self.active_tab:
            case "traces":
                self._list.focus_table()
            case "detail":
                self._detail.focus_body()
            case "compare":
                self._compare.focus_body()
            case "webhooks":
                self._hooks.focus_table()
        if self.is_mounted:
            self.refresh_tab()

    def action_show_traces(self) -> None:
        self._activate("traces")

    def action_show_detail(self) -> None:
        selected = self._list.selected
        if selected is None:
            self.ops.say("No trace selected.", severity="warning")
            return
        self.open_detail(selected.trace_id)

    def action_show_webhooks(self) -> None:
        self._activate("webhooks")

    def action_back(self) -> None:
        """From another tab to the list; from a filter box to the list; on the list, clear the filters."""
        if self.active_tab != "traces":
            self._activate("traces")
        elif not self._list.table_focused:
            self._list.focus_table()
        elif self._list.filters != TraceFilters():
            self._list.clear_filters()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        tab = self.active_tab
        match action:
            case "focus_filter":
                return tab == "traces"
            case "mark":
                return tab == "traces" or (tab == "detail" and self.detail is not None)
            case "compare":
                return tab in ("traces", "detail") and len(self.marks) == 2
            case "analyze":
                return tab == "compare" and len(self.marks) == 2
            case "show_detail":
                return tab == "traces" and self._list.selected is not None
            case "show_traces":
                return tab != "traces"
            case "show_webhooks":
                return tab != "webhooks"
            case "older":
                return tab == "traces" and self._list.has_older
            case "newer":
                return tab == "traces" and self._list.page_offset > 0
            case "delete_webhook":
                return tab == "webhooks" and bool(self.webhooks)
        return True

    # --- refreshing ---

    def _on_connection(self, state: ConnectionState) -> None:
        if state is ConnectionState.CONNECTED and self.is_current:
            self.refresh_tab()

    def _poll(self) -> None:
        if not self.is_current or self.ops.connection is not ConnectionState.CONNECTED:
            return
        # Only the first page follows new traces: a later page would shift under the operator's cursor.
        if self.active_tab == "traces" and self._list.page_offset == 0 and not self._list.reading:
            self._list.load()
        elif self.active_tab == "webhooks" and not self._hooks.reading:
            self._hooks.load()

    def action_refresh(self) -> None:
        self.refresh_tab(again=True)

    def refresh_tab(self, *, again: bool = False) -> None:
        """Read what the shown tab needs; `again`: even what is already loaded."""
        match self.active_tab:
            case "traces":
                self._list.load()
            case "detail" if self.detail is not None and again:
                self._detail.load(self.detail.trace.trace_id)
            case "compare" if len(self.marks) == 2 and (again or not self._compare.up_to_date):
                self._compare.load()
            case "webhooks":
                self._hooks.load()

    def _scopes_changed(self) -> None:
        self.refresh_bindings()
        self._compare.show()
        self._hooks.show_bar()

    # --- the list ---

    @property
    def list(self) -> TracesPane:
        return self._list

    def action_focus_filter(self) -> None:
        self._list.focus_filter()

    def action_older(self) -> None:
        self._list.older()

    def action_newer(self) -> None:
        self._list.newer()

    # --- marks ---

    def action_mark(self) -> None:
        summary: TraceSummary | None = None
        if self.active_tab == "detail" and self.detail is not None:
            summary = summary_of(self.detail.trace)
        else:
            summary = self._list.selected
        if summary is None:
            self.ops.say("No trace selected.", severity="warning")
            return
        self.mark(summary)

    def mark(self, summary: TraceSummary) -> None:
        """Mark a trace, or unmark a marked one; a third mark drops the oldest (B becomes the baseline A)."""
        trace_id = summary.trace_id
        if trace_id in self.marks:
            self.marks.remove(trace_id)
            self.ops.say(f"Unmarked {short_trace(trace_id)}.")
        else:
            self.marks.append(trace_id)
            self._marked[trace_id] = summary
            del self.marks[:-2]
            letter = "AB"[self.marks.index(trace_id)]
            self.ops.say(
                f"Marked {short_trace(trace_id)} as {letter} ({'baseline' if letter == 'A' else 'comparison'})."
            )
        self._marked = {t: self._marked[t] for t in self.marks}
        self._list.set_marks(self.marks)
        self._compare.set_pair((self.marks[0], self.marks[1]) if len(self.marks) == 2 else None)
        self.refresh_bindings()

    # --- detail ---

    @on(DataTable.RowSelected, "#traces")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_detail(str(event.row_key.value))

    def open_detail(self, trace_id: str) -> None:
        self._activate("detail")
        self._detail.open(trace_id)

    # --- comparing ---

    def action_compare(self) -> None:
        if len(self.marks) != 2:
            self.ops.say("Mark two traces with m to compare them.", severity="warning")
            return
        self._activate("compare")  # which reads the comparison unless it is shown already

    def action_analyze(self, kind: AnalysisType) -> None:
        if not self.require_scope(Scope.INSPECTOR_WRITE, "regression analyses"):
            return
        if len(self.marks) != 2:
            self.ops.say("Mark two traces with m to analyze them.", severity="warning")
            return
        if self._compare.analyzing:
            self.ops.say("An analysis is waiting for its confirmation.", severity="warning")
            return
        self._compare.analyze(self._marked[self.marks[0]], self._marked[self.marks[1]], kind)

    # --- webhooks ---

    def action_delete_webhook(self) -> None:
        if not self.require_scope(Scope.WEBHOOKS_ADMIN):
            return
        webhook = self._hooks.selected
        if webhook is None:
            self.ops.say("No webhook selected.", severity="warning")
            return
        self._hooks.delete(webhook)
