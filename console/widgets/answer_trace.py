"""AnswerTrace: how an answer came about — the plan the router chose, the five stages with their status, duration
and diagnostics, and every replan decision with the plan before and after. Rich tables in Statics, so long
diagnostics wrap instead of scrolling sideways."""

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from shared.orchestration import STAGES, AskResponse, OrchPlanOutput, RejectPlanOutput, ReplanEvent, StageOutput

STATUS_STYLES = {"ok": "green", "warning": "yellow", "error": "bold red", "not run": "dim"}
STATUS_MARKS = {"ok": "✓", "warning": "!", "error": "✗", "not run": "·"}
NOT_RUN = "not run"


def format_ms(ms: int) -> str:
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def stage_rows(answer: AskResponse) -> list[tuple[str, str, str, str]]:
    """(stage, status, duration, notes) for each of the five stages, in pipeline order; a stage the trace has no
    output for (the pipeline stopped before it) is `not run`."""
    outputs: dict[str, StageOutput] = {o.stage: o for o in answer.trace.stage_outputs}
    rows: list[tuple[str, str, str, str]] = []
    for stage in STAGES:
        output = outputs.get(stage)
        if output is None:
            rows.append((stage, NOT_RUN, "", ""))
            continue
        diagnostics = output.diagnostics
        notes = [*diagnostics.errors, *diagnostics.warnings]
        notes += [f"{key}: {value}" for key, value in diagnostics.counts.items()]
        rows.append((stage, diagnostics.status, format_ms(output.duration_ms), "; ".join(notes)))
    return rows


def compact_timeline(answer: AskResponse) -> Text:
    """The five stages on one line (it wraps at 80 columns): `✓ route_plan 62 ms > ...`."""
    line = Text()
    for index, (stage, status, duration, _) in enumerate(stage_rows(answer)):
        if index:
            line.append(" > ", style="dim")
        style = STATUS_STYLES.get(status, "")
        line.append(f"{STATUS_MARKS.get(status, '?')} ", style=style)
        line.append(stage, style=style if status != "ok" else "")
        if duration:
            line.append(f" {duration}", style="dim")
    replans = len(answer.trace.replan_events)
    if replans:
        line.append(f"  · {replans} replan" + ("" if replans == 1 else "s"), style="yellow")
    return line


def steps_text(plan: Any) -> str:
    """A plan (or a patch side) as `tool(k=v, ...)` per step; anything else as compact JSON."""
    steps = plan.get("steps") if isinstance(plan, dict) else None
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        return json.dumps(plan, ensure_ascii=False, default=str)
    return "; ".join(f"{s.get('tool')}({params_text(s.get('params') or {})})" for s in steps) or "no steps"


def params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in params.items())


def replan_text(event: ReplanEvent) -> Text:
    """One replan decision: what triggered it, whether it replanned (and why not), the plan before and after."""
    trigger = event.trigger
    meta = event.decision_metadata
    text = Text()
    text.append(f"{event.stage_name} · {trigger.trigger_type} ({trigger.severity}): ", style="bold")
    text.append(trigger.reason)
    if meta.get("should_replan"):
        count, most = meta.get("replan_count"), meta.get("max_replans")
        of = f" ({count} of {most})" if count is not None and most is not None else ""
        text.append(f"\n  replanned{of}", style="yellow")
    else:
        why = meta.get("reason")
        text.append("\n  not replanned" + (f": {why}" if why else ""), style="dim")
    text.append(f"\n  before: {steps_text(event.patch.before)}")
    text.append(f"\n  after:  {steps_text(event.patch.after)}")
    return text


def plan_text(answer: AskResponse) -> Text:
    trace = answer.trace
    plan = trace.plan_output
    text = Text()
    text.append(f"trace {trace.trace_id}", style="bold")
    text.append(f"\n{trace.route} by the {trace.router} router · confidence {plan.confidence:.2f}")
    if plan.reasoning:
        text.append(f" · {plan.reasoning}")
    match plan:
        case OrchPlanOutput():
            text.append(f"\nplan {plan.plan.intent}: {steps_text(plan.plan.model_dump())}")
        case RejectPlanOutput():
            text.append(f"\nrefused by policy {plan.reject_policy}: {plan.reject_reason}", style="yellow")
    if trace.applied_assets:
        text.append("\nassets " + ", ".join(trace.applied_assets.values()), style="dim")
    return text


def stages_table(answer: AskResponse) -> Table:
    table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
    table.add_column("Stage", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Time", justify="right", no_wrap=True)
    table.add_column("Diagnostics", ratio=1)
    for stage, status, duration, notes in stage_rows(answer):
        style = STATUS_STYLES.get(status, "")
        table.add_row(stage, Text(f"{STATUS_MARKS.get(status, '?')} {status}", style=style), duration, notes)
    return table


class AnswerTrace(Vertical):
    """The Stages tab of the Ask screen."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._plan = Static("No question asked yet.", id="trace-plan")
        self._stages = Static(id="trace-stages")
        self._replans = Static(id="trace-replans")
        self._render_note = Static(id="trace-render", markup=False)
        self._render_note.display = False

    def compose(self) -> ComposeResult:
        yield self._plan
        yield self._stages
        yield self._replans
        yield self._render_note

    def show(self, answer: AskResponse) -> None:
        self._plan.update(plan_text(answer))
        self._stages.update(stages_table(answer))
        events = answer.trace.replan_events
        parts: list[RenderableType] = [Text(f"Replans: {len(events) or 'none'}", style="bold")]
        parts += [replan_text(event) for event in events]
        self._replans.update(Group(*parts))

    def note_render(self, note: str) -> None:
        """Whether the inspector has what was rendered of this answer (quiet: one dim line at the end)."""
        self._render_note.display = bool(note)
        self._render_note.update(note)
