"""process-once: process exactly one pending entry and answer its evidence, with `Idempotency-Key` semantics — a
retry with the key answers the first call's bytes, a retry while the first still runs is refused (409), the key
with another body is refused (422); keys are kept at least 24 h, per principal."""

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from server.clock import Clock
from server.errors import Conflict, NotFound, OpsError
from server.services.refunds.evidence import evidence_model
from server.services.refunds.worker import Processed, RefundWorker
from server.storage.refunds import (
    IdempotencyRepository,
    KeyBegun,
    KeyInFlight,
    KeyMismatch,
    RefundRepository,
)
from shared.live import ProcessOnceRequest, ProcessOnceResult

NOTHING_PENDING = "no pending refund requests: nothing was processed"


class IdempotencyKeyReused(OpsError):
    status = 422
    code = "idempotency_key_reused"


class IdempotencyKeyInFlight(Conflict):
    code = "idempotency_key_in_flight"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes  # the encoded result: what a retry with the same key gets back, byte for byte
    result: ProcessOnceResult | None  # None when replayed


class ProcessOnce:
    def __init__(
        self,
        worker: RefundWorker,
        repository: RefundRepository,
        keys: IdempotencyRepository,
        signed_head: Callable[[], Awaitable[int]],  # EvidenceRepository.signed_head
        clock: Clock,
        key_ttl: timedelta,
    ) -> None:
        self._worker = worker
        self._repository = repository
        self._keys = keys
        self._signed_head = signed_head
        self._clock = clock
        self._key_ttl = key_ttl

    async def run(self, principal: str, body: ProcessOnceRequest, idempotency_key: str | None) -> Answer:
        if idempotency_key is None:
            result = await self._process(body, None)
            return Answer(200, result.model_dump_json().encode(), result)
        fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        now = self._clock.now()
        state = await self._keys.begin(principal, idempotency_key, fingerprint, now=now, expires_at=now + self._key_ttl)
        if isinstance(state, KeyMismatch):
            raise IdempotencyKeyReused("this Idempotency-Key was used with a different request body")
        if isinstance(state, KeyInFlight):
            raise IdempotencyKeyInFlight("a request with this Idempotency-Key is still being processed; retry later")
        if not isinstance(state, KeyBegun):
            return Answer(state.status, state.body, None)
        try:
            result = await self._process(body, idempotency_key)
        except BaseException:
            # Not answered: the key is forgotten, so the retry runs (shielded: a cancelled call still forgets it).
            await asyncio.shield(self._keys.abandon(principal, idempotency_key))
            raise
        encoded = result.model_dump_json().encode()
        await asyncio.shield(self._keys.complete(principal, idempotency_key, 200, encoded))
        return Answer(200, encoded, result)

    async def _process(self, body: ProcessOnceRequest, idempotency_key: str | None) -> ProcessOnceResult:
        processed = await self._worker.process_once(body.entry_id, idempotency_key)
        if processed is None:
            if body.entry_id is None:
                return ProcessOnceResult(
                    processed=False, entry_id=None, status=None, evidence=None, detail=NOTHING_PENDING
                )
            status = await self._repository.status_of(body.entry_id)
            if status is None:
                raise NotFound(f"no ledger entry {body.entry_id}", code="entry_not_found")
            raise Conflict(f"ledger entry {body.entry_id} is {status}, not pending", code="entry_not_pending")
        return self.result_of(processed, await self._signed_head())

    @staticmethod
    def result_of(processed: Processed, signed_head: int) -> ProcessOnceResult:
        evidence = evidence_model(processed.evidence, signed_head)
        return ProcessOnceResult(
            processed=True,
            entry_id=processed.entry_id,
            status=processed.status,
            evidence=evidence,
            detail=f"entry {processed.entry_id} processed: {evidence.outcome}",
        )
