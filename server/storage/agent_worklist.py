"""The recommendation worklist: keyset pages (most severe first, oldest first within a severity) and decisions
that take effect exactly once."""

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from server.storage.agent_investigations import RECOMMENDATION_COLUMNS, recommendation_of
from server.storage.database import Database
from shared.agent import Decision, Recommendation


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the worklist's key (severity rank, then seq), both immutable once a row exists, so a
    walk through the pages never skips or repeats a row whatever is inserted meanwhile."""

    rank: int
    seq: int


class WorklistRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def page(
        self, *, limit: int, after: Position | None, severity: str | None
    ) -> tuple[list[Recommendation], Position | None]:
        where: list[str] = []
        params: list[object] = []
        if severity is not None:
            # One severity: one rank, so the key is seq alone, served by the (severity, seq) index.
            where.append("severity = ?")
            params.append(severity)
            if after is not None:
                where.append("seq > ?")
                params.append(after.seq)
            order = "seq"
        elif after is not None:
            # The rest of the position's severity, then the lower ones: two index ranges read in index order. One
            # condition with an OR would not use the index, and a page deep in a million rows would scan.
            reader = self._db.long_reads
            rows = await reader.fetchall(
                f"SELECT {RECOMMENDATION_COLUMNS} FROM agent_recommendations WHERE severity_rank = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (after.rank, after.seq, limit + 1),
            )
            if len(rows) <= limit:
                rows += await reader.fetchall(
                    f"SELECT {RECOMMENDATION_COLUMNS} FROM agent_recommendations WHERE severity_rank < ? "
                    "ORDER BY severity_rank DESC, seq LIMIT ?",
                    (after.rank, limit + 1 - len(rows)),
                )
            return self._paged(rows, limit)
        else:
            order = "severity_rank DESC, seq"
        condition = " AND ".join(where) or "1 = 1"
        rows = await self._db.long_reads.fetchall(
            f"SELECT {RECOMMENDATION_COLUMNS} FROM agent_recommendations WHERE {condition} ORDER BY {order} LIMIT ?",
            (*params, limit + 1),
        )
        return self._paged(rows, limit)

    @staticmethod
    def _paged(rows: list[sqlite3.Row], limit: int) -> tuple[list[Recommendation], Position | None]:
        more = len(rows) > limit
        rows = rows[:limit]
        last = Position(rows[-1]["severity_rank"], rows[-1]["seq"]) if more and rows else None
        return [recommendation_of(r) for r in rows], last

    async def get(self, recommendation_id: str) -> Recommendation | None:
        row = await self._db.fetchone(
            f"SELECT {RECOMMENDATION_COLUMNS} FROM agent_recommendations WHERE recommendation_id = ?",
            (recommendation_id,),
        )
        return recommendation_of(row) if row is not None else None

    async def decide(self, recommendation_id: str, decision: Decision, *, by: str, at: datetime, comment: str) -> bool:
        """Record the decision if none is recorded yet. One conditional UPDATE: of concurrent decisions exactly one
        changes the row (True); the others find it decided (False)."""
        changed = await self._db.execute(
            "UPDATE agent_recommendations SET status = ?, decided_by = ?, decided_at = ?, comment = ? "
            "WHERE recommendation_id = ? AND status = 'PENDING'",
            (decision, by, at.isoformat(), comment, recommendation_id),
        )
        return changed == 1
