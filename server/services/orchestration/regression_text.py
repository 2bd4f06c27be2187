"""The words of a regression analysis: each stage's issues (what got worse) and recommendations (what changed, and
where to look: "execute took 3.1x longer (120 ms -> 372 ms) after query asset ops-query 1.2.0 (was 1.0.0)"), the
critical issues, the summary and the overall assessment."""

from collections.abc import Sequence

from server.services.orchestration import regression_score as scoring
from shared.inspector import AnswerComparison, StageDifferences, StageMetrics, StageReport, ValueChange

ASSESSMENT_BANDS = ((25, "Minor"), (50, "Moderate"), (101, "Severe"))  # overall score below the bound


def _asset(kind: str, change: ValueChange) -> str:
    """`query asset ops-query 1.2.0 (was 1.0.0)` from refs `asset_id:version`."""
    after_id, _, after_version = (change.after or "").partition(":")
    before_id, _, before_version = (change.before or "").partition(":")
    if change.after is None:
        return f"no {kind} asset (was {before_id} {before_version})"
    if change.before is None:
        return f"{kind} asset {after_id} {after_version}"
    was = before_version if before_id == after_id else f"{before_id} {before_version}"
    return f"{kind} asset {after_id} {after_version} (was {was})"


def cause(diff: StageDifferences) -> str:
    """` after query asset ops-query 1.2.0 (was 1.0.0)` when the stage applied other asset versions, else ``."""
    if not diff.applied_assets:
        return ""
    return " after " + " and ".join(_asset(kind, change) for kind, change in diff.applied_assets.items())


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _where_to_look(diff: StageDifferences, tools: Sequence[str], action: str) -> str:
    if diff.applied_assets:
        return f"{action} that version, or pin the earlier one back with asset_overrides"
    if tools:
        return f"the assets are the same: look at what it called ({', '.join(tools)})"
    return "the assets are the same: look at what the stage depends on"


def stage_findings(
    baseline: StageMetrics, current: StageMetrics, diff: StageDifferences, tools: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The stage's issues and recommendations; `tools` are what the comparison's stage called (execute's)."""
    stage, because = current.stage_name, cause(diff)
    issues: list[str] = []
    recommendations: list[str] = []
    if current.status == "missing" and baseline.status != "missing":
        issues.append(f"{stage} did not run in the comparison trace")
        recommendations.append(f"{stage} no longer ran{because}: compare the two traces' routes and plans")
    ratio = scoring.slowdown(baseline, current)
    if ratio is not None:
        took = f"{stage} took {ratio:.1f}x longer ({baseline.duration_ms} ms -> {current.duration_ms} ms)"
        issues.append(took)
        recommendations.append(f"{took}{because}: {_where_to_look(diff, tools, 'review the timeouts and queries of')}")
    if (
        diff.status is not None
        and "missing" not in (baseline.status, current.status)
        and scoring.status_penalty(baseline, current)
    ):
        issues.append(f"{stage} status went from {diff.status.before} to {diff.status.after}")
    if diff.new_errors:  # a different error matters even when there are no more of them
        issues.append(f"{stage} has {_plural(len(diff.new_errors), 'new error')}: {'; '.join(diff.new_errors[:3])}")
        recommendations.append(
            f"{stage} now fails with '{diff.new_errors[0]}'{because}: "
            + _where_to_look(diff, tools, "check what changed in")
        )
    if diff.new_warnings and diff.warning_count > 0:
        issues.append(
            f"{stage} has {_plural(len(diff.new_warnings), 'new warning')}: {'; '.join(diff.new_warnings[:3])}"
        )
    lost = baseline.reference_count - current.reference_count
    if lost > 0:
        issues.append(
            f"{stage} returned {_plural(lost, 'reference')} fewer ({baseline.reference_count} -> "
            f"{current.reference_count})"
        )
    empty = scoring.newly_empty(baseline, current)
    if empty:
        issues.append(f"{stage}: {', '.join(empty)} came back empty")
        recommendations.append(
            f"{stage}'s {', '.join(empty)} returned nothing{because}: "
            + _where_to_look(diff, tools, "check the filters of")
        )
    if issues and not recommendations:  # a worse status, lost references or more warnings: say where to look
        recommendations.append(f"{issues[0]}{because}: " + _where_to_look(diff, tools, "check"))
    return issues, recommendations


def critical_issue(report: StageReport) -> str:
    first = report.issues[0] if report.issues else "it regressed"
    return f"Critical regression in {report.stage_name} (score {report.regression_score}): {first}"


def summary(reports: Sequence[StageReport], overall: int, answer: AnswerComparison | None) -> str:
    significant = [r for r in reports if r.significant]
    answer_text = ""
    if answer is not None:
        answer_text = (
            " The answer changed: " + "; ".join(answer.differences) + "." if answer.changed else " The answers match."
        )
    if not significant:
        return (
            f"No regression: {_plural(len(reports), 'stage')} compared, none changed beyond noise "
            f"(overall score {overall}).{answer_text}"
        )
    worst = max(significant, key=lambda r: r.regression_score)
    what = worst.issues[0] if worst.issues else "changed"
    return (
        f"{len(significant)} of {_plural(len(reports), 'stage')} changed significantly; the worst is "
        f"{worst.stage_name} (score {worst.regression_score}: {what}). Overall regression score {overall}."
        f"{answer_text}"
    )


def recommendations(reports: Sequence[StageReport], answer: AnswerComparison | None) -> list[str]:
    """The significant stages' recommendations, worst stage first, each once; then the answer's changes."""
    found: list[str] = []
    for report in sorted(reports, key=lambda r: -r.regression_score):
        if report.significant:
            found += [text for text in report.recommendations if text not in found]
    if answer is not None and answer.regression_score > 0:
        found.append("The answer changed (" + "; ".join(answer.differences) + "): check it before relying on it")
    return found


def assessment(overall: int, regressed: int) -> str:
    """`Moderate regression detected in 1 stage`."""
    if overall == 0:
        return "No regression detected"
    band = next(name for bound, name in ASSESSMENT_BANDS if overall < bound)
    return f"{band} regression detected in {_plural(regressed, 'stage')}"
