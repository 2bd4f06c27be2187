"""Payloads of the ops agent family (contract 3-ops-agent-api.md): the plant's card deposits, investigations and
their traces, insights, rule drafts, the recommendation worklist, and health."""

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

Timestamp = Annotated[datetime, PlainSerializer(lambda at: at.isoformat(), return_type=str, when_used="json")]

Mode = Literal["quick", "deep"]
InvestigationStatus = Literal["running", "completed", "failed", "interrupted"]
INVESTIGATION_STATUSES: tuple[InvestigationStatus, ...] = ("running", "completed", "failed", "interrupted")
Severity = Literal["low", "medium", "high", "critical"]
SEVERITY_RANK: dict[str, int] = {"low": 1, "medium": 2, "high": 3, "critical": 4}
Decision = Literal["ACKNOWLEDGED", "REJECTED"]
RecommendationStatus = Literal["PENDING", "ACKNOWLEDGED", "REJECTED"]
Verdict = Literal["clear", "review", "suspicious", "fraudulent"]
StepStatus = Literal["ok", "error"]
# The patterns the plant plants, and the insight kinds the engine finds (the same names, so they can be compared).
Pattern = Literal["velocity_burst", "country_mismatch", "shared_device", "high_risk_channel", "amount_under_limit"]
ToolName = Literal[
    "transaction_lookup",
    "customer_history",
    "velocity_window",
    "geo_consistency",
    "device_graph",
    "channel_risk",
    "rule_matches",
    "similar_cases",
]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # no control characters but tab and newlines


# --- transactions ---

# An RFC 3339 date-time with its offset (Z or ±hh:mm), seconds, at most microseconds, in the years 1970-2999: what
# the server takes as a deposit's time. (Far years overflowed converting to UTC; Unix-time numbers and other
# spellings pydantic would read are not what the API document says.)
OCCURRED_AT_PATTERN = (
    r"^(?:19[7-9][0-9]|2[0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt]"
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)


def _occurred_at(value: object) -> object:
    text = value.isoformat() if isinstance(value, datetime) else value
    if isinstance(text, str) and re.fullmatch(OCCURRED_AT_PATTERN, text):
        return value
    raise ValueError("occurred_at is an RFC 3339 date-time with an offset, in the years 1970-2999")


OccurredAt = Annotated[
    AwareDatetime,
    BeforeValidator(_occurred_at),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": OCCURRED_AT_PATTERN}, mode="validation"),
]

AMOUNT_MAX = 1_000_000
# A positive amount of at most AMOUNT_MAX with at most two decimal places, written plainly ("120.50", "0.05").
AMOUNT_PATTERN = r"^(?:0\.(?:0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,5}(?:\.[0-9]{1,2})?|1000000(?:\.00?)?)$"


def _amount(value: object) -> object:
    """An amount as the API document says it: a decimal string matching AMOUNT_PATTERN, or a whole number. A JSON
    fraction (12.5) is refused: binary floating point cannot say most cents exactly, and no JSON schema can say
    which fractions would survive; so are other spellings Decimal takes ("1e2", " 5", ".5"). A Decimal (from Python
    callers) is left to the field's constraints, and so is a whole number (250 or 250.0, as JSON schema counts)."""
    if isinstance(value, str) and re.fullmatch(AMOUNT_PATTERN, value):
        return value
    if isinstance(value, Decimal) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and value.is_integer():  # 250.0: a whole number to JSON schema too
        return int(value)
    raise ValueError('the amount is a decimal string with at most two places ("120.50") or a whole number')


Amount = Annotated[
    Decimal,
    BeforeValidator(_amount),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": AMOUNT_PATTERN},
                {"type": "integer", "minimum": 1, "maximum": AMOUNT_MAX},
            ],
            "description": 'A decimal string with at most two places ("120.50"), or a whole number.',
        },
        mode="validation",
    ),
    PlainSerializer(lambda amount: f"{amount:.2f}", return_type=str, when_used="json"),
]


class NewTransaction(BaseModel):
    """The body of `POST /api/v1/ops-agent/transactions`: a card deposit an operator or a script adds. The server
    gives it an id and, left out, the time of now."""

    model_config = ConfigDict(extra="forbid")

    amount: Amount = Field(gt=0, le=Decimal(AMOUNT_MAX), max_digits=9, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    merchant: str = Field(min_length=1, max_length=64, pattern=_TEXT)
    channel: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    customer_id: str = Field(pattern=ID_PATTERN)
    device_id: str = Field(pattern=ID_PATTERN)
    ip_country: str = Field(pattern=r"^[A-Z]{2}$")
    card_country: str = Field(pattern=r"^[A-Z]{2}$")
    occurred_at: OccurredAt | None = None


class Transaction(BaseModel):
    transaction_id: str
    occurred_at: Timestamp
    amount: Decimal
    currency: str
    merchant: str
    channel: str
    customer_id: str
    device_id: str
    ip_country: str
    card_country: str
    suspicious: bool
    # The plant's label of the pattern it planted (None for ordinary deposits and those added through the API).
    pattern: Pattern | None = None
    source: Literal["plant", "api"]


class TransactionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=512)
    suspicious: bool | None = None


class TransactionPage(BaseModel):
    """Newest first; `next_cursor` for the page after, None on the last."""

    items: list[Transaction]
    next_cursor: str | None


# --- investigations ---


class RunInvestigation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode = "quick"
    transaction_id: str = Field(pattern=ID_PATTERN)


class InvestigationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=10_000_000)
    status: InvestigationStatus | None = None
    transaction_id: str | None = Field(default=None, pattern=ID_PATTERN)


class InvestigationError(BaseModel):
    code: str  # OPS_AGENT_DEPENDENCY_FAILURE, OPS_AGENT_INTERNAL_ERROR
    message: str


class InvestigationSummary(BaseModel):
    investigation_id: str
    transaction_id: str
    mode: Mode
    status: InvestigationStatus
    requested_by: str
    reasoner: str  # "built-in deterministic reasoner" or "openai-compatible"
    model: str
    started_at: Timestamp
    finished_at: Timestamp | None = None
    duration_ms: float | None = None
    risk_score: float | None = None
    verdict: Verdict | None = None
    summary: str | None = None
    error: InvestigationError | None = None
    resumed_count: int = 0


class InvestigationPage(BaseModel):
    items: list[InvestigationSummary]
    total: int
    limit: int
    offset: int


class Alternative(BaseModel):
    name: str
    why_not: str


class _Step(BaseModel):
    step_no: int
    name: str
    status: StepStatus
    started_at: Timestamp
    duration_ms: float


class PlannerStep(_Step):
    """The planner's decision: the tool to call next (or `conclude`), why, and what else it weighed."""

    kind: Literal["planner"] = "planner"
    decision: str
    why: str
    alternatives: list[Alternative] = []


class ToolStep(_Step):
    kind: Literal["tool"] = "tool"
    input: dict[str, Any]
    output: dict[str, Any] | None = None
    error: str | None = None


class ReasoningStep(_Step):
    kind: Literal["reasoning"] = "reasoning"
    reasoner: str
    model: str
    prompt: str
    response: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    attempts: int = 1
    error: str | None = None


Step = Annotated[PlannerStep | ToolStep | ReasoningStep, Field(discriminator="kind")]


class Evidence(BaseModel):
    """What an insight rests on: the step it comes from and the figures that step found."""

    step_no: int
    tool: str
    summary: str
    data: dict[str, Any] = {}


class Insight(BaseModel):
    insight_id: str
    kind: Pattern
    title: str
    severity: Severity
    confidence: float
    evidence: list[Evidence]


class Recommendation(BaseModel):
    recommendation_id: str
    investigation_id: str
    transaction_id: str
    severity: Severity
    action: str
    rationale: str
    created_at: Timestamp
    status: RecommendationStatus = "PENDING"
    decided_by: str | None = None
    decided_at: Timestamp | None = None
    comment: str | None = None


class RuleClause(BaseModel):
    field: str
    op: Literal[">=", "<=", "==", "!=", "in"]
    value: Any


class RuleDraft(BaseModel):
    """A rule a pattern generalises to: the structured condition, the same in words, and the past deposits it
    would have caught."""

    investigation_id: str
    name: str
    condition: list[RuleClause]  # every clause must hold
    text: str
    caught_transaction_ids: list[str]


class TraceInfo(BaseModel):
    reasoner: str
    model: str
    steps: int
    tool_calls: int
    reasoning_calls: int


class InvestigationDetail(InvestigationSummary):
    trace: TraceInfo
    steps: list[Step]
    insights: list[Insight]
    recommendations: list[Recommendation]
    rule_draft: RuleDraft | None = None


class InsightSnapshot(BaseModel):
    investigation_id: str
    mode: Mode
    status: InvestigationStatus
    finished_at: Timestamp | None
    risk_score: float | None
    verdict: Verdict | None
    insights: list[Insight]


class TransactionInsights(BaseModel):
    transaction_id: str
    snapshots: list[InsightSnapshot]


# --- worklist ---


class WorklistQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=512)
    severity: Severity | None = None


class WorklistPage(BaseModel):
    """Most severe first, oldest first within a severity; `next_cursor` is opaque and signed."""

    items: list[Recommendation]
    next_cursor: str | None


COMMENT_MAX_LENGTH = 1000


class Acknowledge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Decision
    comment: str = Field(min_length=1, max_length=COMMENT_MAX_LENGTH, pattern=_TEXT)


# --- health ---

CheckStatus = Literal["ok", "failing"]


class HealthCheck(BaseModel):
    name: Literal["database", "audit_writer", "plant", "reasoner"]
    status: CheckStatus
    detail: str
    latency_ms: float


class HealthReport(BaseModel):
    status: Literal["ok", "failing"]
    checks: list[HealthCheck]


class Probe(BaseModel):
    status: Literal["ok"]
