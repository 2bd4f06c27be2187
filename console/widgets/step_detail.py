"""StepDetail: the pane beside the trace tree — the selected step's input and output (a planner's decision and the
alternatives it weighed, a tool call's input and output, a reasoning call's prompt and response), or the selected
insight, evidence, recommendation or rule draft; on a heading, the investigation's summary."""

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.widgets.agent_format import format_at, format_duration, pretty
from console.widgets.trace_tree import TraceItem, TraceNode
from shared.agent import (
    Evidence,
    Insight,
    InvestigationDetail,
    PlannerStep,
    ReasoningStep,
    Recommendation,
    RuleDraft,
    ToolStep,
)

NO_RULE = "No rule draft: the findings did not generalise to a rule."


def summary_text(detail: InvestigationDetail) -> str:
    lines = [
        f"Investigation {detail.investigation_id}",
        f"Transaction   {detail.transaction_id}",
        f"Status        {detail.status} ({detail.mode})",
        f"Started       {format_at(detail.started_at, wide=True)} UTC by {detail.requested_by}",
        f"Duration      {format_duration(detail.duration_ms)}",
        f"Reasoner      {detail.reasoner} ({detail.model})",
        f"Trace         {detail.trace.steps} steps, {detail.trace.tool_calls} tool calls, "
        f"{detail.trace.reasoning_calls} reasoning calls",
    ]
    if detail.verdict is not None:
        risk = f", risk {detail.risk_score:.2f}" if detail.risk_score is not None else ""
        lines.append(f"Verdict       {detail.verdict}{risk}")
    if detail.summary:
        lines += ["", detail.summary]
    if detail.error is not None:
        lines += ["", f"Failed: {detail.error.message} ({detail.error.code})"]
    return "\n".join(lines)


def item_text(item: TraceItem) -> str:
    """The pane's text for one node's item."""
    match item:
        case PlannerStep():
            lines = [f"Step {item.step_no}: planner ({item.status}, {format_duration(item.duration_ms)})", ""]
            lines += [f"Decision  {item.decision}", f"Why       {item.why}"]
            if item.alternatives:
                lines += ["", "Alternatives weighed:"]
                lines += [f"  {a.name}: {a.why_not}" for a in item.alternatives]
            return "\n".join(lines)
        case ToolStep():
            lines = [f"Step {item.step_no}: tool {item.name} ({item.status}, {format_duration(item.duration_ms)})"]
            lines += ["", "Input", pretty(item.input), "", "Output", pretty(item.output) if item.output else "-"]
            if item.error:
                lines += ["", f"Error: {item.error}"]
            return "\n".join(lines)
        case ReasoningStep():
            lines = [
                f"Step {item.step_no}: reasoning ({item.status}, {format_duration(item.duration_ms)})",
                f"Reasoner  {item.reasoner} ({item.model}), {item.attempts} attempt(s)",
                f"Tokens    {item.prompt_tokens} prompt, {item.completion_tokens} completion",
                "",
                "Prompt (input)",
                item.prompt,
                "",
                "Response (output)",
                item.response or "-",
            ]
            if item.error:
                lines += ["", f"Error: {item.error}"]
            return "\n".join(lines)
        case Insight():
            lines = [f"Insight: {item.title}", f"{item.kind}, {item.severity}, confidence {item.confidence:.0%}", ""]
            lines += [f"Evidence from step {e.step_no} ({e.tool}): {e.summary}" for e in item.evidence]
            return "\n".join(lines)
        case Evidence():
            return "\n".join([f"Evidence from step {item.step_no} ({item.tool})", item.summary, "", pretty(item.data)])
        case Recommendation():
            lines = [
                f"Recommendation: {item.action} ({item.severity})",
                item.rationale,
                "",
                f"Status    {item.status}",
            ]
            if item.decided_by:
                lines.append(f"Decided   by {item.decided_by} at {format_at(item.decided_at, wide=True)} UTC")
            if item.comment:
                lines.append(f"Comment   {item.comment}")
            return "\n".join(lines)
        case RuleDraft():
            lines = [f"Rule draft: {item.name}", item.text, "", "Condition (every clause):"]
            lines += [f"  {c.field} {c.op} {c.value!r}" for c in item.condition]
            lines += ["", f"Would have caught {len(item.caught_transaction_ids)} past deposit(s):"]
            lines += [f"  {t}" for t in item.caught_transaction_ids]
            return "\n".join(lines)
    return ""


class StepDetail(VerticalScroll):
    """Scrollable: focus it (tab) to scroll a long output."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, can_focus=True)
        self._body = Static(markup=False, id="step-body")
        self.text = ""

    def compose(self) -> ComposeResult:
        yield self._body

    def show(self, node: TraceNode | None, detail: InvestigationDetail) -> None:
        if node is None or node.item is None:
            text = NO_RULE if node is not None and node.key == "rule" else summary_text(detail)
        else:
            text = item_text(node.item)
        if text != self.text:
            self.text = text
            self._body.update(text)
            self.scroll_home(animate=False)
