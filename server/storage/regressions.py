"""Stored regression analyses: one row each, the columns that name it beside the whole analysis as JSON."""

from server.storage.database import Database
from server.storage.traces import stored_time
from shared.inspector import RegressionAnalysis


class RegressionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, analysis: RegressionAnalysis) -> None:
        await self._db.execute(
            "INSERT INTO orch_regressions (analysis_id, type, baseline_trace_id, comparison_trace_id, completed_at, "
            "overall_score, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                analysis.analysis_id,
                analysis.type,
                analysis.baseline_trace_id,
                analysis.comparison_trace_id,
                stored_time(analysis.completed_at),
                analysis.overall_regression_score,
                analysis.model_dump_json(),
            ),
        )

    async def get(self, analysis_id: str) -> RegressionAnalysis | None:
        row = await self._db.fetchone("SELECT body FROM orch_regressions WHERE analysis_id = ?", (analysis_id,))
        return RegressionAnalysis.model_validate_json(row[0]) if row is not None else None
