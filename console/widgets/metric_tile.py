"""MetricTile: one summary metric — its value and unit, a stale marker, and a sparkline of its recent samples.
It can take focus; the screen shows the focused tile's context and charts its metric."""

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Sparkline, Static

from shared.metrics import MetricValue

STALE_MARKER = "stale"

TITLES: dict[str, str] = {
    "coverage_ratio": "Coverage",
    "throughput_mps": "Throughput",
    "failover_latency_ms": "Failover",
    "runbook_exit_code": "Exit code",
    "consumer_backlog_messages": "Backlog",
}
"""Short titles for the summary's keys: five tiles share 80 columns."""

SHORT_UNITS: dict[str, str] = {"messages": "msgs"}


def format_number(value: float) -> str:
    """`5,400`, `1.2M`: at most about eight characters, so value and unit fit a tile at 80 columns."""
    magnitude = abs(value)
    if magnitude >= 10_000_000:
        return f"{value / 1_000_000:.1f}M"
    if magnitude >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def format_value(key: str, metric: MetricValue) -> str:
    """The value as a tile shows it: a ratio as a percentage, others with their unit; `—` without a sample."""
    if metric.value is None:
        return "—"
    if key == "coverage_ratio":
        return f"{metric.value * 100:.2f} %"
    unit = SHORT_UNITS.get(metric.unit or "", metric.unit or "")
    return f"{format_number(metric.value)} {unit}".strip()


def format_context(key: str, metric: MetricValue) -> str:
    """One line about the metric: its name, why it is stale or empty, and its context fields."""
    parts = [f"{TITLES.get(key, key)} ({metric.metric})"]
    if metric.stale:
        parts.append("STALE")
    note = metric.context.get("note")
    if note:
        parts.append(str(note))
    parts += [f"{name.removesuffix('_total')} {value}" for name, value in metric.context.items() if name != "note"]
    return " · ".join(parts)


class MetricTile(Vertical, can_focus=True):
    """A tile of the metrics overview. `show()` and `show_series()` redraw only what changed."""

    @dataclass
    class Selected(Message):
        """The tile took focus: the screen charts its metric and shows its context."""

        tile: "MetricTile"

    DEFAULT_CLASSES: ClassVar[str] = "metric-tile"

    def __init__(self, key: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.key = key
        self.metric: MetricValue | None = None
        self.border_title = TITLES.get(key, key)
        self._value = Static("…", classes="tile-value", markup=False)
        self._sparkline = Sparkline([], classes="tile-spark")
        self._shown: tuple[str, bool] = ("…", False)
        self._series: list[float] = []

    def compose(self) -> ComposeResult:
        yield self._value
        yield self._sparkline

    def show(self, metric: MetricValue) -> None:
        self.metric = metric
        stale = metric.stale or metric.value is None
        text = format_value(self.key, metric)
        if (text, stale) == self._shown:
            return
        self._shown = (text, stale)
        self._value.update(text)
        self.set_class(stale, "-stale")
        # The marker sits in the border, where it shows even when the value fills the tile.
        self.border_subtitle = STALE_MARKER if stale else ""

    def show_series(self, values: list[float]) -> None:
        if values != self._series:
            self._series = values
            self._sparkline.data = values

    @property
    def shown_value(self) -> str:
        return self._shown[0]

    def on_focus(self) -> None:
        self.post_message(self.Selected(self))
