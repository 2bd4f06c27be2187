"""RunLog: one run's log lines, kept in memory for its answer and written to storage as they come (in small
batches, a few times a second), so `GET /api/ops/runbooks/{request_id}` on any replica tails a running script."""

import asyncio
import contextlib
from datetime import datetime

from server.clock import Clock
from server.storage.runbooks import RunbookRepository
from shared.runbooks import LogLevel, LogLine

FLUSH_SECONDS = 0.25


class RunLog:
    def __init__(
        self,
        repository: RunbookRepository,
        run_id: int,
        clock: Clock,
        *,
        max_lines: int = 5000,
        earlier: list[LogLine] | None = None,
    ) -> None:
        """`earlier`: lines of the run already in storage (a run ended by the sweep after its server died)."""
        self._repository = repository
        self._run_id = run_id
        self._clock = clock
        self._max_lines = max_lines
        self.lines: list[LogLine] = list(earlier or [])
        self._written = len(self.lines)
        self._dropped = 0
        self._flusher: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._lock = asyncio.Lock()

    def add(self, level: LogLevel, message: str) -> None:
        # One line short of the cap is kept for saying how many were dropped.
        if len(self.lines) >= self._max_lines - 1:
            self._dropped += 1
            return
        self.lines.append(LogLine(level=level, message=message, at=self._clock.now()))

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_every(), name=f"runbook-log-{self._run_id}")

    async def close(self) -> None:
        """Stop the periodic writes and write what is left (with a line counting the lines dropped)."""
        # Told to stop rather than cancelled: a write cancelled mid-commit could not tell whether it landed.
        self._closing.set()
        if self._flusher is not None:
            await self._flusher
        if self._dropped:
            count, self._dropped = self._dropped, 0
            self.lines.append(
                LogLine(level="WARN", message=f"{count} more lines were dropped (limit {self._max_lines})", at=self.now)
            )
        await self.flush()

    @property
    def now(self) -> datetime:
        return self._clock.now()

    async def flush(self) -> None:
        async with self._lock:
            batch = self.lines[self._written :]
            if not batch:
                return
            await self._repository.append_logs(
                self._run_id, self._written, [(line.at, line.level, line.message) for line in batch]
            )
            self._written += len(batch)

    async def _flush_every(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), FLUSH_SECONDS)
            await self.flush()
