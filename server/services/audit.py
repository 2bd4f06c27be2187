"""AuditTrail: records every ops interaction in the hash-chained log.

State-changing actions wait until their entry is committed (durable before the response); reads are queued and
committed in batches by one writer task, so the hot path never waits on a disk sync per request. The single
writer also keeps the chain in order."""

import asyncio
import contextlib
import logging

from server.storage.audit import AuditRecord, AuditRepository, AuditRow

log = logging.getLogger(__name__)

# (record, future): a None record is a flush marker; a None future means nobody waits.
_Queued = tuple[AuditRecord | None, asyncio.Future[None] | None]


class AuditTrail:
    def __init__(self, repository: AuditRepository, *, batch_rows: int = 50, batch_ms: int = 20) -> None:
        self._repository = repository
        self._batch_rows = batch_rows
        self._batch_seconds = batch_ms / 1000
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        # Queued entries someone awaits, and a wake-up for the writer when one is queued during a batch window.
        self._waited = 0
        self._waited_queued = asyncio.Event()

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="audit-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop the writer."""
        await self.flush()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None

    def record(self, record: AuditRecord) -> None:
        """Queue an entry to be committed with the next batch; nobody waits for it."""
        self._queue.put_nowait((record, None))

    async def record_durable(self, record: AuditRecord) -> None:
        """Queue an entry and return once it is committed."""
        await self._queue_waited(record)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        if self._writer is None or self._writer.done():
            await self._drain_inline()
            return
        await self._await_marker()

    async def _await_marker(self) -> None:
        # An empty-batch marker: when it resolves, every entry queued before it has been committed.
        await self._queue_waited(None)

    def _queue_waited(self, record: AuditRecord | None) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((record, future))
        self._waited += 1
        self._waited_queued.set()
        return future

    async def recent(self, limit: int, *, words: list[str] | None = None, changes_only: bool = False) -> list[AuditRow]:
        await self.flush()
        return await self._repository.recent(limit, words=words, changes_only=changes_only)

    async def _write_loop(self) -> None:
        while True:
            first = await self._queue.get()
            if first[1] is None and self._queue.qsize() < self._batch_rows - 1 and not self._waited:
                # Nobody waits on this entry and the batch is not full: give the window time to fill it, but end
                # the window as soon as an entry someone awaits is queued (a command must not sit out a read's).
                self._waited_queued.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._waited_queued.wait(), self._batch_seconds)
            await self._commit(self._take_batch([first]))

    async def _drain_inline(self) -> None:
        while not self._queue.empty():
            await self._commit(self._take_batch([]))

    def _take_batch(self, batch: list[_Queued]) -> list[_Queued]:
        """Fill `batch` from the queue, up to batch_rows, without waiting."""
        while not self._queue.empty() and len(batch) < self._batch_rows:
            batch.append(self._queue.get_nowait())
        return batch

    async def _commit(self, batch: list[_Queued]) -> None:
        records = [record for record, _ in batch if record is not None]
        self._waited -= sum(1 for _, future in batch if future is not None)
        error: BaseException | None = None
        try:
            if records:
                await self._repository.append_batch(records)
        except Exception as exc:  # the writer must survive a failed batch and report it to the waiters
            log.exception("audit batch of %d entries failed", len(records))
            error = exc
        for _, future in batch:
            if future is not None and not future.done():
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)
