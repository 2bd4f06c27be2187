"""Two marked traces side by side as the Inspector's Compare tab shows them: each stage's status, duration and
references in the baseline (A) and the comparison (B), what changed, and its 0-100 regression score (0: none);
then, once one was run, the stored regression analysis (score, significant changes, critical issues, summary,
recommendations). Also the confirm view of the analysis, which is stored and may send a webhook."""

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from console.screens.inspector_detail import at
from console.widgets.answer_trace import STATUS_MARKS, STATUS_STYLES, format_ms
from console.widgets.confirm_dialog import ConfirmView
from shared.inspector import (
    AnalysisType,
    RegressionAnalysis,
    StageComparison,
    StageDifference,
    StageDifferences,
    StageMetrics,
    TraceSummary,
)
from shared.orchestration import STAGES

SIGNIFICANT_SCORE = 10
CRITICAL_SCORE = 50
"""The server's thresholds (README, "Regression scores"): from 10 a stage changed significantly, from 50 critically."""
MISSING = "missing"


def score_style(score: int) -> str:
    if score >= CRITICAL_SCORE:
        return "bold red"
    if score >= SIGNIFICANT_SCORE:
        return "yellow"
    return "green"


def score_text(score: int, suffix: str = "") -> Text:
    return Text(f"{score}{suffix}", style=score_style(score))


def side(metrics: StageMetrics) -> Text:
    """One trace's stage in a cell: `✓ ok 9 ms 2 refs`, or `not run`."""
    if metrics.status == MISSING:
        return Text("· not run", style="dim")
    if metrics.skipped:
        text = Text("- skipped", style="dim")
    else:
        text = Text(
            f"{STATUS_MARKS.get(metrics.status, '?')} {metrics.status}", style=STATUS_STYLES.get(metrics.status, "")
        )
    text.append(f" {format_ms(metrics.duration_ms)}")
    if metrics.reference_count:
        text.append(f" {metrics.reference_count} ref{'' if metrics.reference_count == 1 else 's'}", style="dim")
    return text


def duration_change(difference: StageDifference) -> str:
    delta = difference.duration_difference_ms
    if delta == 0:
        return "="
    ratio = f" {difference.duration_ratio:.1f}x" if difference.duration_ratio is not None else ""
    return f"{delta:+d} ms{ratio}"


def changes(differences: StageDifferences, issues: list[str]) -> Text:
    """What changed in the stage, briefly: the server's issues first, then the raw differences."""
    parts = list(issues)
    if differences.status is not None:
        parts.append(f"status {differences.status.before} -> {differences.status.after}")
    if differences.reference_count:
        parts.append(f"refs {differences.reference_count:+d}")
    parts += [f"new error: {e}" for e in differences.new_errors]
    parts += [f"new warning: {w}" for w in differences.new_warnings]
    parts += [f"{key} {delta:+d}" for key, delta in differences.counts.items()]
    parts += [
        f"{key} empty {flag_word(flag.before)} -> {flag_word(flag.after)}"
        for key, flag in differences.empty_flags.items()
    ]
    parts += [f"{kind} {change.before} -> {change.after}" for kind, change in differences.applied_assets.items()]
    return Text("; ".join(parts) if parts else "unchanged", style="" if parts else "dim")


def flag_word(flag: bool | None) -> str:
    return "unset" if flag is None else str(flag).lower()


def trace_line(letter: str, role: str, trace: TraceSummary) -> Text:
    text = Text()
    text.append(f" {letter} ", style="bold reverse")
    text.append(f" {role} {trace.trace_id}", style="bold")
    text.append(f"\n   {trace.question_snippet}")
    text.append(f"\n   {trace.route} · {trace.status} · {trace.feature} · {at(trace.created_at)} UTC", style="dim")
    text.append(f" · {format_ms(trace.duration_ms)}", style="dim")
    return text


def comparison_table(comparison: StageComparison, *, wide: bool) -> Table:
    """Stage by stage; `wide`: with a Changes column (narrow, the changes follow the table)."""
    table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
    table.add_column("Stage", no_wrap=True)
    table.add_column("A baseline", no_wrap=True)
    table.add_column("B comparison", no_wrap=True)
    table.add_column("Time", justify="right", no_wrap=True)
    table.add_column("Score", justify="right", no_wrap=True)
    if wide:
        table.add_column("Changes", ratio=1)
    for stage, difference in compared_stages(comparison):
        cells: list[RenderableType] = [
            stage,
            side(difference.baseline_metrics),
            side(difference.comparison_metrics),
            duration_change(difference),
            score_text(comparison.regression_scores.get(stage, 0)),
        ]
        if wide:
            cells.append(changes(difference.differences, difference.issues))
        table.add_row(*cells)
    return table


def compared_stages(comparison: StageComparison) -> list[tuple[str, StageDifference]]:
    """The stages compared, in pipeline order."""
    return [(s, comparison.stage_differences[s]) for s in STAGES if s in comparison.stage_differences]


def changes_list(comparison: StageComparison) -> Text:
    """Narrow terminals: what changed, one stage a line, only the stages that changed."""
    text = Text()
    text.append("Changes: ", style="bold")
    changed = [(s, d) for s, d in compared_stages(comparison) if changes(d.differences, d.issues).plain != "unchanged"]
    if not changed:
        text.append("none", style="dim")
    for stage, difference in changed:
        text.append(f"\n  {stage} ", style="bold")
        text.append_text(changes(difference.differences, difference.issues))
    return text


def comparison_renderable(comparison: StageComparison, *, wide: bool) -> RenderableType:
    overall = Text()
    overall.append("Overall regression score ", style="bold")
    overall.append_text(score_text(comparison.overall_regression_score, "/100"))
    overall.append(f" · {comparison.overall_assessment}")
    parts: list[RenderableType] = [
        trace_line("A", "baseline", comparison.baseline_trace),
        trace_line("B", "comparison", comparison.comparison_trace),
        Text(""),
        overall,
        comparison_table(comparison, wide=wide),
    ]
    if not wide:
        parts.append(changes_list(comparison))
    return Group(*parts)


def bullets(title: str, items: list[str], style: str = "") -> Text:
    text = Text()
    text.append(f"{title}: ", style="bold")
    if not items:
        text.append("none", style="dim")
    for item in items:
        text.append(f"\n  • {item}", style=style)
    return text


def analysis_renderable(analysis: RegressionAnalysis) -> RenderableType:
    """A stored analysis: its score and counts, then the summary, critical issues and recommendations."""
    head = Text(f"\nRegression analysis {analysis.analysis_id} ({analysis.type})", style="bold underline")
    score = Text()
    score.append("Score ", style="bold")
    score.append_text(score_text(analysis.overall_regression_score, "/100"))
    changed = analysis.significant_changes
    score.append(f" · {changed} significant change{'' if changed == 1 else 's'}")
    score.append(f" · {len(analysis.critical_issues)} critical", style="bold red" if analysis.critical_issues else "")
    score.append(f" · by {analysis.requested_by or 'unknown'} at {at(analysis.completed_at)} UTC", style="dim")
    stages = Text()
    stages.append("Stage scores: ", style="bold")
    for index, report in enumerate(analysis.stage_reports):
        if index:
            stages.append(" · ", style="dim")
        stages.append(f"{report.stage_name} ")
        stages.append_text(score_text(report.regression_score))
    summary = Text()
    summary.append("Summary: ", style="bold")
    summary.append(analysis.summary)
    parts: list[RenderableType] = [head, score, stages, summary]
    answer = analysis.answer_comparison
    if answer is not None:
        parts.append(bullets("Answer", answer.differences if answer.changed else ["unchanged"]))
    parts.append(bullets("Critical issues", analysis.critical_issues, "bold red"))
    parts.append(bullets("Recommendations", analysis.recommendations))
    return Group(*parts)


def analysis_view(baseline: TraceSummary, comparison: TraceSummary, kind: AnalysisType) -> ConfirmView:
    """The confirm dialog of a regression analysis: which traces, which comparison, and what it leaves behind."""
    what = "every stage and the answers" if kind == "full" else "every stage"
    return ConfirmView(
        title=f"Confirm: {kind} regression analysis",
        rows=(
            ("Type", f"{kind}: compares {what}"),
            ("A baseline", f"{baseline.trace_id} · {baseline.question_snippet}"),
            ("B comparison", f"{comparison.trace_id} · {comparison.question_snippet}"),
            ("Stores", "the analysis, under your token's name"),
            ("Sends", "regression.completed to webhook subscribers"),
        ),
    )
