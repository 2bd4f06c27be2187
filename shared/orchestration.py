"""Models of the orchestration family (contract 4-orchestration-api.md): `POST /ops/ci/ask` with its plan, stages,
replan events and answer blocks; the asset registry (`/assets/...`); `GET /ops/control-loop/stats`.

Polymorphic payloads are discriminated unions: answer blocks on `type`, plan outputs on `kind`."""

import re
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

# --- assets ---

AssetType = Literal["prompt", "policy", "query", "mapping", "screen"]
ASSET_TYPES: tuple[AssetType, ...] = get_args(AssetType)
AssetStatus = Literal["draft", "published", "archived"]
VERSION_PATTERN = r"^\d{1,4}\.\d{1,4}\.\d{1,4}$"
ASSET_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# An ask's pin: `asset_id:version`, or the version alone (of the asset the pipeline uses of that type).
OVERRIDE_PATTERN = r"^(?:[a-z0-9][a-z0-9_-]{0,63}:)?\d{1,4}\.\d{1,4}\.\d{1,4}$"


class AssetSummary(BaseModel):
    """One version of an asset as the list shows it. `id` names the version (`asset_<type>_<asset_id>_<version>`)."""

    id: str
    asset_type: AssetType
    asset_id: str
    version: str
    name: str
    description: str
    created_at: datetime
    status: AssetStatus
    author: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    published_at: datetime | None = None


class Asset(AssetSummary):
    """One version with its content (what the pipeline reads)."""

    content: dict[str, Any]


class AssetList(BaseModel):
    assets: list[AssetSummary]
    total: int


class AssetListQuery(BaseModel):
    """The list's filters. The contract also lists `type`: the path names it, so it may only repeat it."""

    model_config = ConfigDict(extra="forbid")

    type: AssetType | None = Field(default=None, description="The path's asset type again (another is refused, 422)")
    version: str | None = Field(default=None, pattern=VERSION_PATTERN)
    status: AssetStatus | None = None
    asset_id: str | None = Field(default=None, pattern=ASSET_ID_PATTERN)


class AssetCreate(BaseModel):
    """A new draft version. Its content is checked against the asset type's schema."""

    model_config = ConfigDict(extra="forbid")

    asset_id: str = Field(pattern=ASSET_ID_PATTERN)
    version: str = Field(pattern=VERSION_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    content: dict[str, Any] = Field(description="Checked against the schema of the path's asset type (else 422)")


class AssetUpdate(BaseModel):
    """A change to a draft; published and archived versions are immutable."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    metadata: dict[str, Any] | None = None
    content: dict[str, Any] | None = Field(
        default=None, description="Checked against the schema of the path's asset type (else 422)"
    )


# --- plans ---


class ToolCall(BaseModel):
    tool: str
    params: dict[str, Any] = Field(default_factory=dict)


class Plan(BaseModel):
    intent: str
    steps: list[ToolCall]


class DirectAnswerPayload(BaseModel):
    text: str


class DirectPlanOutput(BaseModel):
    kind: Literal["direct"] = "direct"
    direct_answer: DirectAnswerPayload
    confidence: float = 1.0
    reasoning: str | None = None


class OrchPlanOutput(BaseModel):
    kind: Literal["plan"] = "plan"
    plan: Plan
    confidence: float = 1.0
    reasoning: str | None = None


class RejectPlanOutput(BaseModel):
    kind: Literal["reject"] = "reject"
    reject_reason: str
    reject_policy: str
    confidence: float = 1.0
    reasoning: str | None = None


PlanOutput = Annotated[DirectPlanOutput | OrchPlanOutput | RejectPlanOutput, Field(discriminator="kind")]
Route = Literal["direct", "orch", "reject"]

# --- stages and the trace ---

StageName = Literal["route_plan", "validate", "execute", "compose", "present"]
STAGES: tuple[StageName, ...] = get_args(StageName)
DiagnosticStatus = Literal["ok", "warning", "error"]
TraceStatus = Literal["success", "partial", "rejected", "error"]
TriggerType = Literal["timeout", "error", "empty", "policy_violation"]
Severity = Literal["low", "medium", "high"]


class StageDiagnostics(BaseModel):
    status: DiagnosticStatus = "ok"
    warnings: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    empty_flags: dict[str, bool] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)


class StageInput(BaseModel):
    stage: StageName
    applied_assets: dict[str, str]  # asset_type -> asset_id:version
    params: dict[str, Any] = Field(default_factory=dict)
    prev_output: dict[str, Any] | None = None
    trace_id: str | None = None


class StageOutput(BaseModel):
    stage: StageName
    result: dict[str, Any]
    diagnostics: StageDiagnostics
    references: list[dict[str, Any]] = Field(default_factory=list)
    duration_ms: int


class ReplanTrigger(BaseModel):
    trigger_type: TriggerType
    reason: str
    severity: Severity
    stage_name: StageName


class ReplanPatchDiff(BaseModel):
    before: dict[str, Any]
    after: dict[str, Any]


class ReplanEvent(BaseModel):
    event_type: Literal["replan_decision"] = "replan_decision"
    stage_name: StageName
    trigger: ReplanTrigger
    patch: ReplanPatchDiff
    timestamp: str
    decision_metadata: dict[str, Any]


class ExecutionContext(BaseModel):
    trace_id: str
    test_mode: bool = False
    asset_overrides: dict[str, str] = Field(default_factory=dict)
    baseline_trace_id: str | None = None
    replan_count: int = 0
    start_time: float = 0.0
    metadata: dict[str, Any] = Field(default_factory=dict)


# --- answer blocks ---


class TableContent(BaseModel):
    headers: list[str]
    rows: list[list[Any]]


class TextContent(BaseModel):
    text: str


class MarkdownContent(BaseModel):
    markdown: str


# The start of an ISO 8601 date and time. pydantic alone also reads a number as seconds since 1970, and a date alone.
DATE_TIME_START = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def date_time_text(value: object) -> object:
    """A before-validator: a string must be an ISO 8601 date and time (a datetime passes as it is)."""
    if isinstance(value, str) and not DATE_TIME_START.match(value):
        raise ValueError("must be an ISO 8601 date and time, such as 2026-01-22T10:00:00Z")
    if isinstance(value, int | float):
        raise ValueError("must be an ISO 8601 date and time, not a number")
    return value


class SeriesPoint(BaseModel):
    """A point as a client sends it back (ui-render) must be what the schema says: a date-time string and a number
    (not a number for the time, nor a string or a boolean for the value)."""

    timestamp: datetime
    value: float

    _timestamp = field_validator("timestamp", mode="before")(date_time_text)

    @field_validator("value", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        if isinstance(value, str | bool):
            raise ValueError("must be a number")
        return value


class TimeseriesContent(BaseModel):
    metric: str
    unit: str | None = None
    points: list[SeriesPoint]


def _type_required(schema: dict[str, Any]) -> None:
    """A block's `type` has a default for the code that builds blocks, but a block sent in a body must name it: it
    is the union's tag (pydantic refuses a block without it), so the schema says it is required."""
    schema["required"] = ["type", *(name for name in schema.get("required", ()) if name != "type")]


class TableBlock(BaseModel):
    model_config = ConfigDict(json_schema_extra=_type_required)

    type: Literal["table"] = "table"
    title: str | None = None
    content: TableContent


class TextBlock(BaseModel):
    model_config = ConfigDict(json_schema_extra=_type_required)

    type: Literal["text"] = "text"
    title: str | None = None
    content: TextContent


class MarkdownBlock(BaseModel):
    model_config = ConfigDict(json_schema_extra=_type_required)

    type: Literal["markdown"] = "markdown"
    title: str | None = None
    content: MarkdownContent


class TimeseriesBlock(BaseModel):
    model_config = ConfigDict(json_schema_extra=_type_required)

    type: Literal["timeseries"] = "timeseries"
    title: str | None = None
    content: TimeseriesContent


Block = Annotated[TableBlock | TextBlock | MarkdownBlock | TimeseriesBlock, Field(discriminator="type")]

# --- ask ---


class AskContext(BaseModel):
    """`asset_overrides` pins other versions for this request: `{"policy": "ops-policy:1.1.0"}` (or the version
    alone, `{"policy": "1.1.0"}`, for the asset the pipeline uses of that type); drafts may be pinned to try them.
    `test_mode` marks the trace."""

    model_config = ConfigDict(extra="forbid")

    test_mode: StrictBool = False
    asset_overrides: dict[AssetType, Annotated[str, Field(pattern=OVERRIDE_PATTERN)]] = Field(default_factory=dict)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=1000)
    context: AskContext = Field(default_factory=AskContext)


class AskMeta(BaseModel):
    route: Route
    duration_ms: int
    used_tools: list[str]
    trace_id: str
    feature: str
    status: TraceStatus
    test_mode: bool = False


class Trace(BaseModel):
    """Everything one ask did: what it was asked, the plan, each stage's input and output, the replans."""

    trace_id: str
    question: str
    route: Route
    feature: str
    status: TraceStatus
    created_at: datetime
    duration_ms: int
    test_mode: bool
    applied_assets: dict[str, str]
    router: str  # "keyword" (the built-in router) or "reasoner"
    plan_output: PlanOutput
    stage_inputs: list[StageInput]
    stage_outputs: list[StageOutput]
    replan_events: list[ReplanEvent]


class AskResponse(BaseModel):
    blocks: list[Block]
    meta: AskMeta
    trace: Trace


# --- control loop ---


class ReplanPolicy(BaseModel):
    """When the control loop replans: at most `max_replans` per ask, only on `allowed_triggers`, at least
    `min_interval_seconds` after another ask's replan, and not for `cooling_period_seconds` after an ask ran out
    of replans."""

    model_config = ConfigDict(extra="forbid")

    max_replans: int = Field(ge=0, le=20)
    allowed_triggers: list[TriggerType]
    enable_automatic_replan: bool
    min_interval_seconds: float = Field(ge=0)
    cooling_period_seconds: float = Field(ge=0)


class ControlLoopStats(BaseModel):
    replan_count: int
    max_replans: int
    last_replan_time: datetime | None
    replan_history_count: int
    trigger_counts: dict[str, int]
    policy: ReplanPolicy
