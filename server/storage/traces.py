"""Ask traces and the control loop's decisions. A trace is one row: the columns the inspector filters on (question,
feature, status, route, time; the question and feature also in a trigram search index) and the whole trace as
JSON. Each replan decision is also a row of its own, which the control loop's statistics count."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from server.storage.database import Database
from shared.orchestration import Trace


@dataclass(frozen=True, slots=True)
class ReplanRow:
    at: datetime
    stage: str
    trigger_type: str
    replanned: bool
    exhausted: bool


@dataclass(frozen=True, slots=True)
class ReplanTotals:
    decisions: int
    replanned: int
    last_replan_at: datetime | None
    last_exhausted_at: datetime | None
    by_trigger: dict[str, int]


class TraceRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, trace: Trace, decisions: Sequence[ReplanRow]) -> None:
        applied = [f"{kind}:{ref}" for kind, ref in sorted(trace.applied_assets.items())]
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO orch_traces (trace_id, created_at, question, feature, status, route, duration_ms, "
                "test_mode, applied_assets, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, json(?), ?)",
                (
                    trace.trace_id,
                    trace.created_at.isoformat(),
                    trace.question,
                    trace.feature,
                    trace.status,
                    trace.route,
                    trace.duration_ms,
                    int(trace.test_mode),
                    json.dumps(applied, ensure_ascii=False),
                    trace.model_dump_json(),
                ),
            )
            await conn.executemany(
                "INSERT INTO orch_replan_events (trace_id, at, stage, trigger_type, replanned, exhausted) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (trace.trace_id, d.at.isoformat(), d.stage, d.trigger_type, int(d.replanned), int(d.exhausted))
                    for d in decisions
                ],
            )

    async def get(self, trace_id: str) -> Trace | None:
        row = await self._db.fetchone("SELECT body FROM orch_traces WHERE trace_id = ?", (trace_id,))
        return Trace.model_validate_json(row[0]) if row is not None else None

    async def replan_totals(self) -> ReplanTotals:
        totals = await self._db.fetchone(
            "SELECT COUNT(*), COALESCE(SUM(replanned), 0), MAX(CASE WHEN replanned THEN at END), "
            "MAX(CASE WHEN exhausted THEN at END) FROM orch_replan_events"
        )
        by_trigger = await self._db.fetchall(
            "SELECT trigger_type, COUNT(*) FROM orch_replan_events GROUP BY trigger_type ORDER BY trigger_type"
        )
        assert totals is not None  # an aggregate always answers one row
        return ReplanTotals(
            decisions=int(totals[0]),
            replanned=int(totals[1]),
            last_replan_at=datetime.fromisoformat(totals[2]) if totals[2] else None,
            last_exhausted_at=datetime.fromisoformat(totals[3]) if totals[3] else None,
            by_trigger={row[0]: int(row[1]) for row in by_trigger},
        )
