"""What the Ask screen says about an answer, in words: the line over the blocks, a refusal, the history's cells.
Kept apart from the screen so the wording can be read (and tested) without a running app."""

from dataclasses import dataclass
from typing import Any

from rich.text import Text

from console.widgets.answer_trace import compact_timeline, format_ms
from shared.orchestration import AskResponse, Block, MarkdownBlock, RejectPlanOutput, TextBlock

EXAMPLES = (
    "which prod databases are down?",
    "서버 상태를 확인해주세요",
    "show throughput for the last hour",
    "what depends on the connector?",
    "최근 감사 로그 보여줘",
)
"""Questions of the documented intents, both languages, offered before the first ask."""
ROUTE_STYLES = {"orch": "", "direct": "", "reject": "yellow"}
TRACE_STATUS_STYLES = {"success": "green", "partial": "yellow", "rejected": "yellow", "error": "bold red"}


@dataclass(frozen=True)
class Asked:
    """One question of this session and the server's answer to it."""

    number: int
    question: str
    answer: AskResponse


def hint() -> Text:
    text = Text("Ask about configuration items, their relations, metrics, audit or runbooks, in English or Korean.")
    text.append("\nFor example:", style="dim")
    for example in EXAMPLES:
        text.append(f"\n  {example}", style="dim")
    return text


def answer_heading(asked: Asked) -> Text:
    """The question, then route · status · time · tools, then the five stages on one line."""
    meta = asked.answer.meta
    text = Text(f"#{asked.number} {asked.question}", style="bold")
    text.append("\n")
    text.append(meta.route, style=ROUTE_STYLES.get(meta.route, ""))
    text.append(" · ")
    text.append(meta.status, style=TRACE_STATUS_STYLES.get(meta.status, ""))
    text.append(f" · {format_ms(meta.duration_ms)}")
    if meta.used_tools:
        text.append(f" · {', '.join(meta.used_tools)}")
    if meta.test_mode:
        text.append(" · test mode", style="yellow")
    text.append("\n")
    text.append_text(compact_timeline(asked.answer))
    return text


def refusal(answer: AskResponse) -> Text | None:
    """Why the pipeline refused, with the policy that fired; None for an answer that was not refused."""
    plan = answer.trace.plan_output
    if not isinstance(plan, RejectPlanOutput):
        return None
    text = Text(f"Refused by policy {plan.reject_policy}", style="bold")
    text.append(f"\n{plan.reject_reason}")
    if plan.reasoning:
        text.append(f"\nwhy: {plan.reasoning}", style="dim")
    return text


def blocks_to_show(answer: AskResponse) -> list[Block]:
    """The answer's blocks, without a text block of a refusal that only repeats the reason the refusal panel
    already shows."""
    plan = answer.trace.plan_output
    if not isinstance(plan, RejectPlanOutput):
        return list(answer.blocks)

    def repeats_reason(block: Block) -> bool:
        match block:
            case TextBlock():
                return plan.reject_reason in block.content.text
            case MarkdownBlock():
                return plan.reject_reason in block.content.markdown
        return False

    return [block for block in answer.blocks if not repeats_reason(block)]


def history_cells(asked: Asked) -> list[str | Text]:
    meta = asked.answer.meta
    return [
        str(asked.number),
        asked.answer.trace.created_at.strftime("%H:%M:%S"),
        asked.question,
        Text(meta.status, style=TRACE_STATUS_STYLES.get(meta.status, "")),
        format_ms(meta.duration_ms),
    ]


def render_meta(rendered: list[dict[str, Any]], width: int, height: int, answer_blocks: int) -> dict[str, Any]:
    """The `meta` of a ui-render report: which client drew the blocks, on what size, with which widgets, and how
    many of the answer's blocks it left out (a refusal's block that repeats the reason)."""
    return {
        "client": "ops-console",
        "screen": "ask",
        "terminal": {"width": width, "height": height},
        "widgets": rendered,
        "omitted_blocks": answer_blocks - len(rendered),
    }
