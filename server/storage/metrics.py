"""MetricsRepository: the embedded metrics source's samples. Raw samples are kept for a while (a day by default);
each write also recomputes the one-minute rollups of the minutes it touched, from the raw rows, so a rollup is
right however often a minute is written to and whatever order samples arrive in. Rollups are kept longer (eight
days), so a week's chart reads one row per minute. Reads run on the database's long-reads connection, never on
the hot path's."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.storage.database import Database

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Sample:
    metric: str
    at: float  # epoch seconds
    value: float
    context: dict[str, Any] | None = None

    @property
    def at_ms(self) -> int:
        return round(self.at * 1000)


# The samples of one metric in one step: (start, count, sum), `start` in epoch seconds and a multiple of the step.
Counted = tuple[int, int, float]


_UPSERT_SAMPLE = (
    "INSERT INTO metric_samples (metric, ts_ms, value, context) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (metric, ts_ms) DO UPDATE SET value = excluded.value, context = excluded.context"
)
# The rollups of [from, to) recomputed from the raw samples there: idempotent, so a rewritten sample never counts twice.
_RECOMPUTE_ROLLUPS = (
    "INSERT INTO metric_rollups (metric, minute, count, total, min, max) "
    "SELECT metric, (ts_ms / 60000) * 60, COUNT(*), SUM(value), MIN(value), MAX(value) FROM metric_samples "
    "WHERE metric = ? AND ts_ms >= ? AND ts_ms < ? GROUP BY metric, ts_ms / 60000 "
    "ON CONFLICT (metric, minute) DO UPDATE SET "
    "count = excluded.count, total = excluded.total, min = excluded.min, max = excluded.max"
)


class MetricsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, samples: Sequence[Sample]) -> None:
        """Store `samples` (a later one at the same millisecond replaces the earlier) and update their minutes'
        rollups, in one transaction."""
        if not samples:
            return
        rows = [
            (s.metric, s.at_ms, s.value, json.dumps(s.context, separators=(",", ":")) if s.context else None)
            for s in samples
        ]
        # Per metric: the primary key (metric, ts_ms) finds each one's minutes without reading the others'.
        spans: dict[str, tuple[int, int]] = {}
        for metric, at_ms, _, _ in rows:
            first, last = spans.get(metric, (at_ms, at_ms))
            spans[metric] = (min(first, at_ms), max(last, at_ms))
        async with self._db.transaction() as conn:
            await conn.executemany(_UPSERT_SAMPLE, rows)
            for metric, (first, last) in spans.items():
                minutes = (first // MINUTE_MS * MINUTE_MS, (last // MINUTE_MS + 1) * MINUTE_MS)
                await conn.execute(_RECOMPUTE_ROLLUPS, (metric, *minutes))

    async def latest(self, metric: str) -> Sample | None:
        row = await self._db.long_reads.fetchone(
            "SELECT ts_ms, value, context FROM metric_samples WHERE metric = ? ORDER BY ts_ms DESC LIMIT 1", (metric,)
        )
        if row is None:
            return None
        context = json.loads(row["context"]) if row["context"] else None
        return Sample(metric, row["ts_ms"] / 1000, row["value"], context)

    async def max_between(self, metric: str, start: float, end: float) -> float | None:
        """The largest raw sample of `metric` in [start, end]."""
        row = await self._db.long_reads.fetchone(
            "SELECT MAX(value) AS top FROM metric_samples WHERE metric = ? AND ts_ms >= ? AND ts_ms <= ?",
            (metric, round(start * 1000), round(end * 1000)),
        )
        return None if row is None or row["top"] is None else float(row["top"])

    async def series(self, metric: str, start: int, end: int, step: int, *, raw_from: float) -> list[tuple[int, float]]:
        """`metric` over [start, end) as (bucket start, mean) in buckets of `step` seconds aligned to multiples of it
        (`start` is one). Raw samples are complete from `raw_from` on; before it only rollups are. When the step is
        whole minutes the rollups alone answer (one row a minute); otherwise raw samples from `raw_from` (its next
        whole minute), rollups before."""
        if step % 60 == 0:
            return await self._rollup_means(metric, start, end, step)
        split = min(end, max(start, -(-int(raw_from) // 60) * 60))
        older = await self._counted("metric_rollups", metric, start, split, step) if split > start else []
        newer = await self._counted("metric_samples", metric, split, end, step) if end > split else []
        if older and newer and older[-1][0] == newer[0][0]:  # one step straddles the split: merge it
            (t, n, total), (_, m, more) = older.pop(), newer[0]
            newer[0] = (t, n + m, total + more)
        return [(t, total / n) for t, n, total in older + newer]

    async def _rollup_means(self, metric: str, start: int, end: int, step: int) -> list[tuple[int, float]]:
        """The hot path of week-long charts (10,080 rows at one-minute steps): means straight from SQL."""
        if step == 60:  # the rollups' own step: read in key order, no grouping
            sql = "SELECT minute, total / count FROM metric_rollups WHERE metric = ? AND minute >= ? AND minute < ?"
            rows = await self._db.long_reads.fetchall(sql + " ORDER BY minute", (metric, start, end))
        else:
            rows = await self._db.long_reads.fetchall(
                "SELECT (minute / ?) * ? AS t, SUM(total) / SUM(count) FROM metric_rollups "
                "WHERE metric = ? AND minute >= ? AND minute < ? GROUP BY t ORDER BY t",
                (step, step, metric, start, end),
            )
        return [(t, mean) for t, mean in rows]

    async def minute_points_json(self, metric: str, start: int, end: int, step: int, *, decimals: int) -> str:
        """The points of `metric` over [start, end) in buckets of `step` seconds (whole minutes; `start` a multiple
        of the step), from the rollups, as the API's JSON array `[{"timestamp": "...Z", "value": mean}, ...]`;
        means rounded to `decimals` places, whole numbers (JSON integers) when 0.

        SQLite encodes it, because a week at one-minute steps is 10,080 points: built in Python they were 10,080 rows,
        dicts and datetimes to validate and encode again (p99 105-229 ms, README), and every request's garbage woke
        the collector; here one string crosses into Python, and the encoding runs on the reader's thread, outside
        the GIL. What the API's models would write, byte for byte: tests/server/metrics/test_metrics_points_json.py."""
        if step == 60:  # the rollups' own step: a row is a point, read in key order (grouping would sort again)
            means = "SELECT minute AS t, total / count AS mean FROM metric_rollups WHERE metric = ? AND minute >= ? "
            means += "AND minute < ? ORDER BY minute"
            params: tuple[str | int, ...] = (metric, start, end)
        else:
            means = "SELECT (minute / ?) * ? AS t, SUM(total) / SUM(count) AS mean FROM metric_rollups "
            means += "WHERE metric = ? AND minute >= ? AND minute < ? GROUP BY t ORDER BY t"
            params = (step, step, metric, start, end)
        value = "CAST(round(mean) AS INTEGER)" if decimals == 0 else f"round(mean, {int(decimals)})"
        # The aggregate reads its subquery's rows in the subquery's order (SQLite never flattens an ordered
        # subquery into an aggregate), so the points come oldest first.
        sql = (
            "SELECT json_group_array(json_object("
            f"'timestamp', strftime('%Y-%m-%dT%H:%M:%SZ', t, 'unixepoch'), 'value', {value})) FROM ({means})"
        )
        row = await self._db.long_reads.fetchone(sql, params)
        return str(row[0]) if row is not None else "[]"

    async def _counted(self, table: str, metric: str, start: int, end: int, step: int) -> list[Counted]:
        if table == "metric_rollups":
            sql = (
                "SELECT (minute / ?) * ? AS t, SUM(count), SUM(total) FROM metric_rollups "
                "WHERE metric = ? AND minute >= ? AND minute < ? GROUP BY t ORDER BY t"
            )
            params: tuple[int, ...] = (step, step)
            span = (start, end)
        else:
            sql = (
                "SELECT (ts_ms / ?) * ? AS t, COUNT(*), SUM(value) FROM metric_samples "
                "WHERE metric = ? AND ts_ms >= ? AND ts_ms < ? GROUP BY t ORDER BY t"
            )
            params = (step * 1000, step)
            span = (start * 1000, end * 1000)
        rows = await self._db.long_reads.fetchall(sql, (*params, metric, *span))
        return [(t, n, total) for t, n, total in rows]

    async def prune(self, *, raw_before: float, rollups_before: float) -> tuple[int, int]:
        """Delete raw samples before `raw_before` and rollups of minutes before `rollups_before` (epoch seconds).
        Returns how many of each went."""
        async with self._db.transaction() as conn:
            raw = await conn.execute("DELETE FROM metric_samples WHERE ts_ms < ?", (round(raw_before * 1000),))
            rollups = await conn.execute("DELETE FROM metric_rollups WHERE minute < ?", (int(rollups_before),))
            return raw.rowcount, rollups.rowcount

    async def counts(self) -> tuple[int, int]:
        """How many raw samples and rollup rows are stored."""
        raw = await self._db.long_reads.fetchone("SELECT COUNT(*) AS n FROM metric_samples")
        rollups = await self._db.long_reads.fetchone("SELECT COUNT(*) AS n FROM metric_rollups")
        return (raw["n"] if raw else 0), (rollups["n"] if rollups else 0)
