"""The refund worker: takes one pending entry, asks the decision point with the entry's safe context right before
the refund, refunds the deposit only on ALLOW, and records the entry's new status and its evidence in one
transaction. The customer's lock is held from counting their recent refunds (per-customer velocity) to that
record, so concurrent refunds for one customer are decided one after the other, each counting the one before.
A decision point that errors or times out, or a worker that fails mid-way, leaves the deposit unrefunded and the
entry `failed_closed`."""

import logging
from dataclasses import dataclass
from datetime import timedelta

import aiosqlite

from server.clock import Clock
from server.services.policy.context import PolicyContext
from server.services.policy.governor import Governed, governed
from server.services.policy.point import DecisionPoint
from server.services.refunds.customer_locks import CustomerLocks
from server.services.refunds.deposits import DepositBook
from server.storage.evidence import EvidenceDraft, EvidenceRepository, EvidenceRow
from server.storage.refunds import RefundRepository, StoredEntry, finish
from shared.live import REDACTED, EntryStatus, Outcome

log = logging.getLogger(__name__)

AGENT_ID = "retail-refund-agent"
_STATUS_OF: dict[Outcome, EntryStatus] = {
    "executed": "refunded",
    "denied": "denied",
    "awaiting_approval": "awaiting_approval",
    "failed_closed": "failed_closed",
}
WORKER_ERROR_RULE = "worker.error"
INTERRUPTED_RULE = "worker.interrupted"


@dataclass(frozen=True, slots=True)
class Processed:
    entry_id: int
    status: EntryStatus
    evidence: EvidenceRow


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    decision_timeout: float
    velocity_window: timedelta


class RefundWorker:
    def __init__(
        self,
        repository: RefundRepository,
        evidence: EvidenceRepository,
        deposits: DepositBook,
        point: DecisionPoint,
        clock: Clock,
        config: WorkerConfig,
    ) -> None:
        self._repository = repository
        self._evidence = evidence
        self._deposits = deposits
        self.point = point
        self._clock = clock
        self._config = config
        self.worker_errors = 0
        self._customers = CustomerLocks()

    async def process_once(self, entry_id: int | None = None, idempotency_key: str | None = None) -> Processed | None:
        """Process the oldest pending entry (or `entry_id`); None when there is none to take."""
        entry = await self._repository.claim(entry_id)
        if entry is None:
            return None
        async with self._customers.hold(entry.customer_ref):
            try:
                result = await self._govern(entry)
                rule = result.rule
            except Exception:  # whatever broke, the refund is not taken for done
                log.exception("refund worker failed on entry %s; failing closed", entry.entry_id)
                self.worker_errors += 1
                result, rule = Governed(None, "failed_closed", None, 0), WORKER_ERROR_RULE
            return await self._record(entry, result, rule, idempotency_key)

    async def recover(self) -> int:
        """At start-up: entries a stopped worker left mid-way may or may not have been refunded; close them as
        failed closed, with evidence, rather than refund them twice."""
        entries = await self._repository.interrupted()
        for entry in entries:
            await self._record(entry, Governed(None, "failed_closed", None, 0), INTERRUPTED_RULE, None)
        return len(entries)

    async def _govern(self, entry: StoredEntry) -> Governed[str]:
        now = self._clock.now()
        recent = await self._repository.refunds_since(entry.customer_ref, now - self._config.velocity_window)
        # Validated like any other input: a flag or currency the policy does not know fails closed.
        context = PolicyContext.model_validate(
            {
                "agent": "refund",
                "action": "refund.create",
                "resource_ref": entry.deposit_ref,
                "customer_ref": entry.customer_ref,
                "amount_minor": entry.amount_minor,
                "currency": entry.currency,
                "recent_refunds": recent,
                # The deposit's flags as of now: one flagged since the request came in is flagged.
                "risk_flags": {*await self._deposits.risk_flags(entry.deposit_id), *entry.risk_flags},
                "at": now,
            }
        )

        async def refund() -> str:
            return await self._deposits.refund(entry.deposit_id, entry.amount_minor)

        return await governed(self.point, context, refund, timeout=self._config.decision_timeout)

    async def _record(
        self, entry: StoredEntry, result: Governed[str], rule: str, idempotency_key: str | None
    ) -> Processed:
        status = _STATUS_OF[result.outcome]
        decision = result.decision.decision if result.decision is not None else None
        draft = EvidenceDraft(
            at=self._clock.now(),
            agent="refund",
            action="refund.create",
            entry_id=entry.entry_id,
            decision=decision,
            rule=rule,
            outcome=result.outcome,
            idempotency_key=idempotency_key,
            resource_refs=(entry.deposit_ref, entry.customer_ref),
            latency_us=result.latency_us,
            redaction_status=REDACTED,
        )

        async def close_entry(conn: aiosqlite.Connection, row: EvidenceRow) -> None:
            await finish(conn, entry.entry_id, status=status, decision=decision, rule=rule, evidence_id=row.evidence_id)

        row = await self._evidence.record(draft, also=close_entry)
        return Processed(entry.entry_id, status, row)
