"""Models of the orchestration family's inspector and regression analysis (contract 4-orchestration-api.md):
`GET /inspector/traces` (a filtered page of trace summaries), `GET /inspector/traces/{trace_id}` (the trace with its
audit entries), `POST /inspector/traces/{trace_id}/ui-render`, and `/inspector/regression/...` (per-stage metrics,
their differences and 0-100 regression scores: 0 is no regression, 100 the worst; server/services/orchestration/
regression_score.py has the formula). The trace and its stages are shared/orchestration.py's models."""

from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.orchestration import (
    STAGES,
    Block,
    DiagnosticStatus,
    Route,
    StageName,
    Trace,
    TraceStatus,
    date_time_text,
)

TRACE_ID_MAX = 64
LIST_LIMIT_MAX = 200
OFFSET_MAX = 10_000_000
UI_RENDER_MAX_BLOCKS = 100
UI_RENDER_MAX_BYTES = 256 * 1024  # a request body past this is refused (413) before it is parsed

# --- the trace list ---


class TraceListQuery(BaseModel):
    """The list's filters, each optional and all of them together (AND). `q`'s words must each be part of the
    question, the feature or the tools the plan called (any case); a word of one or two characters, which the
    trigram index cannot look up, is matched against the question and feature by reading the rows (slower).
    `from`/`to` are ISO 8601 (a time without an offset is UTC) and bound `created_at`, `from` included, `to` not."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"\S")  # a character not a space
    feature: str | None = Field(default=None, min_length=1, max_length=100)
    status: TraceStatus | None = None
    route: Route | None = None
    from_: datetime | None = Field(
        default=None, alias="from", description="Traces created at or after this time (before `to`, when both)"
    )
    to: datetime | None = Field(default=None, description="Traces created before this time")
    limit: int = Field(default=20, ge=1, le=LIST_LIMIT_MAX)
    offset: int = Field(default=0, ge=0, le=OFFSET_MAX)

    _times = field_validator("from_", "to", mode="before")(date_time_text)

    @field_validator("from_", "to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.from_ is not None and self.to is not None and self.from_ >= self.to:
            raise ValueError("'from' must be before 'to'")
        return self


class TraceSummary(BaseModel):
    """One trace as the list shows it. `applied_asset_versions` are `type:asset_id:version`."""

    trace_id: str
    created_at: datetime
    feature: str
    status: TraceStatus
    route: Route
    duration_ms: int
    question_snippet: str
    applied_asset_versions: list[str]
    test_mode: bool = False


class TraceList(BaseModel):
    """A page, newest first; `total` counts every trace the filters match, not only this page's. A text search
    (`q`) counts at most 10,000 matches (and a `q` of only one- or two-character words searches the newest 10,000
    traces the other filters match): `total_capped` is then true and `total` a lower bound."""

    traces: list[TraceSummary]
    total: int
    limit: int
    offset: int
    total_capped: bool = False


# --- one trace ---

AuditResourceType = Literal["trace", "stage", "ui_render"]


class TraceAuditLog(BaseModel):
    """An entry of the shared audit trail about the trace. The ask's entry (`resource_type` "trace", action
    "asked", with who asked) comes with one "stage"/"executed" entry per stage the trace ran, timed when that
    stage ended; `audit_entry_id` is the audit log's entry they all stand on (`ops-server audit verify` checks it)."""

    id: str
    trace_id: str
    resource_type: AuditResourceType
    resource_id: str
    action: str
    timestamp: datetime
    principal: str | None
    outcome: str
    audit_entry_id: int
    detail: dict[str, Any] = Field(default_factory=dict)


class UiRenderRequest(BaseModel):
    """What a client rendered of an answer: the blocks it showed and anything about the rendering (`meta`: the
    client, its screen size, how long it took)."""

    model_config = ConfigDict(extra="forbid")

    blocks: list[Block] = Field(max_length=UI_RENDER_MAX_BLOCKS)
    meta: dict[str, Any] = Field(default_factory=dict)


class UiRender(BaseModel):
    render_id: str
    trace_id: str
    recorded_at: datetime
    principal: str | None
    blocks: list[Block]
    meta: dict[str, Any]
    size_bytes: int


class UiRenderReceipt(BaseModel):
    """The answer to a stored render (the blocks are not sent back)."""

    render_id: str
    trace_id: str
    recorded_at: datetime
    block_count: int
    size_bytes: int


class TraceDetail(BaseModel):
    """The trace, its audit entries in the order the trail recorded them, and the latest render a client stored."""

    trace: Trace
    audit_logs: list[TraceAuditLog]
    ui_render: UiRender | None = None


# --- regression analysis ---

AnalysisType = Literal["stage", "full"]  # full also compares the answers
StageStatus = DiagnosticStatus | Literal["missing"]


def _distinct_stages(stages: list[StageName]) -> list[StageName]:
    if len(set(stages)) != len(stages):
        raise ValueError("each stage at most once")
    return stages


class RegressionParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stages: list[StageName] = Field(
        default_factory=lambda: list(STAGES), min_length=1, json_schema_extra={"uniqueItems": True}
    )

    @field_validator("stages")
    @classmethod
    def _distinct(cls, stages: list[StageName]) -> list[StageName]:
        return _distinct_stages(stages)


class RegressionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: AnalysisType = "stage"
    baseline_trace_id: str = Field(min_length=1, max_length=TRACE_ID_MAX)
    comparison_trace_id: str = Field(min_length=1, max_length=TRACE_ID_MAX)
    parameters: RegressionParameters = Field(default_factory=RegressionParameters)


class StageCompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    baseline_trace_id: str = Field(min_length=1, max_length=TRACE_ID_MAX)
    comparison_trace_id: str = Field(min_length=1, max_length=TRACE_ID_MAX)
    stages: list[StageName] = Field(
        default_factory=lambda: list(STAGES), min_length=1, json_schema_extra={"uniqueItems": True}
    )

    @field_validator("stages")
    @classmethod
    def _distinct(cls, stages: list[StageName]) -> list[StageName]:
        return _distinct_stages(stages)


class StageMetrics(BaseModel):
    """What one trace's stage did. A stage the trace never ran has status "missing"; `skipped` is the execute
    stage of a direct answer or a refusal, which runs no tool."""

    stage_name: StageName
    duration_ms: int = 0
    status: StageStatus = "missing"
    skipped: bool = False
    reference_count: int = 0
    warnings: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    empty_flags: dict[str, bool] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    applied_assets: dict[str, str] = Field(default_factory=dict)  # asset_type -> asset_id:version


class ValueChange(BaseModel):
    before: str | None
    after: str | None


class FlagChange(BaseModel):
    before: bool | None
    after: bool | None


class StageDifferences(BaseModel):
    """Comparison minus baseline. `duration_ratio` is comparison over baseline (None when the baseline took 0 ms);
    the maps hold only what changed."""

    duration_ms: int = 0
    duration_ratio: float | None = None
    status: ValueChange | None = None
    reference_count: int = 0
    warning_count: int = 0
    error_count: int = 0
    new_warnings: list[str] = Field(default_factory=list)
    new_errors: list[str] = Field(default_factory=list)
    empty_flags: dict[str, FlagChange] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    applied_assets: dict[str, ValueChange] = Field(default_factory=dict)


class StageReport(BaseModel):
    stage_name: StageName
    baseline_metrics: StageMetrics
    current_metrics: StageMetrics
    differences: StageDifferences
    regression_score: int = Field(ge=0, le=100)
    significant: bool
    issues: list[str]
    recommendations: list[str]


class AnswerComparison(BaseModel):
    """A `full` analysis's comparison of the two answers: route, status, feature, the plan's tools and the blocks
    the present stage rendered (type, title, rows)."""

    changed: bool
    route: ValueChange | None = None
    status: ValueChange | None = None
    feature: ValueChange | None = None
    baseline_tools: list[str]
    comparison_tools: list[str]
    baseline_blocks: list[dict[str, Any]]
    comparison_blocks: list[dict[str, Any]]
    differences: list[str]
    regression_score: int = Field(ge=0, le=100)


class RegressionAnalysis(BaseModel):
    analysis_id: str
    type: AnalysisType
    baseline_trace_id: str
    comparison_trace_id: str
    started_at: datetime
    completed_at: datetime
    status: Literal["completed"] = "completed"
    stage_reports: list[StageReport]
    answer_comparison: AnswerComparison | None = None
    overall_regression_score: int = Field(ge=0, le=100)
    significant_changes: int
    critical_issues: list[str]
    summary: str
    recommendations: list[str]
    requested_by: str | None = None


class StageDifference(BaseModel):
    duration_difference_ms: int
    duration_ratio: float | None
    status_changed: bool
    baseline_metrics: StageMetrics
    comparison_metrics: StageMetrics
    differences: StageDifferences
    issues: list[str]


class StageComparison(BaseModel):
    """`POST /inspector/regression/stage-compare`: the same per-stage comparison as an analysis, not stored."""

    baseline_trace: TraceSummary
    comparison_trace: TraceSummary
    stage_differences: dict[str, StageDifference]
    regression_scores: dict[str, int]
    overall_regression_score: int = Field(ge=0, le=100)
    overall_assessment: str
