"""The compose stage: an answer's blocks, laid out by the screen asset — a summary (text or markdown), then one
block per step: a table of the layout's columns, a timeseries, or the layout's words for an empty answer."""

from dataclasses import dataclass
from typing import Any

from server.services.orchestration.asset_content import Layout, ScreenContent
from server.services.orchestration.tools import ToolResult
from shared.orchestration import (
    Block,
    MarkdownBlock,
    MarkdownContent,
    TableBlock,
    TableContent,
    TextBlock,
    TextContent,
    TimeseriesBlock,
    ToolCall,
)


@dataclass
class StepOutcome:
    """How a step of the plan ended, after any replans: its result, or why it has none."""

    step: ToolCall
    result: ToolResult | None
    error: str | None = None


class _Lenient(dict[str, Any]):
    """Format values; a placeholder the template names but the answer lacks stays as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, values: dict[str, Any]) -> str:
    return template.format_map(_Lenient(values))


def summary_block(screen: ScreenContent, route: str, values: dict[str, Any]) -> Block:
    text = fill(screen.summary.get(route, "{route}"), {"route": route, **values})
    if screen.summary_block == "markdown":
        return MarkdownBlock(content=MarkdownContent(markdown=text))
    return TextBlock(content=TextContent(text=text))


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def step_block(outcome: StepOutcome, layout: Layout | None) -> Block:
    tool = outcome.step.tool
    layout = layout or Layout(title=tool)
    title = fill(layout.title, outcome.step.params)
    result = outcome.result
    if result is None:
        return TextBlock(title=title, content=TextContent(text=f"{tool} gave no answer: {outcome.error}"))
    if result.empty:
        return TextBlock(title=title, content=TextContent(text=layout.empty_text))
    if result.series is not None:
        return TimeseriesBlock(title=fill(layout.title, {"metric": result.series.metric}), content=result.series)
    if layout.columns:
        fields, headers = [c.field for c in layout.columns], [c.header for c in layout.columns]
    else:
        fields = headers = list(result.rows[0])
    rows = [[_cell(row.get(name)) for name in fields] for row in result.rows]
    if layout.block == "markdown":
        lines = [" | ".join(headers), " | ".join("---" for _ in headers), *(" | ".join(map(str, r)) for r in rows)]
        return MarkdownBlock(title=title, content=MarkdownContent(markdown="\n".join(lines)))
    return TableBlock(title=title, content=TableContent(headers=headers, rows=rows))


def counts_text(outcomes: list[StepOutcome]) -> str:
    parts = []
    for outcome in outcomes:
        if outcome.result is None:
            parts.append(f"{outcome.step.tool} failed")
        else:
            shown = len(outcome.result.rows) or (len(outcome.result.series.points) if outcome.result.series else 0)
            parts.append(f"{shown} of {outcome.result.total} shown ({outcome.step.tool})")
    return "; ".join(parts)
