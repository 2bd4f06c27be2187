"""AuditTrail: records every ops interaction in the hash-chained log.

State-changing actions wait until their entry is committed (durable before the response); reads are queued and
committed in batches by one writer task, so the hot path never waits on a disk sync per request. The single
writer also keeps the chain in order."""

import asyncio
import contextlib
import logging
from collections import deque

from server.storage.audit import AuditRecord, AuditRepository, AuditRow
from server.storage.audit_writer import AuditWriteFailed, AuditWriter

log = logging.getLogger(__name__)

# (record, future): a None record is a flush marker; a None future means nobody waits.
_Queued = tuple[AuditRecord | None, asyncio.Future[None] | None]


class AuditTrail:
    def __init__(
        self, writer: AuditWriter, repository: AuditRepository, *, batch_rows: int = 200, batch_ms: int = 20
    ) -> None:
        self._writer = writer
        self._repository = repository  # for reading the log back
        self._batch_rows = batch_rows
        self._batch_seconds = batch_ms / 1000
        # A plain deque and two events rather than an asyncio.Queue: queuing a read is on every request's path.
        self._pending: deque[_Queued] = deque()
        self._queued = asyncio.Event()  # something is pending
        self._waited = 0  # pending entries someone awaits
        self._waited_queued = asyncio.Event()  # one was queued: end the batch window now
        self._write_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._writer.start()
        self._write_task = asyncio.create_task(self._write_loop(), name="audit-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop the writer (also when that last write fails)."""
        try:
            await self.flush()
        finally:
            if self._write_task is not None:
                self._write_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._write_task
                self._write_task = None
            await self._writer.stop()

    def record(self, record: AuditRecord) -> None:
        """Queue an entry to be committed with the next batch; nobody waits for it."""
        self._pending.append((record, None))
        self._queued.set()

    async def record_durable(self, record: AuditRecord) -> None:
        """Queue an entry and return once it is committed."""
        await self._queue_waited(record)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        if self._write_task is None or self._write_task.done():
            await self._drain_inline()
            return
        # An empty-batch marker: when it resolves, every entry queued before it has been committed.
        await self._queue_waited(None)

    def _queue_waited(self, record: AuditRecord | None) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        self._waited += 1
        self._queued.set()
        self._waited_queued.set()
        return future

    async def recent(self, limit: int, *, words: list[str] | None = None, changes_only: bool = False) -> list[AuditRow]:
        await self.flush()
        return await self._repository.recent(limit, words=words, changes_only=changes_only)

    async def _write_loop(self) -> None:
        while True:
            await self._queued.wait()
            if len(self._pending) < self._batch_rows and not self._waited:
                # Nobody waits on what is pending and the batch is not full: give the window time to fill it, but
                # end the window as soon as an entry someone awaits is queued (a command must not sit out a read's).
                self._waited_queued.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._waited_queued.wait(), self._batch_seconds)
            await self._commit(self._take_batch())

    async def _drain_inline(self) -> None:
        while self._pending:
            await self._commit(self._take_batch())

    def _take_batch(self) -> list[_Queued]:
        """Up to batch_rows pending entries, oldest first."""
        pending = self._pending
        batch = [pending.popleft() for _ in range(min(len(pending), self._batch_rows))]
        if not pending:
            self._queued.clear()
        return batch

    async def _commit(self, batch: list[_Queued]) -> None:
        records, futures = [], []
        for record, future in batch:
            if record is not None:
                records.append(record)
            if future is not None:
                futures.append(future)
        self._waited -= len(futures)
        error: BaseException | None = None
        try:
            if records:
                await self._writer.append(records)
        except Exception as exc:  # the writer must survive a failed batch and report it to the waiters
            log.exception("audit batch of %d entries failed", len(records))
            error = exc
        except asyncio.CancelledError:
            # Stopped mid-batch: whether it was committed is unknown, and its waiters must not hang on it.
            error = AuditWriteFailed("the audit trail stopped before this entry was confirmed")
            raise
        finally:
            for future in futures:
                if not future.done():
                    if error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(error)
