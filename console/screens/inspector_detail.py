"""One trace as the Inspector's Detail tab shows it: what was asked and how it was routed, the five stages with
their diagnostics (status, duration, references, warnings and errors, counts, empty flags, the asset versions each
stage applied), the replan decisions, and the audit entries about it (who asked, each stage's execution, the render
a client stored). Rich renderables for a Static in a scrolling pane, so long diagnostics wrap."""

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from console.problems import read
from console.screens.inspector_words import STATUS_STYLES
from console.widgets.answer_trace import STATUS_MARKS, format_ms, replan_text
from console.widgets.answer_trace import STATUS_STYLES as STAGE_STYLES
from shared.inspector import TraceAuditLog, TraceDetail, UiRender
from shared.orchestration import STAGES, StageInput, StageOutput, Trace

if TYPE_CHECKING:
    from console.app import OpsConsole

NOT_RUN = "not run"
REFERENCES_SHOWN = 3
"""References named per stage; the rest are counted."""


def at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def heading(trace: Trace) -> Text:
    text = Text()
    text.append(trace.trace_id, style="bold")
    text.append(f"\n{trace.question}")
    text.append(f"\n{trace.route} · ")
    text.append(trace.status, style=STATUS_STYLES.get(trace.status, ""))
    text.append(f" · {trace.feature} · {at(trace.created_at)} UTC · {format_ms(trace.duration_ms)}")
    text.append(f" · {trace.router} router" + (" · test mode" if trace.test_mode else ""))
    if trace.applied_assets:
        assets = ", ".join(f"{kind} {ref}" for kind, ref in trace.applied_assets.items())
        text.append(f"\nassets {assets}", style="dim")
    return text


def reference_name(reference: dict[str, Any]) -> str:
    """A stage reference in a word: a CI's name, an asset's ref, else its first value."""
    for key in ("name", "ref", "id", "metric"):
        if key in reference:
            return str(reference[key])
    return str(next(iter(reference.values()), "?"))


def stage_notes(output: StageOutput, stage_input: StageInput | None) -> Text:
    """Errors, warnings, counts, empty flags, references and applied assets of one stage, one line each."""
    diagnostics = output.diagnostics
    text = Text()

    def line(body: str, style: str = "") -> None:
        if text:
            text.append("\n")
        text.append(body, style=style)

    for error in diagnostics.errors:
        line(f"✗ {error}", "bold red")
    for warning in diagnostics.warnings:
        line(f"! {warning}", "yellow")
    if diagnostics.counts:
        line(", ".join(f"{key} {value}" for key, value in diagnostics.counts.items()))
    empty = [key for key, flag in diagnostics.empty_flags.items() if flag]
    if empty:
        line("empty: " + ", ".join(empty), "yellow")
    assets = list(stage_input.applied_assets.values()) if stage_input is not None else []
    # A stage refers to the assets it applied too: those are on the assets line already.
    references = [name for name in map(reference_name, output.references) if name not in assets]
    if references:
        more = len(references) - REFERENCES_SHOWN
        line("refs " + ", ".join(references[:REFERENCES_SHOWN]) + (f" +{more}" if more > 0 else ""), "dim")
    if assets:
        line("assets " + ", ".join(assets), "dim")
    return text


def stages_table(trace: Trace) -> Table:
    """The five stages in pipeline order; one the pipeline never reached is `not run`."""
    outputs = {o.stage: o for o in trace.stage_outputs}
    inputs = {i.stage: i for i in trace.stage_inputs}
    table = Table(box=None, expand=True, pad_edge=False, header_style="bold", title_justify="left")
    table.add_column("Stage", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Time", justify="right", no_wrap=True)
    table.add_column("Refs", justify="right", no_wrap=True)
    table.add_column("Diagnostics", ratio=1)
    for stage in STAGES:
        output = outputs.get(stage)
        if output is None:
            table.add_row(stage, Text(f"{STATUS_MARKS[NOT_RUN]} {NOT_RUN}", style=STAGE_STYLES[NOT_RUN]), "", "", "")
            continue
        status = output.diagnostics.status
        mark = Text(f"{STATUS_MARKS.get(status, '?')} {status}", style=STAGE_STYLES.get(status, ""))
        notes = stage_notes(output, inputs.get(stage))
        table.add_row(stage, mark, format_ms(output.duration_ms), str(len(output.references)), notes)
    return table


def audit_what(log: TraceAuditLog) -> str:
    """'asked', 'route_plan executed', 'rendered 2 blocks'."""
    match log.resource_type:
        case "stage":
            return f"{log.resource_id} {log.action}"
        case "ui_render":
            blocks = log.detail.get("block_count")
            return f"{log.action} {blocks} blocks" if blocks is not None else log.action
        case _:
            return log.action


def audit_table(logs: list[TraceAuditLog]) -> Table:
    table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
    table.add_column("When (UTC)", no_wrap=True)
    table.add_column("Who", ratio=1)
    table.add_column("What", ratio=2)
    table.add_column("Outcome", no_wrap=True)
    table.add_column("Entry", justify="right", no_wrap=True)
    for log in logs:
        outcome = Text(log.outcome, style="" if log.outcome == "ok" else "yellow")
        table.add_row(
            log.timestamp.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3],
            log.principal or "-",
            audit_what(log),
            outcome,
            f"#{log.audit_entry_id}",
        )
    return table


def render_text(render: UiRender | None) -> Text:
    if render is None:
        return Text("No render stored: no client has reported what it showed of this answer.", style="dim")
    kinds = ", ".join(block.type for block in render.blocks) or "no blocks"
    who = render.principal or "unknown"
    return Text(
        f"Rendered by {who} at {at(render.recorded_at)} UTC: {len(render.blocks)} blocks ({kinds}), "
        f"{render.size_bytes} bytes",
        style="dim",
    )


def section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def detail_renderable(detail: TraceDetail) -> RenderableType:
    """The whole Detail tab for one trace."""
    trace = detail.trace
    parts: list[RenderableType] = [heading(trace), section("Stages"), stages_table(trace)]
    replans = trace.replan_events
    parts.append(section(f"Replans: {len(replans) or 'none'}"))
    parts += [replan_text(event) for event in replans]
    parts.append(section(f"Audit log: {len(detail.audit_logs)} entries"))
    parts += [audit_table(detail.audit_logs), render_text(detail.ui_render)]
    return Group(*parts)


class DetailPane(Vertical):
    """The Detail tab: a line of hints (or why the trace could not be read) over the scrolling detail."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._note = Static(id="detail-note", markup=False)
        self._scroll = VerticalScroll(id="detail-scroll")
        self._body = Static(id="detail-body")
        self.detail: TraceDetail | None = None
        self.problem = ""
        """Why the last read failed other than by the connection (a 404, a 500), shown in place."""

    @property
    def ops(self) -> "OpsConsole":
        return cast("OpsConsole", self.app)

    def compose(self) -> ComposeResult:
        yield self._note
        with self._scroll:
            yield self._body

    def on_mount(self) -> None:
        self._show_note()

    def focus_body(self) -> None:
        self._scroll.focus()

    def open(self, trace_id: str) -> None:
        """Show `trace_id`, reading it unless it is the one shown."""
        if self.detail is None or self.detail.trace.trace_id != trace_id:
            self.detail = None
            self._body.update("")
            self._show_note(loading=trace_id)
            self.load(trace_id)

    @work(exclusive=True, group="detail")
    async def load(self, trace_id: str) -> None:
        trace = self.ops.client.orchestration.get_trace(trace_id)
        detail = await read(self, trace, title=f"Trace {trace_id}", on_problem=self._set_problem)
        if detail is None:
            return
        self.problem = ""
        self.detail = detail
        self._body.update(detail_renderable(detail))
        self._show_note()
        self.screen.refresh_bindings()

    def _set_problem(self, problem: str) -> None:
        self.problem = problem
        self._show_note()

    def _show_note(self, loading: str | None = None) -> None:
        if self.problem:
            text = self.problem
        elif loading is not None:
            text = f"Loading {loading}..."
        elif self.detail is None:
            text = "No trace open: enter on a trace in the list shows it here."
        else:
            text = "m marks this trace · t back to the list · arrows scroll"
        self._note.update(text)
        self._note.set_class(bool(self.problem), "-problem")
