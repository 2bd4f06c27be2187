"""AnswerBlocks: the blocks of an ask answer as widgets — a table as a DataTable, a timeseries as a plotext chart,
text as a Static, markdown as a Markdown — one under the other, each under its title. It also keeps a summary of
what it rendered, which the Ask screen reports to the inspector (`/inspector/traces/{id}/ui-render`)."""

from collections.abc import Sequence
from typing import Any

from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Label, Markdown, Static
from textual_plotext import PlotextPlot

from console.widgets.metric_chart import tick_labels
from shared.orchestration import Block, MarkdownBlock, TableBlock, TextBlock, TimeseriesBlock

EMPTY_CELL = "-"
LONG_WINDOW_SECONDS = 24 * 3600
"""From this span on, the chart's time labels carry the date."""
LONE_POINT_MARGIN_SECONDS = 60.0
"""A series of one sample still gets an x axis this wide either side of it."""


def cell_text(value: Any) -> str:
    """A table cell as text: None as a dash, everything else as str()."""
    return EMPTY_CELL if value is None else str(value)


class BlockTable(DataTable[str]):
    """A table block: its headers as columns, every row as given (the server already limited them)."""

    def __init__(self, block: TableBlock) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, classes="answer-table")
        self.block = block

    def on_mount(self) -> None:
        self.add_columns(*self.block.content.headers)
        width = len(self.block.content.headers)
        # A short row is padded rather than refused: the answer is still worth reading.
        rows = self.block.content.rows
        self.add_rows([[cell_text(v) for v in row] + [EMPTY_CELL] * (width - len(row)) for row in rows])


class BlockChart(PlotextPlot):
    """A timeseries block as a line chart with round time labels (UTC) and the unit on the y axis."""

    def __init__(self, block: TimeseriesBlock) -> None:
        super().__init__(classes="answer-chart")
        self.block = block

    def on_mount(self) -> None:
        content = self.block.content
        points = [(p.timestamp.timestamp(), p.value) for p in content.points]
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        samples = f"{len(points)} sample" + ("" if len(points) == 1 else "s")
        unit = f" ({content.unit})" if content.unit else ""
        # The block's title goes in the chart's own title line, not above it: one line fewer, said once.
        plt.title(f"{self.block.title or content.metric}{unit} — {samples}")
        if not points:
            return
        xs = [x for x, _ in points]
        start, end = min(xs), max(xs)
        if end - start < LONE_POINT_MARGIN_SECONDS:
            start, end = start - LONE_POINT_MARGIN_SECONDS, end + LONE_POINT_MARGIN_SECONDS
        # A lone braille dot is near invisible: a single sample gets a full character.
        plt.plot(xs, [y for _, y in points], marker="braille" if len(points) > 1 else "●")
        plt.xlim(start, end)
        positions, labels = tick_labels(start, end, end - start > LONG_WINDOW_SECONDS)
        plt.xticks(positions, labels)


def block_widget(block: Block) -> Widget:
    """The widget that renders `block`."""
    match block:
        case TableBlock():
            return BlockTable(block)
        case TimeseriesBlock():
            return BlockChart(block)
        case MarkdownBlock():
            return Markdown(block.content.markdown, classes="answer-markdown")
        case TextBlock():
            return Static(block.content.text, markup=False, classes="answer-text")


def rendered_summary(block: Block, widget: Widget) -> dict[str, Any]:
    """What was rendered for one block: its type and title, the widget, and how much of it there was."""
    summary: dict[str, Any] = {"type": block.type, "title": block.title, "widget": type(widget).__name__}
    match block:
        case TableBlock():
            summary |= {"columns": len(block.content.headers), "rows": len(block.content.rows)}
        case TimeseriesBlock():
            summary |= {"metric": block.content.metric, "points": len(block.content.points)}
        case MarkdownBlock():
            summary |= {"chars": len(block.content.markdown)}
        case TextBlock():
            summary |= {"chars": len(block.content.text)}
    return summary


class AnswerBlocks(Vertical):
    """The answer's blocks, in the order the server composed them. `show()` replaces whatever was shown."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rendered: list[dict[str, Any]] = []
        """One summary per block now shown (see `rendered_summary`)."""

    async def show(self, blocks: Sequence[Block]) -> None:
        await self.remove_children()
        widgets: list[Widget] = []
        rendered: list[dict[str, Any]] = []
        for block in blocks:
            if block.title and not isinstance(block, TimeseriesBlock):
                widgets.append(Label(block.title, markup=False, classes="answer-title"))
            widget = block_widget(block)
            widgets.append(widget)
            rendered.append(rendered_summary(block, widget))
        await self.mount_all(widgets)
        self.rendered = rendered
