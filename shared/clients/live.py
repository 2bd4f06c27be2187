"""LiveClient: the live + refunds family (contract 5-live-refunds-api.md), `client.live.*`. The public board and
feed need no token; the refund tools need `refunds:operator` (and `refunds:pii` for unmasked customer fields).
Errors in the family's `{"detail": ...}` envelope become the typed errors (`Unauthorized`, `Forbidden`, ...)."""

from datetime import datetime

from shared.clients.envelopes import LIVE
from shared.clients.transport import Transport, query_params
from shared.live import (
    IDEMPOTENCY_KEY_HEADER,
    DecisionName,
    EntryQuery,
    EntryStatus,
    Evidence,
    FeedQuery,
    LedgerEntry,
    LedgerPage,
    LedgerQuery,
    LiveFeed,
    LiveStatus,
    ProcessOnceRequest,
    ProcessOnceResult,
    RefundAgentStatus,
)


class LiveClient:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def status(self) -> LiveStatus:
        return await self._transport.request(LIVE, "GET", "/ops/api/live/status", LiveStatus)

    async def feed(self, limit: int = 20) -> LiveFeed:
        """The newest sanitized events, newest first; `limit` 1 to 100 (checked here as the server checks it)."""
        params = query_params(FeedQuery(limit=limit))
        return await self._transport.request(LIVE, "GET", "/ops/api/live/feed", LiveFeed, params=params)

    async def refund_agent_status(self) -> RefundAgentStatus:
        return await self._transport.request(LIVE, "GET", "/ops/api/refunds/agent/status", RefundAgentStatus)

    async def ledger(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        status: EntryStatus | None = None,
        decision: DecisionName | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        masked: bool = False,
    ) -> LedgerPage:
        """One page of the ledger, newest first; pass the page's `next_cursor` for the next one."""
        query = LedgerQuery(
            limit=limit, cursor=cursor, status=status, decision=decision, since=since, until=until, masked=masked
        )
        params = query_params(query)
        return await self._transport.request(LIVE, "GET", "/ops/api/refunds/ledger", LedgerPage, params=params)

    async def ledger_entry(self, entry_id: int, *, masked: bool = False) -> LedgerEntry:
        """One entry, masked as the ledger is (unmasked for a refunds:pii token, and then audited, unless `masked`);
        `NotFound` when the ledger has no such entry."""
        params = query_params(EntryQuery(masked=masked))
        return await self._transport.request(
            LIVE, "GET", f"/ops/api/refunds/ledger/{int(entry_id)}", LedgerEntry, params=params
        )

    async def evidence(self, evidence_id: int) -> Evidence:
        """One evidence record (a ledger entry names its `evidence_id`), with its hash and the previous record's."""
        return await self._transport.request(LIVE, "GET", f"/ops/api/refunds/evidence/{int(evidence_id)}", Evidence)

    async def process_once(
        self, *, entry_id: int | None = None, idempotency_key: str | None = None
    ) -> ProcessOnceResult:
        """Process the oldest pending entry (or `entry_id`). With `idempotency_key`, a retry of this call (after a
        timeout, say) gets the first call's answer instead of processing another entry."""
        body = ProcessOnceRequest(entry_id=entry_id).model_dump(mode="json", exclude_none=True)
        headers = {IDEMPOTENCY_KEY_HEADER: idempotency_key} if idempotency_key is not None else None
        return await self._transport.request(
            LIVE, "POST", "/ops/api/refunds/process-once", ProcessOnceResult, json=body, headers=headers
        )
