"""TraceTree: an investigation's trace as a tree — each planner decision with the tool and reasoning calls it led to
underneath — then its insights (with their evidence), recommendations and rule draft. Each node carries the item the
step pane shows; a rebuild (the investigation moved on) keeps the cursor on the item it was on."""

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from console.widgets.agent_format import format_duration
from shared.agent import (
    Evidence,
    Insight,
    InvestigationDetail,
    PlannerStep,
    ReasoningStep,
    Recommendation,
    RuleDraft,
    Step,
    ToolStep,
)

TraceItem = PlannerStep | ToolStep | ReasoningStep | Insight | Evidence | Recommendation | RuleDraft | None
"""What a node stands for (None: a heading)."""

KIND_STYLES = {"planner": "bold", "tool": "", "reasoning": "italic"}


@dataclass(frozen=True)
class TraceNode:
    key: str
    """Stable across rebuilds: `step:4`, `insight:<id>`, `evidence:<insight id>:0`, `rule`..."""
    item: TraceItem


def step_label(step: Step) -> Text:
    match step:
        case PlannerStep():
            what = f"plan → {step.decision}"
        case ToolStep():
            what = f"tool {step.name}"
        case ReasoningStep():
            what = f"reasoning ({step.model})"
    label = Text(f"#{step.step_no} {what}", style=KIND_STYLES[step.kind])
    label.append(f" · {format_duration(step.duration_ms)}", style="dim")
    if step.status == "error":
        label.append(" · error", style="bold red")
    return label


def group_steps(steps: list[Step]) -> list[tuple[Step, list[Step]]]:
    """Each planner step with the steps it led to (those before the next planner step). A step before any planner
    decision stands alone."""
    groups: list[tuple[Step, list[Step]]] = []
    for step in steps:
        if isinstance(step, PlannerStep) or not groups or not isinstance(groups[-1][0], PlannerStep):
            groups.append((step, []))
        else:
            groups[-1][1].append(step)
    return groups


class TraceTree(Tree[TraceNode]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="trace.down"),
        Binding("k", "cursor_up", "Up", show=False, id="trace.up"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Trace", data=TraceNode("root", None), id=id)
        self.show_root = False
        self.guide_depth = 2
        self.rebuilds = 0
        """How often the tree was cleared and refilled (tests read it: an unchanged investigation must not)."""
        self._shown: str | None = None

    @property
    def selected_key(self) -> str | None:
        node = self.cursor_node
        return node.data.key if node is not None and node.data is not None else None

    def show(self, detail: InvestigationDetail) -> None:
        """Build the tree for `detail`; nothing is redrawn when what it shows has not changed."""
        shown = detail.model_dump_json(include={"status", "steps", "insights", "recommendations", "rule_draft"})
        if shown == self._shown:
            return
        self._shown = shown
        selected = self.selected_key
        self.clear()
        self.rebuilds += 1
        nodes: dict[str, TreeNode[TraceNode]] = {}
        steps = self.root.add(f"Steps ({len(detail.steps)})", data=TraceNode("steps", None), expand=True)
        for head, rest in group_steps(detail.steps):
            parent = steps.add(step_label(head), data=TraceNode(f"step:{head.step_no}", head), expand=True)
            nodes[f"step:{head.step_no}"] = parent
            if not rest:
                parent.allow_expand = False
            for step in rest:
                key = f"step:{step.step_no}"
                nodes[key] = parent.add_leaf(step_label(step), data=TraceNode(key, step))
        insights = self.root.add(f"Insights ({len(detail.insights)})", data=TraceNode("insights", None), expand=True)
        for insight in detail.insights:
            key = f"insight:{insight.insight_id}"
            node = insights.add(
                f"{insight.severity} {insight.kind}: {insight.title}", data=TraceNode(key, insight), expand=True
            )
            nodes[key] = node
            for n, evidence in enumerate(insight.evidence):
                ev_key = f"evidence:{insight.insight_id}:{n}"
                nodes[ev_key] = node.add_leaf(
                    f"evidence #{evidence.step_no} {evidence.tool}: {evidence.summary}",
                    data=TraceNode(ev_key, evidence),
                )
        recs = self.root.add(
            f"Recommendations ({len(detail.recommendations)})", data=TraceNode("recommendations", None), expand=True
        )
        for rec in detail.recommendations:
            key = f"recommendation:{rec.recommendation_id}"
            nodes[key] = recs.add_leaf(f"{rec.severity} {rec.action}", data=TraceNode(key, rec))
        draft = detail.rule_draft
        nodes["rule"] = self.root.add_leaf(
            f"Rule draft: {draft.name}" if draft is not None else "Rule draft: none", data=TraceNode("rule", draft)
        )
        target = nodes.get(selected or "")
        if target is not None:
            # A new node's line is known only once the tree has laid its lines out again.
            self.call_after_refresh(self.move_cursor, target)
