"""Metrics screen: a tile per summary metric (value, unit, stale marker, sparkline), the focused tile's context,
and a chart of its metric over a window the operator picks (15m ... 7d). Reads in workers; stale values look
stale (dimmed, marked), and so does everything while the server cannot be reached."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from console.connection import ConnectionState
from console.problems import read
from console.screens.ops_screen import OpsScreen
from console.widgets.metric_chart import MetricChart
from console.widgets.metric_tile import TITLES, MetricTile, format_context
from shared.metrics import MetricsSummary, TimeseriesResponse


@dataclass(frozen=True)
class ChartWindow:
    label: str
    minutes: int
    step_seconds: int
    """Chosen so each window holds at most a few hundred points: a chart 80 columns wide shows no more."""


WINDOWS: tuple[ChartWindow, ...] = (
    ChartWindow("15m", 15, 15),
    ChartWindow("1h", 60, 60),
    ChartWindow("6h", 6 * 60, 300),
    ChartWindow("24h", 24 * 60, 900),
    ChartWindow("7d", 7 * 24 * 60, 3600),
)
SPARK_MINUTES = 15
SPARK_STEP_SECONDS = 30
"""The sparklines show the last quarter hour, one bar per half minute."""
SUMMARY_KEYS: tuple[str, ...] = tuple(MetricsSummary.model_fields)
DEFAULT_METRIC = "throughput_mps"

METRIC_OF: dict[str, str] = {
    "coverage_ratio": "md_subscription_coverage_ratio",
    "throughput_mps": "md_throughput_mps",
    "failover_latency_ms": "md_failover_latency_ms",
    "runbook_exit_code": "md_runbook_exit_code",
    "consumer_backlog_messages": "consumer_backlog_messages",
}
"""The metric behind each summary key, as the contract names them (the summary says it too, once read)."""


@dataclass(frozen=True)
class Reading:
    """One refresh: the summary and each metric's recent values for its sparkline."""

    summary: MetricsSummary
    sparks: dict[str, list[float]]


def window_bar(selected: int) -> str:
    """`Window: 15m [1h] 6h 24h 7d` with the selected one bracketed."""
    labels = [f"[{w.label}]" if i == selected else f" {w.label} " for i, w in enumerate(WINDOWS)]
    return "Window:" + "".join(labels)


class MetricsScreen(OpsScreen):
    HEADING = "Metrics"
    CSS_PATH = "metrics.tcss"
    REFRESH_SECONDS: ClassVar[float] = 5.0
    """The server samples every few seconds: reading faster shows nothing new."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "window(1)", "Window", id="metrics.window", tooltip="Chart a longer window (15m ... 7d)"),
        Binding("W", "window(-1)", "Shorter", show=False, id="metrics.window-back", tooltip="Chart a shorter window"),
        Binding("left", "tile(-1)", "Previous", show=False, id="metrics.previous", tooltip="Chart the previous metric"),
        Binding("right", "tile(1)", "Next", show=False, id="metrics.next", tooltip="Chart the next metric"),
        Binding("r", "refresh", "Refresh", id="metrics.refresh", tooltip="Read the metrics now"),
    ]
    HELP_COLOURS = (
        ("dimmed tile, 'stale'", "no sample newer than twice the sampling interval, or the source is unreachable"),
        ("—", "no sample at all; the context line says why"),
    )

    reading: reactive[Reading | None] = reactive(None)
    series: reactive[TimeseriesResponse | None] = reactive(None)
    window_index: reactive[int] = reactive(0, init=False)
    selected: reactive[str] = reactive(DEFAULT_METRIC, init=False)
    problem: reactive[str] = reactive("")

    def __init__(self) -> None:
        super().__init__()
        self.tiles = {key: MetricTile(key, id=f"tile-{key}") for key in SUMMARY_KEYS}
        self._context_line = Static(id="metric-context", markup=False)
        self._window_bar = Static(window_bar(0), id="metric-windows", markup=False)
        self.chart = MetricChart(id="metric-chart")
        self._footnote = Static(id="metrics-footnote", markup=False)
        self._texts: dict[Static, str] = {}
        self.chart_at: datetime | None = None
        """The server's time of the newest reading: the chart's window ends there."""

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="metric-tiles"):
            yield from self.tiles.values()
        yield self._context_line
        yield self._window_bar
        yield self.chart
        yield self._footnote

    def on_mount(self) -> None:
        self.watch(self.ops, "connection", self._on_connection, init=False)
        self.set_interval(self.REFRESH_SECONDS, self._poll)
        self.tiles[DEFAULT_METRIC].focus()
        self._show_footnote()

    def on_screen_resume(self) -> None:
        self._poll()

    def _on_connection(self, state: ConnectionState) -> None:
        self.set_class(state is not ConnectionState.CONNECTED and self.reading is not None, "-stale")
        self._show_footnote()
        if state is ConnectionState.CONNECTED:
            self.action_refresh()

    def _poll(self) -> None:
        if not self.is_current or self.ops.connection is not ConnectionState.CONNECTED:
            return
        # An interval tick does not cancel a read in flight: a slow answer is still worth having.
        if not any(w.node is self and w.group == "summary" and w.is_running for w in self.workers):
            self.action_refresh()

    # --- actions ---

    def action_refresh(self) -> None:
        self.refresh_summary()
        self.refresh_chart()

    def action_window(self, step: int) -> None:
        self.window_index = (self.window_index + step) % len(WINDOWS)

    def action_tile(self, step: int) -> None:
        keys = list(SUMMARY_KEYS)
        self.tiles[keys[(keys.index(self.selected) + step) % len(keys)]].focus()

    @on(MetricTile.Selected)
    def _tile_selected(self, event: MetricTile.Selected) -> None:
        self.selected = event.tile.key

    def watch_window_index(self, index: int) -> None:
        self._put(self._window_bar, window_bar(index))
        self.refresh_chart()

    def watch_selected(self) -> None:
        self._show_context()
        self.refresh_chart()

    @property
    def window(self) -> ChartWindow:
        return WINDOWS[self.window_index]

    # --- reading ---

    @work(exclusive=True, group="summary")
    async def refresh_summary(self) -> None:
        reading = await read(self, self._read_summary(), title="Metrics", on_problem=self._set_problem)
        if reading is None:
            return
        self.problem = ""
        self.reading = reading

    async def _read_summary(self) -> Reading:
        metrics = self.ops.client.metrics
        summary = await metrics.summary()
        sparks: dict[str, list[float]] = {}
        for key in SUMMARY_KEYS:
            series = await metrics.timeseries(
                getattr(summary, key).metric, minutes=SPARK_MINUTES, step_seconds=SPARK_STEP_SECONDS
            )
            sparks[key] = [float(p["value"]) for p in series.points]
        return Reading(summary, sparks)

    @work(exclusive=True, group="chart")
    async def refresh_chart(self) -> None:
        window = self.window
        metric = self._metric_name()
        series = await read(
            self,
            self.ops.client.metrics.timeseries(metric, minutes=window.minutes, step_seconds=window.step_seconds),
            title="Metrics chart",
            on_problem=self._set_problem,
        )
        # A chart read never clears the problem: that would hide the summary's failure.
        if series is not None:
            self.series = series

    def _set_problem(self, problem: str) -> None:
        self.problem = problem

    def _metric_name(self) -> str:
        """The metric name behind the selected summary key (known from the summary once read)."""
        if self.reading is not None:
            return getattr(self.reading.summary, self.selected).metric
        return METRIC_OF[self.selected]

    # --- showing ---

    def watch_reading(self, reading: Reading | None) -> None:
        if reading is None:
            return
        for key, tile in self.tiles.items():
            tile.show(getattr(reading.summary, key))
            tile.show_series(reading.sparks.get(key, []))
        self._show_context()
        self._draw_chart()
        self._show_footnote()

    def watch_series(self) -> None:
        self._draw_chart()

    def watch_problem(self) -> None:
        self._show_footnote()

    def _draw_chart(self) -> None:
        series = self.series
        if series is None:
            return
        points = series.points
        # The window ends at the newest sample the server knows (its clock, not this machine's).
        newest = points[-1]["timestamp"] if points else None
        self.chart_at = max(filter(None, (self.chart_at, newest)), default=datetime.now(UTC))
        self.chart.show(
            series,
            title=TITLES.get(self.selected, self.selected),
            window_minutes=self.window.minutes,
            now=self.chart_at,
        )

    def _show_context(self) -> None:
        reading = self.reading
        if reading is None:
            return
        self._put(self._context_line, format_context(self.selected, getattr(reading.summary, self.selected)))

    def _show_footnote(self) -> None:
        parts: list[str] = []
        if self.problem:
            parts.append(self.problem)
        if self.ops.connection is not ConnectionState.CONNECTED:
            parts.append("not refreshing while disconnected")
        else:
            parts.append("←/→ or tab: metric · w: window · r: refresh")
        self._put(self._footnote, " · ".join(parts))
        self._footnote.set_class(bool(self.problem), "-problem")

    def _put(self, widget: Static, text: str) -> None:
        if self._texts.get(widget) != text:
            self._texts[widget] = text
            widget.update(text)
