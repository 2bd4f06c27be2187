"""The status views: the public board (through the redaction layer) and the operator's refund agent status."""

from server.services.live.redaction import public_agent
from server.services.live.runner import LiveAgents
from server.services.refunds.worker import AGENT_ID
from server.storage.evidence import EvidenceRepository
from server.storage.refunds import RefundRepository
from shared.live import REDACTED, ErrorCounts, LiveStatus, RefundAgentStatus


async def live_status(tenant: str, evidence: EvidenceRepository, agents: LiveAgents) -> LiveStatus:
    board = {}
    for name in ("guardian", "signal", "refund"):
        last = await evidence.latest_for(name)
        board[name] = public_agent(agents.state_of(last), last)
    return LiveStatus(tenant=tenant, guardian=board["guardian"], signal=board["signal"], refund=board["refund"])


async def refund_agent_status(
    agents: LiveAgents, repository: RefundRepository, evidence: EvidenceRepository
) -> RefundAgentStatus:
    last = await evidence.latest_for("refund")
    counts = await repository.counts()
    outcomes = await evidence.outcome_counts("refund")
    return RefundAgentStatus.model_validate(
        {
            "agent_id": AGENT_ID,
            "status": agents.state_of(last),
            "running": agents.running,
            "queue_depth": counts.get("pending", 0),
            "last_action": last.action if last is not None else None,
            "last_decision": last.decision if last is not None else None,
            "last_outcome": last.outcome if last is not None else None,
            "processed": sum(outcomes.values()),
            "error_counts": ErrorCounts(
                failed_closed=outcomes.get("failed_closed", 0),
                worker_errors=agents.worker.worker_errors + agents.tick_errors["refund"],
            ),
            "policy_point": agents.worker.point.kind,
            "redaction_status": REDACTED,
        }
    )
