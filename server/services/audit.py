"""AuditTrail: records every ops interaction in the hash-chained log.

State-changing actions wait until their entry is committed (durable before the response); reads are queued and
committed in batches by one writer task, so the hot path never waits on a disk sync per request. The single
writer also keeps the chain in order. A committed change is signed by a checkpoint as soon as the log is quiet
for a moment (SIGN_CHANGES_AFTER_SECONDS); reads within the writer's checkpoint interval."""

import asyncio
import base64
import binascii
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from server.errors import FieldError, ValidationFailed
from server.settings import Settings
from server.storage.audit import READ_METHODS, ROWS_PER_STATEMENT, AuditRecord, AuditRepository, AuditRow
from server.storage.audit_keys import load_audit_key
from server.storage.audit_writer import AuditWriteFailed, AuditWriter, audit_write_busy
from server.storage.database import Database

log = logging.getLogger(__name__)

# (record, future, urgent): a None record is a flush marker; a None future means nobody waits; an urgent one ends
# the batch window at once.
_Queued = tuple[AuditRecord | None, asyncio.Future[None] | None, bool]
_CURSOR_PREFIX = "before:"
SIGN_CHANGES_AFTER_SECONDS = 0.1
# A batch that failed because the database was busy (another connection held its lock past the busy timeout) was
# not written at all: its entries nobody awaits (audited reads) are queued again, in front, and tried again after
# this pause. Entries someone awaits fail to their waiters as any failure does (their answers said so).
BUSY_RETRY_SECONDS = 0.2
# At most this many entries nobody awaits are kept queued while the database stays busy; beyond it the oldest go
# (logged, and counted in AuditTrail.dropped_while_busy).
MAX_HELD_WHILE_BUSY = 10_000
# How the audit writer's process reports a busy database as text (server/http/errors.py busy_error reads the same).
@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    next_cursor: str | None  # None on the last page


def encode_cursor(entry_id: int) -> str:
    """An opaque cursor: the page after it starts below `entry_id`. It names a position in the log and nothing
    secret, so it needs no signature: a forged one can only point somewhere else in what the caller may read."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{entry_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The entry id a cursor of encode_cursor() holds; ValidationFailed (a 400) for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if text.startswith(_CURSOR_PREFIX) and text[len(_CURSOR_PREFIX) :].isdigit():
            entry_id = int(text[len(_CURSOR_PREFIX) :])
            if 0 < entry_id < 2**63:
                return entry_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ValidationFailed(
        [
            FieldError(
                "query", ("cursor",), "not a cursor this server gave out; pass next_cursor as it is", "value_error"
            )
        ]
    )


class AuditTrail:
    def __init__(
        self,
        writer: AuditWriter,
        repository: AuditRepository,
        *,
        batch_rows: int = 200,
        batch_ms: int = 20,
        sign_after_seconds: float = SIGN_CHANGES_AFTER_SECONDS,
        max_held_while_busy: int = MAX_HELD_WHILE_BUSY,
    ) -> None:
        self._writer = writer
        self._repository = repository  # for reading the log back
        self._batch_rows = batch_rows
        self._batch_seconds = batch_ms / 1000
        # A plain deque and two events rather than an asyncio.Queue: queuing a read is on every request's path.
        self._pending: deque[_Queued] = deque()
        self._queued = asyncio.Event()  # something is pending
        self._waited = 0  # pending entries someone awaits urgently
        self._waited_queued = asyncio.Event()  # one was queued: end the batch window now
        self._write_task: asyncio.Task[None] | None = None
        # A change (a command's entry) was committed and no checkpoint has signed it yet.
        self._change_unsigned = False
        self._sign_after_seconds = sign_after_seconds
        self._max_held = max_held_while_busy
        self._retry_after_busy = False  # the last batch failed busy and was queued again: pause before the next
        self.dropped_while_busy = 0  # entries nobody awaited, dropped beyond max_held_while_busy

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
            lost = sum(1 for record, _, _ in self._pending if record is not None)
            if lost:
                log.error("the audit trail stopped with %d queued entries not written", lost)
            await self._writer.stop()

    def record(self, record: AuditRecord) -> None:
        """Queue an entry to be committed with the next batch; nobody waits for it."""
        self._pending.append((record, None, False))
        self._queued.set()

    async def record_durable(self, record: AuditRecord) -> None:
        """Queue an entry and return once it is committed."""
        await self._queue_waited(record)

    async def flush(self, *, urgent: bool = True) -> None:
        """Wait until everything queued so far is committed: at once, or (not urgent) with the batch the reads
        queued so far go in anyway, so that many readers of the log share one commit rather than force one each."""
        if self._write_task is None or self._write_task.done():
            await self._drain_inline()
            return
        # An empty-batch marker: when it resolves, every entry queued before it has been committed.
        await self._queue_waited(None, urgent=urgent)

    def _queue_waited(self, record: AuditRecord | None, *, urgent: bool = True) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future, urgent))
        self._queued.set()
        if urgent:
            self._waited += 1
            self._waited_queued.set()
        return future

    async def page(
        self, limit: int, *, cursor: str | None = None, words: Sequence[str] = (), changes_only: bool = False
    ) -> AuditPage:
        """A page of the log, newest first, from `cursor` (the next_cursor of the page before) or the newest
        entry. Everything recorded before the call is on it (or on a later page)."""
        before = decode_cursor(cursor) if cursor is not None else None
        await self.flush(urgent=False)
        rows, more = await self._repository.page(limit, before=before, words=words, changes_only=changes_only)
        return AuditPage(rows, encode_cursor(rows[-1].entry_id) if more and rows else None)

    async def recent(self, limit: int, *, words: Sequence[str] = (), changes_only: bool = False) -> list[AuditRow]:
        """The newest page's entries."""
        return (await self.page(limit, words=words, changes_only=changes_only)).rows

    async def checkpoint(self) -> None:
        """Sign a checkpoint of everything recorded so far."""
        await self.flush()
        self._change_unsigned = False
        await self._writer.checkpoint()

    async def _sign_changes(self) -> None:
        self._change_unsigned = False
        try:
            await self._writer.checkpoint()
        except Exception:  # the entries are committed; the next checkpoint signs them
            log.exception("cannot sign an audit checkpoint")

    async def prune(self, before: float) -> int:
        """Delete the entries made before `before` (seconds since the epoch), keeping the rest verifiable from a
        signed checkpoint at the cut. Returns how many went."""
        await self.flush()
        return await self._writer.prune(before)

    async def _write_loop(self) -> None:
        while True:
            if self._change_unsigned and not self._pending:
                # Sign a committed change once the log is quiet for a moment: a checkpoint costs a commit and a
                # file sync, which a command's next entry (its intent, then its outcome) should not wait behind.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queued.wait(), self._sign_after_seconds)
                if not self._pending:
                    await self._sign_changes()
                    continue
            await self._queued.wait()
            if len(self._pending) < self._batch_rows and not self._waited:
                # Nobody waits on what is pending and the batch is not full: give the window time to fill it, but
                # end the window as soon as an entry someone awaits is queued (a command must not sit out a read's).
                self._waited_queued.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._waited_queued.wait(), self._batch_seconds)
            await self._commit(self._take_batch(), hold_if_busy=True)
            if self._retry_after_busy:
                self._retry_after_busy = False
                await asyncio.sleep(BUSY_RETRY_SECONDS)

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

    async def _commit(self, batch: list[_Queued], *, hold_if_busy: bool = False) -> None:
        records, futures = [], []
        for record, future, urgent in batch:
            if record is not None:
                records.append(record)
            if future is not None:
                futures.append(future)
            self._waited -= urgent
        error: BaseException | None = None
        try:
            if records:
                await self._writer.append(records)
                if any(record.method not in READ_METHODS for record in records):
                    self._change_unsigned = True
        except Exception as exc:  # the writer must survive a failed batch and report it to the waiters
            error = exc
            # Busy is a failure to take the write lock: the appender's INSERT (one statement per ROWS_PER_STATEMENT
            # rows, in autocommit) was refused before it wrote anything. A batch of more than one statement could
            # fail busy after an earlier statement committed, and retrying that would write entries twice.
            if hold_if_busy and audit_write_busy(exc) and len(records) <= ROWS_PER_STATEMENT:
                held: list[_Queued] = [
                    (record, None, False) for record, future, _ in batch if record is not None and future is None
                ]
                log.warning(
                    "audit batch of %d entries failed, the database is busy: %s; %d entries nobody awaits are queued "
                    "again, %d awaited ones failed",
                    len(records),
                    exc,
                    len(held),
                    len(records) - len(held),
                )
                self._hold(held)
            else:
                log.exception("audit batch of %d entries failed", len(records))
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

    def _hold(self, held: list[_Queued]) -> None:
        """Queue `held` (a busy batch's entries nobody awaits) again in front of everything, in their order, for
        the write loop to try again after BUSY_RETRY_SECONDS; keep at most max_held_while_busy entries nobody
        awaits queued, dropping the oldest."""
        self._retry_after_busy = True
        if held:
            self._pending.extendleft(reversed(held))
            self._queued.set()
        excess = sum(1 for record, future, _ in self._pending if record is not None and future is None) - self._max_held
        if excess <= 0:
            return
        self.dropped_while_busy += excess
        log.error(
            "the database stays busy: %d audit entries nobody awaits dropped (more than %d queued); %d so far",
            excess,
            self._max_held,
            self.dropped_while_busy,
        )
        kept: deque[_Queued] = deque()
        for queued in self._pending:
            if excess and queued[0] is not None and queued[1] is None:
                excess -= 1
            else:
                kept.append(queued)
        self._pending = kept


def audit_trail_for(settings: Settings, db: Database) -> AuditTrail:
    """The server's audit trail as its settings say: the writer kind, batching, and the checkpoint signing key
    (OPS_AUDIT_KEY, else the data dir's key file, made now if missing)."""
    key = load_audit_key(
        settings.audit_key.get_secret_value() if settings.audit_key else None, settings.data_dir, create=True
    )
    writer = AuditWriter(
        settings.database_path, settings.audit_writer, key=key, checkpoint_seconds=settings.audit_checkpoint_seconds
    )
    return AuditTrail(
        writer, AuditRepository(db), batch_rows=settings.audit_batch_rows, batch_ms=settings.audit_batch_ms
    )
