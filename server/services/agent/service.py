"""The agent family's reads and decisions: transaction pages, investigation pages and details, insights across
investigations, rule drafts, the worklist and its decisions. (Running and resuming are the engine's.)"""

from server.clock import Clock
from server.errors import Conflict, NotFound
from server.services.agent.cursors import BadCursor, CursorSigner
from server.storage.agent_investigations import InvestigationRepository
from server.storage.agent_transactions import TransactionRepository
from server.storage.agent_worklist import Position, WorklistRepository
from shared.agent import (
    Acknowledge,
    InsightSnapshot,
    InvestigationDetail,
    InvestigationPage,
    InvestigationQuery,
    Recommendation,
    RuleDraft,
    TraceInfo,
    TransactionInsights,
    TransactionPage,
    TransactionQuery,
    WorklistPage,
    WorklistQuery,
)


class AgentService:
    def __init__(
        self,
        transactions: TransactionRepository,
        investigations: InvestigationRepository,
        worklist: WorklistRepository,
        clock: Clock,
        *,
        cursor_secret: bytes,
    ) -> None:
        self._transactions = transactions
        self._investigations = investigations
        self._worklist = worklist
        self._clock = clock
        self._transaction_cursors = CursorSigner(cursor_secret, purpose="transactions")
        self._worklist_cursors = CursorSigner(cursor_secret, purpose="worklist")

    async def transactions(self, query: TransactionQuery) -> TransactionPage:
        scope = {"suspicious": query.suspicious}
        before = None
        if query.cursor is not None:
            before = _int(self._transaction_cursors.decode(query.cursor, scope=scope).get("seq"))
        items, last = await self._transactions.page(limit=query.limit, before_seq=before, suspicious=query.suspicious)
        cursor = self._transaction_cursors.encode({"seq": last}, scope=scope) if last is not None else None
        return TransactionPage(items=items, next_cursor=cursor)

    async def investigations(self, query: InvestigationQuery) -> InvestigationPage:
        items, total = await self._investigations.page(
            limit=query.limit, offset=query.offset, status=query.status, transaction_id=query.transaction_id
        )
        return InvestigationPage(items=items, total=total, limit=query.limit, offset=query.offset)

    async def detail(self, investigation_id: str) -> InvestigationDetail:
        summary = await self._investigations.get(investigation_id)
        if summary is None:
            raise NotFound(f"no investigation {investigation_id}", code="investigation_not_found")
        steps = await self._investigations.steps(investigation_id)
        return InvestigationDetail(
            **summary.model_dump(),
            trace=TraceInfo(
                reasoner=summary.reasoner,
                model=summary.model,
                steps=len(steps),
                tool_calls=sum(1 for s in steps if s.kind == "tool"),
                reasoning_calls=sum(1 for s in steps if s.kind == "reasoning"),
            ),
            steps=steps,
            insights=await self._investigations.insights(investigation_id),
            recommendations=await self._investigations.recommendations(investigation_id),
            rule_draft=await self._investigations.rule_draft(investigation_id),
        )

    async def rule_draft(self, investigation_id: str) -> RuleDraft:
        if await self._investigations.get(investigation_id) is None:
            raise NotFound(f"no investigation {investigation_id}", code="investigation_not_found")
        draft = await self._investigations.rule_draft(investigation_id)
        if draft is None:
            raise NotFound(
                f"investigation {investigation_id} has no rule draft: its findings did not generalise to a rule",
                code="rule_draft_not_found",
            )
        return draft

    async def insights(self, transaction_id: str) -> TransactionInsights:
        if await self._transactions.get(transaction_id) is None:
            raise NotFound(f"no transaction {transaction_id}", code="transaction_not_found")
        snapshots = [
            InsightSnapshot(
                investigation_id=s.investigation_id,
                mode=s.mode,
                status=s.status,
                finished_at=s.finished_at,
                risk_score=s.risk_score,
                verdict=s.verdict,
                insights=await self._investigations.insights(s.investigation_id),
            )
            for s in await self._investigations.of_transaction(transaction_id)
        ]
        return TransactionInsights(transaction_id=transaction_id, snapshots=snapshots)

    async def worklist(self, query: WorklistQuery) -> WorklistPage:
        scope = {"severity": query.severity}
        after = None
        if query.cursor is not None:
            position = self._worklist_cursors.decode(query.cursor, scope=scope)
            after = Position(_int(position.get("rank")), _int(position.get("seq")))
        items, last = await self._worklist.page(limit=query.limit, after=after, severity=query.severity)
        cursor = None
        if last is not None:
            cursor = self._worklist_cursors.encode({"rank": last.rank, "seq": last.seq}, scope=scope)
        return WorklistPage(items=items, next_cursor=cursor)

    async def acknowledge(self, recommendation_id: str, decision: Acknowledge, *, by: str) -> Recommendation:
        decided = await self._worklist.decide(
            recommendation_id, decision.action, by=by, at=self._clock.now(), comment=decision.comment
        )
        current = await self._worklist.get(recommendation_id)
        if current is None:
            raise NotFound(f"no recommendation {recommendation_id}", code="recommendation_not_found")
        if not decided:
            raise Conflict(
                f"recommendation {recommendation_id} was {current.status} already by {current.decided_by}",
                code="recommendation_decided",
                extra={"status": current.status, "decided_by": current.decided_by},
            )
        return current


def _int(value: object) -> int:
    """A position's number: cursors are signed, so only a bug of ours could make this fail; say so as a 400."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise BadCursor("the cursor is not one this server gave out")
