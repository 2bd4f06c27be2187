"""Models of the live + refunds family (contract 5-live-refunds-api.md): the public live board and sanitized feed,
and the operator's refund agent status, ledger and process-once. Public models hold no free text about customers:
every field is a closed set, a number, a time or a safe reference."""

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

AgentName = Literal["guardian", "signal", "refund"]
ActionName = Literal["comment.create", "alert.raise", "refund.create"]
DecisionName = Literal["ALLOW", "DENY", "REQUIRE_APPROVAL"]
# What the worker did: the action ran, the policy refused it or holds it for approval, or the decision point
# could not be asked (errored, timed out) and the action was not taken.
Outcome = Literal["executed", "denied", "awaiting_approval", "failed_closed"]
AgentState = Literal["active", "idle", "degraded"]
EntryStatus = Literal["pending", "processing", "refunded", "denied", "awaiting_approval", "failed_closed"]
ProofStatus = Literal["chained", "signed"]  # in the hash chain; and covered by a signed checkpoint
SubjectKind = Literal["component", "deposit"]

FEED_MAX_LIMIT = 100
LEDGER_MAX_LIMIT = 200
REDACTED = "customer data hidden"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
# Printable ASCII without spaces, as Stripe and the IETF draft use them.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: object) -> object:
    """A time given as text must be what the schema's `date-time` says (RFC 3339, with its offset): pydantic alone
    would take `0.5` as Unix seconds, and a time without an offset as the server's local time."""
    if isinstance(value, str) and not _RFC3339.fullmatch(value):
        raise ValueError("expected an RFC 3339 date-time with an offset, e.g. 2026-01-31T12:00:00Z")
    return value


Instant = Annotated[datetime, BeforeValidator(_rfc3339)]
# An entry id: at most 18 digits, so it stays within SQLite's 64-bit integers (19 nines would overflow: a 500).
Cursor = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,17}$")]


# --- public ---


class PublicAgentStatus(BaseModel):
    status: AgentState
    last_action: ActionName | None = None
    last_decision: DecisionName | None = None


class LiveStatus(BaseModel):
    tenant: str
    guardian: PublicAgentStatus
    signal: PublicAgentStatus
    refund: PublicAgentStatus


class PublicEvent(BaseModel):
    """One governed action as the public sees it: no references, no rule, no customer."""

    sequence: int
    at: datetime
    agent: AgentName
    action: ActionName
    decision: DecisionName | None
    outcome: Outcome
    subject: SubjectKind


class LiveFeed(BaseModel):
    items: list[PublicEvent]


class FeedQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=FEED_MAX_LIMIT)


# --- operator ---


class ErrorCounts(BaseModel):
    failed_closed: int
    worker_errors: int


class RefundAgentStatus(BaseModel):
    agent_id: str
    status: AgentState
    running: bool
    queue_depth: int
    last_action: ActionName | None
    last_decision: DecisionName | None
    last_outcome: Outcome | None
    processed: int
    error_counts: ErrorCounts
    policy_point: Literal["in-process", "remote"]
    redaction_status: str


class Evidence(BaseModel):
    """What the worker did for one action, as recorded in the evidence chain."""

    evidence_id: int
    at: datetime
    agent: AgentName
    action: ActionName
    entry_id: int | None
    decision: DecisionName | None
    rule: str
    outcome: Outcome
    idempotency_key: str | None
    resource_refs: list[str]
    latency_ms: float
    proof_status: ProofStatus
    redaction_status: str
    prev_hash: str  # the previous record's hash (64 zeros for the first): a reader can follow the chain back
    hash: str


class CustomerData(BaseModel):
    """The protected columns, masked (`masked` true) unless the token has refunds:pii. Masked, the name keeps each
    word's first letter, the email its first letter and top-level domain, the card its last four digits; the expiry
    is `**/**` and there is no order payload (the schema says so: `if masked then order_payload null`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"masked": {"const": True}}},
            "then": {"properties": {"card_expiry": {"const": "**/**"}, "order_payload": {"type": "null"}}},
        }
    )

    masked: bool = Field(description="true unless the token has refunds:pii and did not ask `masked=true`")
    name: str
    email: str
    card_number: str
    card_expiry: str
    order_payload: dict[str, Any] | None


class LedgerEntry(BaseModel):
    entry_id: int
    created_at: datetime
    status: EntryStatus
    decision: DecisionName | None
    rule: str | None
    deposit_id: str
    deposit_ref: str
    customer_ref: str
    amount_minor: int
    currency: str
    risk_flags: list[str]
    evidence_id: int | None
    customer: CustomerData


class LedgerPage(BaseModel):
    items: list[LedgerEntry]
    next_cursor: str | None


class LedgerQuery(BaseModel):
    """Newest first by creation time (entry id breaking ties); `cursor` is the last page's `next_cursor`.
    `masked=true` asks for masked customer fields even with a refunds:pii token."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=LEDGER_MAX_LIMIT)
    cursor: Cursor | None = None
    status: EntryStatus | None = None
    decision: DecisionName | None = None
    since: Instant | None = None
    until: Instant | None = None
    masked: bool = False


class EntryPath(BaseModel):
    entry_id: int = Field(ge=1, le=2**63 - 1)


class EntryQuery(BaseModel):
    """One entry, masked as the ledger is: unmasked only for a refunds:pii token that does not ask `masked=true`."""

    model_config = ConfigDict(extra="forbid")

    masked: bool = False


class EvidencePath(BaseModel):
    evidence_id: int = Field(ge=1, le=2**63 - 1)


class ProcessOnceRequest(BaseModel):
    """Process the oldest pending entry, or `entry_id` (the one a console showed) if it is still pending."""

    model_config = ConfigDict(extra="forbid")

    entry_id: int | None = Field(default=None, ge=1, le=2**63 - 1)  # an SQLite integer, as EntryPath's


class ProcessOnceResult(BaseModel):
    processed: bool
    entry_id: int | None
    status: EntryStatus | None
    evidence: Evidence | None
    detail: str
