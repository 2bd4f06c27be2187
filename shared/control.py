"""Payloads of the control family (contract 1-control-api.md): /ops/status, /ops/runbook, /ops/audit, /ops/command."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Command = Literal["start", "stop", "restart", "dry-run-on", "dry-run-off"]
COMMANDS: tuple[Command, ...] = ("start", "stop", "restart", "dry-run-on", "dry-run-off")

Mode = Literal["live", "dry-run", "unknown"]
ComponentState = Literal["running", "stopped", "restarting"]


REASON_MAX_LENGTH = 200


class CommandParams(BaseModel):
    """What a command may carry besides its name. Bound into the confirm token like the rest."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        default=None, max_length=REASON_MAX_LENGTH, description="Why the operator runs this command"
    )


class ComponentStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    state: ComponentState
    since: datetime
    commands: list[Command] = Field(description="Commands this component has a safe method for")


class StatusSnapshot(BaseModel):
    # Frozen: the server shares one snapshot between readers until the plant changes.
    model_config = ConfigDict(frozen=True)

    mode: Mode
    execution_engine: bool
    position_manager: bool
    database: bool
    mt5_up: bool | None
    open_positions: int | None
    # Beyond the contract's minimum: what the console needs to show components and when it was read.
    components: list[ComponentStatus] = Field(default_factory=list)
    as_of: datetime | None = None


class StatusResponse(BaseModel):
    status: StatusSnapshot


class RunbookResponse(BaseModel):
    runbook_excerpt: str
    section: str | None = None
    sections: list[str] = Field(default_factory=list)


class AuditEntry(BaseModel):
    entry_id: int
    at: datetime
    principal: str | None
    request_id: str
    method: str
    path: str
    action: str
    target: str | None = None
    outcome: str
    status: int
    detail: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    hash: str


class AuditResponse(BaseModel):
    limit: int
    results: list[AuditEntry]
    # Beyond the contract: pass it back as `cursor` for the next (older) page; None on the last page.
    next_cursor: str | None = None


AUDIT_QUERY_MAX_WORDS = 8


class AuditQuery(BaseModel):
    """The query of GET /ops/audit."""

    model_config = ConfigDict(extra="forbid")  # as the server refuses them: a misspelt filter filters nothing

    limit: int = Field(default=50, ge=1, le=500)
    # Beyond the contract's `limit`: a console polling status fills the log with reads, so let callers narrow it.
    q: str | None = Field(
        default=None,
        max_length=200,
        description="words every entry must contain, whole (the last may be a word's start), in any case",
    )
    changes_only: bool = Field(default=False, description="leave out reads (GET, HEAD, OPTIONS)")
    cursor: str | None = Field(default=None, max_length=200, description="a page's next_cursor: the page after it")

    @field_validator("q")
    @classmethod
    def _few_searchable_words(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # an empty search box: no filter
        words = value.split()
        if len(words) > AUDIT_QUERY_MAX_WORDS:
            raise ValueError(f"at most {AUDIT_QUERY_MAX_WORDS} words")
        # A search is by words: punctuation and control characters (a NUL) separate them and match nothing on
        # their own. A query of nothing else must not list the whole log as if every entry matched.
        if not any(ch.isalnum() for ch in value):
            raise ValueError("q has no letters or digits to search for")
        return value


class CommandRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: Command
    component: str = Field(min_length=1, max_length=64)
    params: CommandParams = Field(default_factory=CommandParams)
    confirm_token: str | None = Field(default=None, min_length=1, max_length=200)


class ConfirmationPlan(BaseModel):
    """Exactly what a confirm token will execute, shown to the operator before they confirm."""

    command: Command
    component: str
    params: CommandParams
    current_state: ComponentState
    mode: Mode
    summary: str


class ConfirmationRequired(BaseModel):
    requires_confirmation: Literal[True] = True
    confirm_token: str
    expires_in: int
    plan: ConfirmationPlan


class CommandResult(BaseModel):
    status: Literal["ok"] = "ok"
    action: str
    component: str
    state: ComponentState
    mode: Mode


class CommandExecuted(BaseModel):
    result: CommandResult


class WhoAmIResponse(BaseModel):
    """The caller's identity and scopes, so a client can tell read-only from command-capable."""

    principal: str
    scopes: list[str]


class ApiDocument(BaseModel):
    """GET /openapi.json: the server's OpenAPI 3.1 document, its top-level parts typed and the rest as JSON."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, dict[str, Any]]
    components: dict[str, Any]
