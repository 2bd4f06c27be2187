"""The one redaction layer between the evidence and the public: public models are built here field by field from an
allow-list of what the public may see — agent, action, decision, outcome, time, the kind of subject — never by
copying a record and deleting known-bad keys. References, rules, entry ids, idempotency keys and anything about a
customer are simply never read."""

from datetime import datetime

from server.storage.evidence import EvidenceRow
from shared.live import (
    ActionName,
    AgentName,
    AgentState,
    DecisionName,
    Outcome,
    PublicAgentStatus,
    PublicEvent,
    SubjectKind,
)

PUBLIC_AGENTS: frozenset[str] = frozenset({"guardian", "signal", "refund"})  # the allow-listed agents
_ACTIONS: dict[str, ActionName] = {a: a for a in ("comment.create", "alert.raise", "refund.create")}
_DECISIONS: dict[str, DecisionName] = {d: d for d in ("ALLOW", "DENY", "REQUIRE_APPROVAL")}
_OUTCOMES: dict[str, Outcome] = {o: o for o in ("executed", "denied", "awaiting_approval", "failed_closed")}
_AGENTS: dict[str, AgentName] = {a: a for a in ("guardian", "signal", "refund")}
_SUBJECTS: dict[str, SubjectKind] = {"dep": "deposit", "comp": "component"}


def public_event(row: EvidenceRow) -> PublicEvent | None:
    """The public view of one evidence row; None for an agent or value not on the allow-list."""
    agent = _AGENTS.get(row.agent) if row.agent in PUBLIC_AGENTS else None
    action = _ACTIONS.get(row.action)
    outcome = _OUTCOMES.get(row.outcome)
    subject = _SUBJECTS.get(row.resource_refs[0].partition("_")[0]) if row.resource_refs else None
    if agent is None or action is None or outcome is None or subject is None:
        return None
    return PublicEvent(
        sequence=row.evidence_id,
        at=datetime.fromisoformat(row.at),
        agent=agent,
        action=action,
        decision=_DECISIONS.get(row.decision) if row.decision is not None else None,
        outcome=outcome,
        subject=subject,
    )


def public_agent(state: AgentState, last: EvidenceRow | None) -> PublicAgentStatus:
    if last is None:
        return PublicAgentStatus(status=state)
    return PublicAgentStatus(
        status=state,
        last_action=_ACTIONS.get(last.action),
        last_decision=_DECISIONS.get(last.decision) if last.decision is not None else None,
    )
