"""Payloads of the runbooks family (contract 2-runbooks-metrics-api.md): `POST /api/ops/runbooks/execute`,
`GET /api/ops/status`, and beyond the contract the run history, one run's state and logs, abort, and the feed
operations the shipped runbook scripts call."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

# ISO 8601 with the offset spelled out (`+00:00`, as the contract shows `+08:00`), not pydantic's `Z`.
Timestamp = Annotated[datetime, PlainSerializer(lambda at: at.isoformat(), return_type=str, when_used="json")]

RunbookCommand = Literal["start", "stop", "restart", "failover", "failback", "drill", "health_check"]
RUNBOOK_COMMANDS: tuple[RunbookCommand, ...] = (
    "start",
    "stop",
    "restart",
    "failover",
    "failback",
    "drill",
    "health_check",
)
RunStatus = Literal["running", "success", "failed", "timeout", "aborted"]
FINAL_STATUSES: frozenset[str] = frozenset({"success", "failed", "timeout", "aborted"})
LogLevel = Literal["INFO", "WARN", "ERROR"]

REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
# Not a request id: `/api/ops/runbooks/execute` is the execute operation's path, so no run can be read there.
RESERVED_REQUEST_IDS: frozenset[str] = frozenset({"execute"})


def _not_reserved(value: str) -> str:
    if value in RESERVED_REQUEST_IDS:
        raise ValueError(f"'{value}' is reserved (it names an operation of /api/ops/runbooks); use another request_id")
    return value


RequestId = Annotated[
    str,
    StringConstraints(pattern=REQUEST_ID_PATTERN),
    AfterValidator(_not_reserved),
    Field(json_schema_extra={"not": {"enum": sorted(RESERVED_REQUEST_IDS)}}),
]
# Free-text fields go to a script's arguments and environment: short, one line, printable.
_TEXT = r"^[^\x00-\x1f\x7f]*$"


class RunbookRequest(BaseModel):
    """The body of `POST /api/ops/runbooks/execute`. `request_id` is the idempotency key: the same id with the
    same body answers the stored result and never runs twice; the server makes one when it is left out. Strict:
    `"dry_run": 0` or `"enforce": "yes"` is refused, not taken for a boolean."""

    model_config = ConfigDict(extra="forbid", strict=True)

    command: RunbookCommand
    mode: Literal["live", "dry-run"] | None = None
    window: str | None = Field(default=None, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    profile: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    config: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    request_id: RequestId | None = None
    enforce: bool = False
    dry_run: bool = False
    reason: str | None = Field(default=None, max_length=200, pattern=_TEXT)


class LogLine(BaseModel):
    level: LogLevel
    message: str
    at: Timestamp


class HealthReport(BaseModel):
    """The market-data feed's health as a runbook measured it. `violations` names each threshold it is below."""

    model_config = ConfigDict(extra="allow")

    coverage_ratio: float | None
    expected_total: int | None = None
    active_total: int | None = None
    matched_total: int | None = None
    ignored_total: int | None = None
    throughput_mps: float | None = None
    consumer_backlog_messages: float | None = None
    active_profile: str | None = None
    healthy: bool | None = None
    violations: list[str] = Field(default_factory=list)
    thresholds: dict[str, float] | None = None
    generated_at: Timestamp


class RunbookRun(BaseModel):
    """One execution: what was asked, how it ended, and its output lines (`logs`; empty in history pages)."""

    request_id: str
    command: RunbookCommand
    status: RunStatus
    exit_code: int | None
    started_at: Timestamp
    finished_at: Timestamp | None
    principal: str | None = None
    mode: str | None = None
    window: str | None = None
    profile: str | None = None
    config: str | None = None
    enforce: bool = False
    dry_run: bool = False
    reason: str | None = None
    logs: list[LogLine] = Field(default_factory=list)


class ExecuteResponse(BaseModel):
    runbook: RunbookRun
    health: HealthReport | None = None


class RunState(BaseModel):
    """`GET /api/ops/runbooks/{request_id}`: the run as it is now, with its log lines from `offset` on; pass
    `next_offset` back as `offset` to tail it."""

    runbook: RunbookRun
    health: HealthReport | None = None
    next_offset: int


class RunQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offset: int = Field(default=0, ge=0, le=2**63 - 1)  # an SQLite integer: past it the read fails


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=200)
    # A run's key as the history gives it out (ASCII digits, an SQLite integer: 18 digits is far past any run).
    cursor: str | None = Field(default=None, pattern=r"^[1-9][0-9]{0,17}$")
    command: RunbookCommand | None = None


class HistoryPage(BaseModel):
    """A keyset page of runs, newest first; `next_cursor` is null on the last page."""

    items: list[RunbookRun]
    next_cursor: str | None = None


class AbortResponse(BaseModel):
    request_id: str
    status: RunStatus
    abort_requested: bool


class OpsStatus(BaseModel):
    """`GET /api/ops/status`, as the contract shows it."""

    environment_mode: str
    active_profile: str | None
    active_window: str | None
    last_runbook: RunbookRun | None
    runbook_history: list[RunbookRun]
    health_by_request: dict[str, HealthReport]
    last_health: HealthReport | None
    last_exit_codes: dict[str, int]
    last_updated_at: Timestamp | None


class RunbookCommandInfo(BaseModel):
    command: RunbookCommand
    description: str
    timeout_seconds: float


class RunbookCommands(BaseModel):
    """`GET /api/ops/runbook-commands`: the commands the runbooks dir's manifest describes."""

    commands: list[RunbookCommandInfo]


class FeedOperation(BaseModel):
    """The answer of `POST /api/ops/feed/failover` and `/failback`."""

    operation: Literal["failover", "failback"]
    active_profile: str
    latency_ms: float
    generated_at: Timestamp


def run_summary(run: RunbookRun) -> RunbookRun:
    """A run without its log lines, as history lists show it."""
    return run.model_copy(update={"logs": []})
