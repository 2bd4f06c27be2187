"""The Inspector's Compare tab: the stage comparison of the two marked traces (not stored, scope inspector:read) and,
after the confirm dialog, a stored regression analysis of them (scope inspector:write; it may send a webhook)."""

from typing import TYPE_CHECKING, cast

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from console.commanding import Prepared, run_flow
from console.messages import ConnectionAlive
from console.problems import read
from console.screens.inspector_compare import analysis_renderable, analysis_view, comparison_renderable
from shared.inspector import AnalysisType, RegressionAnalysis, StageComparison, TraceSummary
from shared.scopes import Scope

if TYPE_CHECKING:
    from console.app import OpsConsole


class ComparePane(Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._note = Static(id="compare-note", markup=False)
        self._scroll = VerticalScroll(id="compare-scroll")
        self._body = Static(id="compare-body")
        self._analysis_body = Static(id="analysis-body")
        self.comparison: StageComparison | None = None
        self.analysis: RegressionAnalysis | None = None
        self.problem = ""
        self.pair: tuple[str, str] | None = None
        """The marked traces (baseline, comparison), None unless two are marked."""
        self.wide = False
        """Changes in a column beside the scores (else in a list under them)."""

    @property
    def ops(self) -> "OpsConsole":
        return cast("OpsConsole", self.app)

    def compose(self) -> ComposeResult:
        yield self._note
        with self._scroll:
            yield self._body
            yield self._analysis_body

    def on_mount(self) -> None:
        self.show()

    def focus_body(self) -> None:
        self._scroll.focus()

    @property
    def up_to_date(self) -> bool:
        """The comparison shown is of the marked pair, in that order."""
        shown = self.comparison
        return shown is not None and (shown.baseline_trace.trace_id, shown.comparison_trace.trace_id) == self.pair

    def set_pair(self, pair: tuple[str, str] | None) -> None:
        """The marks changed: what is shown of another pair goes."""
        self.pair = pair
        if not self.up_to_date:
            self.comparison, self.analysis = None, None
        self.show()

    def set_wide(self, wide: bool) -> None:
        if wide != self.wide:
            self.wide = wide
            self.show()

    @work(exclusive=True, group="compare")
    async def load(self) -> None:
        pair = self.pair
        if pair is None:
            return
        self.show(loading=True)
        compared = await read(
            self, self.ops.client.orchestration.stage_compare(*pair), title="Compare", on_problem=self._set_problem
        )
        if compared is None:
            return
        self.problem = ""
        if pair == self.pair:
            self.comparison = compared
        self.show()
        self.screen.refresh_bindings()

    def _set_problem(self, problem: str) -> None:
        self.problem = problem
        self.show()

    def show(self, *, loading: bool = False) -> None:
        comparison, analysis = self.comparison, self.analysis
        self._body.update(comparison_renderable(comparison, wide=self.wide) if comparison is not None else "")
        self._analysis_body.update(analysis_renderable(analysis) if analysis is not None else "")
        if self.problem:
            text = self.problem
        elif self.pair is None:
            text = "Mark two traces with m (A the baseline, then B), then c compares them here."
        elif loading:
            text = "Comparing..."
        elif not self.ops.has_scope(Scope.INSPECTOR_WRITE):
            text = "Read-only token: analyses need inspector:write."
        else:
            text = "a runs and stores a stage regression analysis, A a full one (answers too)"
        self._note.update(text)
        self._note.set_class(bool(self.problem), "-problem")

    @work(exclusive=True, group="analyze")
    async def analyze(self, baseline: TraceSummary, comparison: TraceSummary, kind: AnalysisType) -> None:
        """Analyze the pair after the confirm dialog; a cancel sends nothing."""
        orchestration = self.ops.client.orchestration

        async def request(_reason: str | None) -> Prepared[None]:
            # Nothing to ask the server first: the dialog is the whole first step.
            return Prepared(analysis_view(baseline, comparison, kind), None)

        async def confirm(_ticket: None) -> RegressionAnalysis:
            return await orchestration.analyze_regression(baseline.trace_id, comparison.trace_id, type=kind)

        title = f"{kind.capitalize()} regression analysis"
        analysis = await run_flow(self.ops, title=title, request=request, confirm=confirm, retryable=lambda _e: False)
        if analysis is None:
            return
        self.post_message(ConnectionAlive())
        if (analysis.baseline_trace_id, analysis.comparison_trace_id) == self.pair:
            self.analysis = analysis
            self.show()
            self.call_after_refresh(self._scroll.scroll_to_widget, self._analysis_body, animate=False, top=True)
        self.ops.say(f"{title} {analysis.analysis_id} stored: score {analysis.overall_regression_score}/100.")

    @property
    def analyzing(self) -> bool:
        return any(w.group == "analyze" and w.is_running for w in self.workers)
