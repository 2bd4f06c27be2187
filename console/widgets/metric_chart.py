"""MetricChart: one metric's timeseries as a plotext line chart (textual-plotext), with time labels on the x axis
and its unit on the y axis. `show()` redraws only when the series or the window changed."""

import math
from datetime import UTC, datetime

from textual_plotext import PlotextPlot

from shared.metrics import TimeseriesResponse

MAX_TICKS = 6
"""Time labels along the x axis: enough to read a time off, few enough to fit 80 columns."""
TICK_SECONDS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800)
"""Spacings a label may fall on: whole minutes, hours and days, so labels read as round times."""


def tick_labels(start: float, end: float, long_window: bool) -> tuple[list[float], list[str]]:
    """Positions between `start` and `end` (epoch seconds) on the first round spacing that gives at most
    `MAX_TICKS` of them, and their UTC labels: `HH:MM`; `MM-DD HH:MM` in windows of days, `MM-DD` on whole days."""
    span = max(end - start, 60.0)
    spacing = next((s for s in TICK_SECONDS if span / s <= MAX_TICKS), TICK_SECONDS[-1])
    first = math.ceil(start / spacing) * spacing
    positions = [float(t) for t in range(int(first), int(start + span) + 1, spacing)]
    form = "%m-%d" if spacing % 86400 == 0 else "%m-%d %H:%M" if long_window else "%H:%M"
    return positions, [datetime.fromtimestamp(p, UTC).strftime(form) for p in positions]


class MetricChart(PlotextPlot):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: TimeseriesResponse | None = None
        self._key: tuple[object, ...] | None = None

    def show(self, series: TimeseriesResponse | None, *, title: str, window_minutes: int, now: datetime) -> None:
        """Draw `series` over the `window_minutes` ending at `now` (the x axis spans the whole window, so a short
        history shows as a short line at the right rather than stretched across)."""
        points = [] if series is None else [(p["timestamp"].timestamp(), float(p["value"])) for p in series.points]
        key = (title, window_minutes, now, tuple(points), None if series is None else (series.stale, series.note))
        if key == self._key:
            return
        self._key = key
        self.series = series
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        end = now.timestamp()
        start = end - window_minutes * 60
        unit = series.unit if series is not None and series.unit else ""
        heading = f"{title} ({unit})" if unit else title
        if series is not None and series.stale:
            heading += " — stale" + (f": {series.note}" if series.note else "")
        elif series is not None and not points:
            heading += " — no samples in this window"
        plt.title(heading)
        if points:
            plt.plot([x for x, _ in points], [y for _, y in points], marker="braille")
        plt.xlim(start, end)
        positions, labels = tick_labels(start, end, window_minutes > 24 * 60)
        plt.xticks(positions, labels)
        self.refresh()
