"""AuditAppender: appends batches to the hash-chained audit log over a plain sqlite3 connection of its own, and
signs checkpoints of it.

It runs wherever the AuditWriter puts it (on a thread of its own, or in a process of its own), so it is
synchronous and shares nothing with the server's other connections."""

import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from server.storage import audit_checkpoints, database
from server.storage.audit import GENESIS_HASH, ROWS_PER_STATEMENT, AuditRecord, insert_sql, link
from server.storage.audit_keys import AuditKey

log = logging.getLogger(__name__)

_RELINK_ATTEMPTS = 3
DEFAULT_CHECKPOINT_SECONDS = 10.0


class AuditAppender:
    def __init__(
        self, path: Path | str, key: AuditKey | None = None, *, checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS
    ) -> None:
        # The server's Database made the file, its schema and WAL mode before any appender opens it.
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute(f"PRAGMA busy_timeout={database.BUSY_TIMEOUT_MS}")
        # FULL: a committed entry (a command's) survives power loss, not only a crash.
        self._conn.execute("PRAGMA synchronous=FULL")
        # (entry id, hash) of the newest entry, as far as this appender knows.
        self._head: tuple[int, str] | None = None
        self._key = key
        self._head_file = audit_checkpoints.head_file_for(Path(path))
        self._checkpoint_seconds = checkpoint_seconds
        self._last_checkpoint = time.monotonic()
        self._refused = ""  # the last CheckpointRefused logged

    def append(self, records: Sequence[AuditRecord]) -> None:
        """Link a batch onto the head of the chain and insert it, one statement per ROWS_PER_STATEMENT rows,
        each atomic on its own. The head is kept in memory; the entry id primary key turns an append by anyone
        else since it was read into a constraint error, on which the head is read again and the rows relinked.
        The caller runs checkpoint_if_due() once the batch's waiters have their answer."""
        for start in range(0, len(records), ROWS_PER_STATEMENT):
            self._append(records[start : start + ROWS_PER_STATEMENT])

    def checkpoint_if_due(self) -> None:
        """Sign a checkpoint if checkpoint_seconds have passed since the last. Never raises: the batches are
        committed whatever happens here, so a failure is logged, not reported."""
        if time.monotonic() - self._last_checkpoint >= self._checkpoint_seconds:
            self._checkpoint_quietly()

    def checkpoint(self) -> None:
        """Sign the log's head now (if it moved since the last checkpoint)."""
        if self._key is not None:
            self._last_checkpoint = time.monotonic()
            audit_checkpoints.write_checkpoint(self._conn, self._key, self._head_file)

    def prune(self, before: float) -> int:
        """Delete the entries made before `before` (seconds since the epoch), signing a checkpoint at the cut."""
        if self._key is None:
            raise RuntimeError("pruning needs the audit key: it signs a checkpoint at the cut")
        return audit_checkpoints.prune(self._conn, self._key, before, self._head_file)

    def _checkpoint_quietly(self) -> None:
        # The batch is committed whatever happens here: a checkpoint that fails is logged, not the batch's error.
        try:
            self.checkpoint()
        except audit_checkpoints.CheckpointRefused as exc:
            if str(exc) != self._refused:  # the same alarm every interval would bury everything else
                self._refused = str(exc)
                log.error("%s", exc)
        except Exception:
            log.exception("cannot sign an audit checkpoint")

    def _append(self, records: Sequence[AuditRecord]) -> None:
        for _ in range(_RELINK_ATTEMPTS):
            if self._head is None:
                self._head = self._read_head()
            head = self._head
            values, new_head = link(records, head)
            try:
                self._conn.execute(insert_sql(len(records)), values)
            except sqlite3.IntegrityError:
                self._head = self._read_head()
                if self._head == head:
                    raise  # not a moved head: the rows themselves are refused
                continue
            self._head = new_head
            return
        raise sqlite3.IntegrityError(f"audit head kept moving; {len(records)} entries not written")

    def _read_head(self) -> tuple[int, str]:
        # Outside any transaction: the read sees every commit so far, whoever made it.
        row = self._conn.execute("SELECT entry_id, hash FROM audit_log ORDER BY entry_id DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else (0, GENESIS_HASH)

    def close(self) -> None:
        """Sign what was written last (so a clean stop leaves nothing unsigned), then close."""
        try:
            self._checkpoint_quietly()
        finally:
            self._conn.close()
