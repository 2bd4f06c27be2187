"""Regression analysis: two traces compared stage by stage (regression_score.py scores them, regression_text.py
words the findings); `full` compares their answers too. An analysis is stored, then announced as a
`regression.completed` event; `stage_compare` answers the same comparison without storing it."""

import logging
import uuid
from collections.abc import Sequence

from server.clock import Clock
from server.errors import NotFound
from server.services.orchestration import regression_score as scoring
from server.services.orchestration import regression_text as text
from server.services.orchestration.events import EventSink, EventType
from server.storage.regressions import RegressionRepository
from server.storage.traces import TraceRepository, plan_tools
from shared.inspector import (
    RegressionAnalysis,
    RegressionRequest,
    StageCompareRequest,
    StageComparison,
    StageDifference,
    StageReport,
    TraceSummary,
)
from shared.orchestration import StageName, Trace

log = logging.getLogger(__name__)
SNIPPET_CHARS = 120


def stage_report(baseline: Trace, comparison: Trace, stage: StageName) -> StageReport:
    before, after = scoring.stage_metrics(baseline, stage), scoring.stage_metrics(comparison, stage)
    diff = scoring.differences(before, after)
    score = scoring.stage_score(before, after)
    tools = plan_tools(comparison) if stage == "execute" else []
    issues, recommendations = text.stage_findings(before, after, diff, tools)
    return StageReport(
        stage_name=stage,
        baseline_metrics=before,
        current_metrics=after,
        differences=diff,
        regression_score=score,
        significant=scoring.is_significant(score, before, after),
        issues=issues,
        recommendations=recommendations,
    )


def summary_of(trace: Trace) -> TraceSummary:
    return TraceSummary(
        trace_id=trace.trace_id,
        created_at=trace.created_at,
        feature=trace.feature,
        status=trace.status,
        route=trace.route,
        duration_ms=trace.duration_ms,
        question_snippet=trace.question[:SNIPPET_CHARS],
        applied_asset_versions=[f"{kind}:{ref}" for kind, ref in sorted(trace.applied_assets.items())],
        test_mode=trace.test_mode,
    )


class RegressionService:
    def __init__(
        self, traces: TraceRepository, analyses: RegressionRepository, clock: Clock, events: EventSink
    ) -> None:
        self._traces = traces
        self._analyses = analyses
        self._clock = clock
        self._events = events

    async def analyze(self, request: RegressionRequest, requested_by: str | None) -> RegressionAnalysis:
        started_at = self._clock.now()
        baseline, comparison = await self._pair(request.baseline_trace_id, request.comparison_trace_id)
        reports = self._reports(baseline, comparison, request.parameters.stages)
        answer = None
        if request.type == "full":
            answer = scoring.compare_answers(baseline, comparison, plan_tools(baseline), plan_tools(comparison))
        overall = scoring.overall_score(
            [r.regression_score for r in reports], answer.regression_score if answer is not None else 0
        )
        critical = [
            text.critical_issue(r)
            for r in reports
            if scoring.is_critical(r.regression_score, r.baseline_metrics, r.current_metrics)
        ]
        significant = sum(r.significant for r in reports)
        if answer is not None and answer.regression_score >= scoring.SIGNIFICANT_SCORE:
            significant += 1
        analysis = RegressionAnalysis(
            analysis_id=f"reg_{uuid.uuid4().hex}",
            type=request.type,
            baseline_trace_id=baseline.trace_id,
            comparison_trace_id=comparison.trace_id,
            started_at=started_at,
            completed_at=self._clock.now(),
            stage_reports=reports,
            answer_comparison=answer,
            overall_regression_score=overall,
            significant_changes=significant,
            critical_issues=critical,
            summary=text.summary(reports, overall, answer),
            recommendations=text.recommendations(reports, answer),
            requested_by=requested_by,
        )
        await self._analyses.save(analysis)
        await self._announce(analysis)
        return analysis

    async def get(self, analysis_id: str) -> RegressionAnalysis:
        analysis = await self._analyses.get(analysis_id)
        if analysis is None:
            raise NotFound(f"no regression analysis '{analysis_id}'", code="analysis_not_found")
        return analysis

    async def stage_compare(self, request: StageCompareRequest) -> StageComparison:
        baseline, comparison = await self._pair(request.baseline_trace_id, request.comparison_trace_id)
        reports = self._reports(baseline, comparison, request.stages)
        scores: dict[str, int] = {r.stage_name: r.regression_score for r in reports}
        overall = scoring.overall_score(list(scores.values()))
        return StageComparison(
            baseline_trace=summary_of(baseline),
            comparison_trace=summary_of(comparison),
            stage_differences={
                r.stage_name: StageDifference(
                    duration_difference_ms=r.differences.duration_ms,
                    duration_ratio=r.differences.duration_ratio,
                    status_changed=r.differences.status is not None,
                    baseline_metrics=r.baseline_metrics,
                    comparison_metrics=r.current_metrics,
                    differences=r.differences,
                    issues=r.issues,
                )
                for r in reports
            },
            regression_scores=scores,
            overall_regression_score=overall,
            overall_assessment=text.assessment(overall, sum(score > 0 for score in scores.values())),
        )

    @staticmethod
    def _reports(baseline: Trace, comparison: Trace, stages: Sequence[StageName]) -> list[StageReport]:
        return [stage_report(baseline, comparison, stage) for stage in stages]

    async def _pair(self, baseline_id: str, comparison_id: str) -> tuple[Trace, Trace]:
        """Both traces, or NotFound naming every id that is unknown."""
        baseline = await self._traces.get(baseline_id)
        comparison = baseline if comparison_id == baseline_id else await self._traces.get(comparison_id)
        if baseline is None or comparison is None:
            pairs = ((baseline_id, baseline), (comparison_id, comparison))
            missing = list(dict.fromkeys(trace_id for trace_id, trace in pairs if trace is None))
            names = " and ".join(f"'{trace_id}'" for trace_id in missing)
            raise NotFound(f"no trace {names}", code="trace_not_found", extra={"trace_ids": missing})
        return baseline, comparison

    async def _announce(self, analysis: RegressionAnalysis) -> None:
        """`regression.completed` for webhook subscribers. Never a test event, even of test-mode traces: trying a
        draft asset in a test-mode ask and having the analysis announced is what a CI hook wants. Emitting only
        queues; should even that fail, the analysis stands, stored and answered, and the failure is logged."""
        data = {
            "analysis_id": analysis.analysis_id,
            "type": analysis.type,
            "status": analysis.status,
            "baseline_trace_id": analysis.baseline_trace_id,
            "comparison_trace_id": analysis.comparison_trace_id,
            "completed_at": analysis.completed_at.isoformat(),
            "overall_regression_score": analysis.overall_regression_score,
            "significant_changes": analysis.significant_changes,
            "critical_issues": analysis.critical_issues,
            "summary": analysis.summary,
        }
        try:
            await self._events.emit(EventType.REGRESSION_COMPLETED, data, test_mode=False)
        except Exception:
            log.exception("cannot queue the regression.completed event of %s", analysis.analysis_id)
