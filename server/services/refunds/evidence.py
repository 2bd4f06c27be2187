"""The operator's view of the evidence: one record as the API shows it, with its proof status (`signed` once a
checkpoint covers it) and the previous record's hash, so a reader can follow the chain."""

from server.errors import NotFound
from server.storage.evidence import EvidenceRepository, EvidenceRow
from shared.live import Evidence


def evidence_model(row: EvidenceRow, signed_head: int) -> Evidence:
    return Evidence.model_validate(
        {
            "evidence_id": row.evidence_id,
            "at": row.at,
            "agent": row.agent,
            "action": row.action,
            "entry_id": row.entry_id,
            "decision": row.decision,
            "rule": row.rule,
            "outcome": row.outcome,
            "idempotency_key": row.idempotency_key,
            "resource_refs": list(row.resource_refs),
            "latency_ms": row.latency_us / 1000,
            "proof_status": "signed" if row.evidence_id <= signed_head else "chained",
            "redaction_status": row.redaction_status,
            "prev_hash": row.prev_hash,
            "hash": row.hash,
        }
    )


async def evidence_record(repository: EvidenceRepository, evidence_id: int) -> Evidence:
    row = await repository.get(evidence_id)
    if row is None:
        raise NotFound(f"no evidence {evidence_id}", code="evidence_not_found")
    return evidence_model(row, await repository.signed_head())
