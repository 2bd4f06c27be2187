"""Regression scores: how much worse a comparison trace did than a baseline, stage by stage, on a 0-100 scale where
0 is no regression and 100 the worst. Only what got worse scores; an improvement scores 0.

A stage's score is the sum of these penalties, at most 100:

- duration: when the stage took at least 50 ms longer and at least 1.25 times as long,
  25 x log2(comparison / baseline), at most 50 (2x -> 25, 3x -> 40, 4x or more -> 50);
  below either threshold a difference is noise and scores 0;
- status: ok -> warning 15, warning -> error 25, ok -> error 40; a stage the baseline ran and the comparison
  did not: 40;
- errors: 10 for each error more than the baseline had, at most 30;
- warnings: 5 for each warning more, at most 15;
- references: 20 x the share of the baseline's references that are gone (10 -> 8 scores 4);
- empty flags: 15 for each result that came back empty and was not before, at most 30.

A changed asset version scores nothing by itself (it is a cause, not a symptom); the recommendations name it.

Overall: the worst stage's score plus a quarter of the other stages' scores, plus for a `full` analysis the
answer's score, at most 100: one badly regressed stage is not averaged away by four unchanged ones. Scores are
rounded to whole numbers, halves up.
The answer's score (`full`): route changed 30; status worse 20 per step (success, partial, then rejected or
error: success -> error 40); feature changed 10; the plan's tools changed 10; the rendered blocks changed 10;
at most 100.

A stage is a significant change when it scores 10 or more or its status changed; a critical issue when it scores
50 or more, its status became error, or it did not run."""

import math
from collections.abc import Sequence

from shared.inspector import AnswerComparison, FlagChange, StageDifferences, StageMetrics, ValueChange
from shared.orchestration import StageName, Trace, TraceStatus

NOISE_MS = 50
NOISE_RATIO = 1.25
DURATION_PER_DOUBLING = 25
DURATION_MAX = 50
STATUS_PENALTY = {("ok", "warning"): 15, ("warning", "error"): 25, ("ok", "error"): 40}
MISSING_PENALTY = 40
ERROR_EACH, ERROR_MAX = 10, 30
WARNING_EACH, WARNING_MAX = 5, 15
REFERENCES_LOST = 20
EMPTY_EACH, EMPTY_MAX = 15, 30
OTHER_STAGES_WEIGHT = 0.25
SIGNIFICANT_SCORE = 10
CRITICAL_SCORE = 50
_STATUS_RANK: dict[TraceStatus, int] = {"success": 0, "partial": 1, "rejected": 2, "error": 2}


def stage_metrics(trace: Trace, stage: StageName) -> StageMetrics:
    """What `trace`'s `stage` did; status "missing" when it never ran."""
    given = next((i for i in trace.stage_inputs if i.stage == stage), None)
    applied = dict(given.applied_assets) if given is not None else {}
    output = next((o for o in trace.stage_outputs if o.stage == stage), None)
    if output is None:
        return StageMetrics(stage_name=stage, applied_assets=applied)
    diagnostics = output.diagnostics
    return StageMetrics(
        stage_name=stage,
        duration_ms=output.duration_ms,
        status=diagnostics.status,
        skipped=bool(output.result.get("skipped")),
        reference_count=len(output.references),
        warnings=list(diagnostics.warnings),
        errors=list(diagnostics.errors),
        empty_flags=dict(diagnostics.empty_flags),
        counts=dict(diagnostics.counts),
        applied_assets=applied,
    )


def differences(baseline: StageMetrics, current: StageMetrics) -> StageDifferences:
    ratio = round(current.duration_ms / baseline.duration_ms, 2) if baseline.duration_ms > 0 else None
    flags = {
        name: FlagChange(before=baseline.empty_flags.get(name), after=current.empty_flags.get(name))
        for name in sorted(baseline.empty_flags.keys() | current.empty_flags.keys())
        if baseline.empty_flags.get(name) != current.empty_flags.get(name)
    }
    counts = {
        name: current.counts.get(name, 0) - baseline.counts.get(name, 0)
        for name in sorted(baseline.counts.keys() | current.counts.keys())
        if current.counts.get(name, 0) != baseline.counts.get(name, 0)
    }
    assets = {
        kind: ValueChange(before=baseline.applied_assets.get(kind), after=current.applied_assets.get(kind))
        for kind in sorted(baseline.applied_assets.keys() | current.applied_assets.keys())
        if baseline.applied_assets.get(kind) != current.applied_assets.get(kind)
    }
    status = None if baseline.status == current.status else ValueChange(before=baseline.status, after=current.status)
    return StageDifferences(
        duration_ms=current.duration_ms - baseline.duration_ms,
        duration_ratio=ratio,
        status=status,
        reference_count=current.reference_count - baseline.reference_count,
        warning_count=len(current.warnings) - len(baseline.warnings),
        error_count=len(current.errors) - len(baseline.errors),
        new_warnings=[w for w in current.warnings if w not in baseline.warnings],
        new_errors=[e for e in current.errors if e not in baseline.errors],
        empty_flags=flags,
        counts=counts,
        applied_assets=assets,
    )


def _rounded(value: float) -> int:
    """To the nearest integer, halves up (Python's round() sends 42.5 to 42)."""
    return math.floor(value + 0.5)


def slowdown(baseline: StageMetrics, current: StageMetrics) -> float | None:
    """How many times longer the stage took, when that is past the noise thresholds; else None."""
    delta = current.duration_ms - baseline.duration_ms
    ratio = current.duration_ms / max(baseline.duration_ms, 1)
    return ratio if delta >= NOISE_MS and ratio >= NOISE_RATIO else None


def duration_penalty(baseline: StageMetrics, current: StageMetrics) -> int:
    ratio = slowdown(baseline, current)
    return 0 if ratio is None else min(DURATION_MAX, _rounded(DURATION_PER_DOUBLING * math.log2(ratio)))


def status_penalty(baseline: StageMetrics, current: StageMetrics) -> int:
    if current.status == "missing":
        return MISSING_PENALTY if baseline.status != "missing" else 0
    if baseline.status == "missing":
        return 0
    return STATUS_PENALTY.get((baseline.status, current.status), 0)


def references_penalty(baseline: StageMetrics, current: StageMetrics) -> int:
    lost = baseline.reference_count - current.reference_count
    return _rounded(REFERENCES_LOST * lost / baseline.reference_count) if lost > 0 else 0


def newly_empty(baseline: StageMetrics, current: StageMetrics) -> list[str]:
    return sorted(name for name, empty in current.empty_flags.items() if empty and not baseline.empty_flags.get(name))


def stage_score(baseline: StageMetrics, current: StageMetrics) -> int:
    score = (
        duration_penalty(baseline, current)
        + status_penalty(baseline, current)
        + min(ERROR_MAX, ERROR_EACH * max(0, len(current.errors) - len(baseline.errors)))
        + min(WARNING_MAX, WARNING_EACH * max(0, len(current.warnings) - len(baseline.warnings)))
        + references_penalty(baseline, current)
        + min(EMPTY_MAX, EMPTY_EACH * len(newly_empty(baseline, current)))
    )
    return min(100, score)


def is_significant(score: int, baseline: StageMetrics, current: StageMetrics) -> bool:
    return score >= SIGNIFICANT_SCORE or baseline.status != current.status


def is_critical(score: int, baseline: StageMetrics, current: StageMetrics) -> bool:
    became_error = current.status == "error" and baseline.status != "error"
    went_missing = current.status == "missing" and baseline.status != "missing"
    return score >= CRITICAL_SCORE or became_error or went_missing


def overall_score(stage_scores: Sequence[int], answer_score: int = 0) -> int:
    if not stage_scores:
        return min(100, answer_score)
    worst = max(stage_scores)
    return min(100, _rounded(worst + OTHER_STAGES_WEIGHT * (sum(stage_scores) - worst) + answer_score))


def _change(before: str, after: str) -> ValueChange | None:
    return None if before == after else ValueChange(before=before, after=after)


def rendered_blocks(trace: Trace) -> list[dict[str, object]]:
    """What the present stage rendered: each block's type, title and row or point count."""
    output = next((o for o in trace.stage_outputs if o.stage == "present"), None)
    rendered = output.result.get("rendered") if output is not None else None
    return list(rendered) if isinstance(rendered, list) else []


def compare_answers(
    baseline: Trace, comparison: Trace, baseline_tools: list[str], comparison_tools: list[str]
) -> AnswerComparison:
    route, status, feature = (
        _change(baseline.route, comparison.route),
        _change(baseline.status, comparison.status),
        _change(baseline.feature, comparison.feature),
    )
    before_blocks, after_blocks = rendered_blocks(baseline), rendered_blocks(comparison)
    score, found = 0, []
    if route is not None:
        score += 30
        found.append(f"the route changed from {route.before} to {route.after}")
    if status is not None:
        steps = _STATUS_RANK[comparison.status] - _STATUS_RANK[baseline.status]
        score += 20 * max(0, steps)
        found.append(f"the answer's status changed from {status.before} to {status.after}")
    if feature is not None:
        score += 10
        found.append(f"the question was read as {feature.after} instead of {feature.before}")
    if baseline_tools != comparison_tools:
        score += 10
        found.append(f"the plan called {_listed(comparison_tools)} instead of {_listed(baseline_tools)}")
    if before_blocks != after_blocks:
        score += 10
        found.append(f"the answer rendered {_blocks_text(after_blocks)} instead of {_blocks_text(before_blocks)}")
    return AnswerComparison(
        changed=bool(found),
        route=route,
        status=status,
        feature=feature,
        baseline_tools=baseline_tools,
        comparison_tools=comparison_tools,
        baseline_blocks=before_blocks,
        comparison_blocks=after_blocks,
        differences=found,
        regression_score=min(100, score),
    )


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "no tool"


def _blocks_text(blocks: Sequence[dict[str, object]]) -> str:
    parts = []
    for block in blocks:
        size = block.get("rows", block.get("points"))
        parts.append(f"{block.get('type')}" + (f" ({size})" if size is not None else ""))
    return "[" + ", ".join(parts) + "]"
