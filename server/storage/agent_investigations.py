"""Investigations and what they found: the investigation rows, their checkpointed steps (each written as it
finishes, so a resume knows what is done), insights, recommendations and rule drafts."""

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from server.storage.database import Database
from shared.agent import (
    SEVERITY_RANK,
    Insight,
    InvestigationError,
    InvestigationStatus,
    InvestigationSummary,
    Mode,
    Recommendation,
    RuleDraft,
    Step,
)

_STEP: TypeAdapter[Step] = TypeAdapter(Step)
_SUMMARY_COLUMNS = (
    "investigation_id, transaction_id, mode, status, requested_by, reasoner, model, started_at, finished_at, "
    "duration_ms, risk_score, verdict, summary, error_code, error_message, resumed_count"
)


class AlreadyRunning(Exception):
    """Another investigation of the same transaction is running (the database's one-running index said so)."""


def _summary(row: sqlite3.Row) -> InvestigationSummary:
    error = None
    if row["error_code"] is not None:
        error = InvestigationError(code=row["error_code"], message=row["error_message"] or "")
    return InvestigationSummary(
        investigation_id=row["investigation_id"],
        transaction_id=row["transaction_id"],
        mode=row["mode"],
        status=row["status"],
        requested_by=row["requested_by"],
        reasoner=row["reasoner"],
        model=row["model"],
        started_at=datetime.fromisoformat(row["started_at"]),
        finished_at=datetime.fromisoformat(row["finished_at"]) if row["finished_at"] else None,
        duration_ms=row["duration_ms"],
        risk_score=row["risk_score"],
        verdict=row["verdict"],
        summary=row["summary"],
        error=error,
        resumed_count=row["resumed_count"],
    )


def recommendation_of(row: sqlite3.Row) -> Recommendation:
    return Recommendation(
        recommendation_id=row["recommendation_id"],
        investigation_id=row["investigation_id"],
        transaction_id=row["transaction_id"],
        severity=row["severity"],
        action=row["action"],
        rationale=row["rationale"],
        created_at=datetime.fromisoformat(row["created_at"]),
        status=row["status"],
        decided_by=row["decided_by"],
        decided_at=datetime.fromisoformat(row["decided_at"]) if row["decided_at"] else None,
        comment=row["comment"],
    )


RECOMMENDATION_COLUMNS = (
    "seq, severity_rank, recommendation_id, investigation_id, transaction_id, severity, action, rationale, "
    "created_at, status, decided_by, decided_at, comment"
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a finished investigation found, written in one transaction with its final state."""

    transaction_id: str
    risk_score: float
    verdict: str
    summary: str
    insights: list[Insight]
    recommendations: list[Recommendation]
    rule_draft: RuleDraft | None


class InvestigationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, summary: InvestigationSummary) -> None:
        """Store a new running investigation; AlreadyRunning if its transaction has one running."""
        try:
            await self._db.execute(
                "INSERT INTO agent_investigations (investigation_id, transaction_id, mode, status, requested_by, "
                "reasoner, model, started_at) VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
                (
                    summary.investigation_id,
                    summary.transaction_id,
                    summary.mode,
                    summary.requested_by,
                    summary.reasoner,
                    summary.model,
                    summary.started_at.isoformat(),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise AlreadyRunning(summary.transaction_id) from exc

    async def reopen(self, investigation_id: str, *, reasoner: str, model: str) -> bool:
        """Set an interrupted or failed investigation running again; False if it is neither. AlreadyRunning if
        another investigation of its transaction runs meanwhile."""
        try:
            changed = await self._db.execute(
                "UPDATE agent_investigations SET status = 'running', resumed_count = resumed_count + 1, "
                "error_code = NULL, error_message = NULL, finished_at = NULL, reasoner = ?, "
                "model = ? WHERE investigation_id = ? AND status IN ('interrupted', 'failed')",
                (reasoner, model, investigation_id),
            )
        except sqlite3.IntegrityError as exc:
            raise AlreadyRunning(investigation_id) from exc
        return changed == 1

    async def add_step(self, investigation_id: str, step: Step) -> None:
        await self._db.execute(
            "INSERT INTO agent_steps (investigation_id, step_no, kind, name, status, started_at, duration_ms, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                investigation_id,
                step.step_no,
                step.kind,
                step.name,
                step.status,
                step.started_at.isoformat(),
                step.duration_ms,
                step.model_dump_json(),
            ),
        )

    async def steps(self, investigation_id: str) -> list[Step]:
        rows = await self._db.fetchall(
            "SELECT body FROM agent_steps WHERE investigation_id = ? ORDER BY step_no", (investigation_id,)
        )
        return [_STEP.validate_json(r[0]) for r in rows]

    async def complete(self, investigation_id: str, *, at: datetime, duration_ms: float, outcome: Outcome) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE agent_investigations SET status = 'completed', finished_at = ?, duration_ms = ?, "
                "risk_score = ?, verdict = ?, summary = ? WHERE investigation_id = ?",
                (at.isoformat(), duration_ms, outcome.risk_score, outcome.verdict, outcome.summary, investigation_id),
            )
            await conn.executemany(
                "INSERT INTO agent_insights (insight_id, investigation_id, transaction_id, position, body) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (i.insight_id, investigation_id, outcome.transaction_id, n, i.model_dump_json())
                    for n, i in enumerate(outcome.insights)
                ],
            )
            await conn.executemany(
                "INSERT INTO agent_recommendations (recommendation_id, investigation_id, transaction_id, severity, "
                "severity_rank, action, rationale, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                # The same advice for the deposit still open (migration 0021's index) is not added again.
                "ON CONFLICT (transaction_id, action) WHERE status = 'PENDING' DO NOTHING",
                [
                    (
                        r.recommendation_id,
                        r.investigation_id,
                        r.transaction_id,
                        r.severity,
                        SEVERITY_RANK[r.severity],
                        r.action,
                        r.rationale,
                        r.created_at.isoformat(),
                    )
                    for r in outcome.recommendations
                ],
            )
            if outcome.rule_draft is not None:
                await conn.execute(
                    "INSERT INTO agent_rule_drafts (investigation_id, body) VALUES (?, ?)",
                    (investigation_id, outcome.rule_draft.model_dump_json()),
                )

    async def stop(
        self, investigation_id: str, status: InvestigationStatus, *, at: datetime, duration_ms: float,
        error: InvestigationError | None,
    ) -> None:  # fmt: skip
        """End a running investigation as failed or interrupted."""
        await self._db.execute(
            "UPDATE agent_investigations SET status = ?, finished_at = ?, duration_ms = ?, error_code = ?, "
            "error_message = ? WHERE investigation_id = ? AND status = 'running'",
            (
                status,
                at.isoformat(),
                duration_ms,
                error.code if error else None,
                error.message if error else None,
                investigation_id,
            ),
        )

    async def interrupt_running(self, *, at: datetime) -> int:
        """At start-up: what was running when the last process ended is interrupted (resume continues it)."""
        return await self._db.execute(
            "UPDATE agent_investigations SET status = 'interrupted', finished_at = ? WHERE status = 'running'",
            (at.isoformat(),),
        )

    async def get(self, investigation_id: str) -> InvestigationSummary | None:
        row = await self._db.fetchone(
            f"SELECT {_SUMMARY_COLUMNS} FROM agent_investigations WHERE investigation_id = ?", (investigation_id,)
        )
        return _summary(row) if row is not None else None

    async def page(
        self, *, limit: int, offset: int, status: str | None, transaction_id: str | None
    ) -> tuple[list[InvestigationSummary], int]:
        """Newest first, and how many match in all."""
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if transaction_id is not None:
            where.append("transaction_id = ?")
            params.append(transaction_id)
        condition = " AND ".join(where)
        rows = await self._db.fetchall(
            f"SELECT {_SUMMARY_COLUMNS} FROM agent_investigations WHERE {condition} ORDER BY seq DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        total = await self._db.fetchone(f"SELECT count(*) FROM agent_investigations WHERE {condition}", params)
        return [_summary(r) for r in rows], int(total[0]) if total is not None else 0

    async def insights(self, investigation_id: str) -> list[Insight]:
        rows = await self._db.fetchall(
            "SELECT body FROM agent_insights WHERE investigation_id = ? ORDER BY position", (investigation_id,)
        )
        return [Insight.model_validate_json(r[0]) for r in rows]

    async def of_transaction(self, transaction_id: str) -> list[InvestigationSummary]:
        rows = await self._db.fetchall(
            f"SELECT {_SUMMARY_COLUMNS} FROM agent_investigations WHERE transaction_id = ? ORDER BY seq DESC LIMIT 100",
            (transaction_id,),
        )
        return [_summary(r) for r in rows]

    async def recommendations(self, investigation_id: str) -> list[Recommendation]:
        rows = await self._db.fetchall(
            f"SELECT {RECOMMENDATION_COLUMNS} FROM agent_recommendations WHERE investigation_id = ? ORDER BY seq",
            (investigation_id,),
        )
        return [recommendation_of(r) for r in rows]

    async def rule_draft(self, investigation_id: str) -> RuleDraft | None:
        row = await self._db.fetchone(
            "SELECT body FROM agent_rule_drafts WHERE investigation_id = ?", (investigation_id,)
        )
        return RuleDraft.model_validate_json(row[0]) if row is not None else None

    async def similar_cases(self, kinds: list[str], *, exclude_transaction: str, limit: int) -> list[dict[str, Any]]:
        """Past completed investigations whose insights share a kind with `kinds`: transaction, kinds, verdict."""
        if not kinds:
            return []
        marks = ", ".join("?" for _ in kinds)
        rows = await self._db.fetchall(
            "SELECT i.transaction_id, i.investigation_id, v.verdict, group_concat(DISTINCT json_extract(i.body, "
            "'$.kind')) AS kinds FROM agent_insights i JOIN agent_investigations v USING (investigation_id) "
            f"WHERE json_extract(i.body, '$.kind') IN ({marks}) AND i.transaction_id != ? "
            "GROUP BY i.investigation_id ORDER BY max(v.seq) DESC LIMIT ?",
            (*kinds, exclude_transaction, limit),
        )
        return [
            {
                "transaction_id": r["transaction_id"],
                "investigation_id": r["investigation_id"],
                "verdict": r["verdict"],
                "kinds": sorted(str(r["kinds"]).split(",")),
            }
            for r in rows
        ]

    async def counts(self) -> dict[tuple[str, Mode], int]:
        rows = await self._db.fetchall("SELECT status, mode, count(*) FROM agent_investigations GROUP BY status, mode")
        return {(r[0], r[1]): int(r[2]) for r in rows}
