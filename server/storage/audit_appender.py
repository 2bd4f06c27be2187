"""AuditAppender: appends batches to the hash-chained audit log over a plain sqlite3 connection of its own.

It runs wherever the AuditWriter puts it (on a thread of its own, or in a process of its own), so it is
synchronous and shares nothing with the server's other connections."""

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from server.storage.audit import GENESIS_HASH, ROWS_PER_STATEMENT, AuditRecord, insert_sql, link

_RELINK_ATTEMPTS = 3


class AuditAppender:
    def __init__(self, path: Path | str) -> None:
        # The server's Database made the file, its schema and WAL mode before any appender opens it.
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=5000")
        # FULL: a committed entry (a command's) survives power loss, not only a crash.
        self._conn.execute("PRAGMA synchronous=FULL")
        # (entry id, hash) of the newest entry, as far as this appender knows.
        self._head: tuple[int, str] | None = None

    def append(self, records: Sequence[AuditRecord]) -> None:
        """Link a batch onto the head of the chain and insert it, one statement per ROWS_PER_STATEMENT rows,
        each atomic on its own. The head is kept in memory; the entry id primary key turns an append by anyone
        else since it was read into a constraint error, on which the head is read again and the rows relinked."""
        for start in range(0, len(records), ROWS_PER_STATEMENT):
            self._append(records[start : start + ROWS_PER_STATEMENT])

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
        self._conn.close()
