"""Every scope a bearer token can carry. One list, used by the server, the CLI and the console."""

from enum import StrEnum


class Scope(StrEnum):
    OPS_READ = "ops:read"
    OPS_COMMAND = "ops:command"
    RUNBOOKS_READ = "runbooks:read"
    RUNBOOKS_EXECUTE = "runbooks:execute"
    OPS_AGENT_READ = "ops_agent:read"
    OPS_AGENT_RUN = "ops_agent:run"
    OPS_AGENT_ACK = "ops_agent:ack"
    INSPECTOR_READ = "inspector:read"
    INSPECTOR_WRITE = "inspector:write"
    ASSETS_WRITE = "assets:write"
    REFUNDS_OPERATOR = "refunds:operator"
    REFUNDS_PII = "refunds:pii"
    WEBHOOKS_ADMIN = "webhooks:admin"


ALL_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)


def parse_scopes(text: str) -> frozenset[str]:
    """Parse a comma-separated scope list, refusing names that are not scopes."""
    scopes = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(scopes - ALL_SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(sorted(ALL_SCOPES))}")
    if not scopes:
        raise ValueError("at least one scope is required")
    return scopes
