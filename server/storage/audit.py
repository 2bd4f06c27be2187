"""The audit log's entries: how each is hashed and linked into the chain, and AuditRepository, which pages and
searches the log. (Appending is the AuditAppender's; verifying the chain is audit_verify's.)"""

import asyncio
import functools
import hashlib
import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from server.errors import DataCorrupted
from server.storage.database import Database

if TYPE_CHECKING:
    from server.storage.audit_keys import AuditKey
    from server.storage.audit_verify import ChainBreak

GENESIS_HASH = "0" * 64
READ_METHODS = ("GET", "HEAD", "OPTIONS")
_COLUMNS = 13
# SQLite before 3.32 binds at most 999 variables to a statement, later ones 32766: a batch larger than one
# statement takes (a full batch of the default 200 rows never does).
ROWS_PER_STATEMENT = (32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999) // _COLUMNS
_NOT_A_READ = "method NOT IN ('GET', 'HEAD', 'OPTIONS')"  # the very text of the audit_log_changes index's WHERE
# What the search index's tokenizer (unicode61) takes as part of a word: letters and digits. The rest separates.
_SEPARATORS = re.compile(r"[\W_]+")


class AuditRecord(NamedTuple):
    """One ops interaction, before it has a place in the chain. (A NamedTuple: immutable, and sent to the
    writer process as a plain tuple.)"""

    at: float  # seconds since the epoch: cheaper to take on every request, and to send, than a datetime
    principal: str | None
    request_id: str
    method: str
    path: str
    action: str
    target: str | None
    outcome: str
    status: int
    detail: dict[str, Any]


@dataclass(frozen=True)
class AuditRow:
    entry_id: int
    at: datetime  # as stored, to the microsecond (record.at is the same moment as a float)
    record: AuditRecord
    prev_hash: str
    hash: str


def detail_json(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"))


def format_timestamp(at: float) -> str:
    """How an entry's time is stored (and hashed)."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds")


def canonical_entry(entry_id: int, record: AuditRecord, *, at: str | None = None) -> str:
    """The text an entry's hash covers: the entry as compact JSON with sorted keys. (The same text, byte for
    byte, as the hand-written encoder of earlier versions wrote, so their databases verify unchanged.) `at` is
    the time as stored, when the caller has it."""
    if type(record.status) is not int:  # a status of 401.5 or "401" read back from a tampered row is no int
        raise TypeError(f"an audit status must be an int, not {record.status!r}")
    return json.dumps(
        {
            "action": record.action,
            "at": format_timestamp(record.at) if at is None else at,
            "detail": record.detail,
            "entry_id": entry_id,
            "method": record.method,
            "outcome": record.outcome,
            "path": record.path,
            "principal": record.principal,
            "request_id": record.request_id,
            "status": record.status,
            "target": record.target,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def link(records: Sequence[AuditRecord], head: tuple[int, str]) -> tuple[list[Any], tuple[int, str]]:
    """The insert parameters of `records` chained onto `head`, and the head after them."""
    last_id, prev_hash = head
    values: list[Any] = []
    for record in records:
        last_id += 1
        digest = chain_hash(prev_hash, canonical_entry(last_id, record))
        values += (
            last_id,
            format_timestamp(record.at),
            record.principal,
            record.request_id,
            record.method,
            record.path,
            record.action,
            record.target,
            record.outcome,
            record.status,
            detail_json(record.detail),
            prev_hash,
            digest,
        )
        prev_hash = digest
    return values, (last_id, prev_hash)


@functools.cache
def insert_sql(rows: int) -> str:
    # One multi-row INSERT rather than executemany: one statement, one step, per batch.
    return (
        "INSERT INTO audit_log (entry_id, at, principal, request_id, method, path, action, target, outcome, "
        "status, detail, prev_hash, hash) VALUES " + ", ".join(["(" + ", ".join("?" * _COLUMNS) + ")"] * rows)
    )


def row_record(row: sqlite3.Row) -> AuditRecord:
    """The record a stored row holds. Raises ValueError or TypeError when a column does not parse."""
    return AuditRecord(
        at=datetime.fromisoformat(row["at"]).timestamp(),
        principal=row["principal"],
        request_id=row["request_id"],
        method=row["method"],
        path=row["path"],
        action=row["action"],
        target=row["target"],
        outcome=row["outcome"],
        status=row["status"],
        detail=json.loads(row["detail"]),
    )


def search_expression(words: Sequence[str]) -> str | None:
    """An FTS5 query that every word must match: each word a phrase of its tokens (whole words, any case), the
    last token of the last word also the start of one, as when typing ("connector maint" finds "maintenance").
    Prefixes only there: a prefix is looked up by merging every indexed word it starts, tens of times the cost
    of a whole word on a big log. None when no word has a letter or digit: such a query would match nothing,
    and callers must say so rather than list the whole log."""
    phrases = [f'"{tokens}"' for word in words if (tokens := _SEPARATORS.sub(" ", word).strip())]
    if not phrases:
        return None
    phrases[-1] += "*"  # separators only inside the quotes: nothing left to escape
    return " AND ".join(phrases)


class AuditRepository:
    """Reads the log a page at a time, newest first, on the database's own connection for long reads: a search
    never holds up the token checks and confirmations on the hot reader."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def page(
        self,
        limit: int,
        *,
        before: int | None = None,
        words: Sequence[str] = (),
        changes_only: bool = False,
    ) -> tuple[list[AuditRow], bool]:
        """Up to `limit` entries older than entry `before` (all when None), newest first, and whether more
        follow. `words` must each match (as search_expression says) the principal, action, target, outcome,
        request id, path or detail; `changes_only` leaves out reads (GET, HEAD, OPTIONS)."""
        params: list[Any] = []
        where: list[str] = []
        if words:
            expression = search_expression(words)
            if expression is None:
                return [], False
            sql = (
                "SELECT audit_log.* FROM audit_search JOIN audit_log ON audit_log.entry_id = audit_search.rowid "
                "WHERE audit_search MATCH ?"
            )
            params.append(expression)
            order_by = "audit_search.rowid"
            if before is not None:
                where.append("audit_search.rowid < ?")
        else:
            sql = "SELECT * FROM audit_log WHERE 1"
            order_by = "entry_id"
            if before is not None:
                where.append("entry_id < ?")
        if before is not None:
            params.append(before)
        if changes_only:
            where.append(_NOT_A_READ)
        for condition in where:
            sql += " AND " + condition
        rows = await self._db.long_reads.fetchall(f"{sql} ORDER BY {order_by} DESC LIMIT ?", (*params, limit + 1))
        return [_audit_row(row) for row in rows[:limit]], len(rows) > limit

    async def verify(
        self, key: "AuditKey | None" = None, head_file: Path | None = None
    ) -> "tuple[int, ChainBreak | None]":
        """How many entries hold and the first broken link, if any: audit_verify.verify_file on a connection of
        its own, off the event loop. The checkpoints' signatures are checked when `key` is given."""
        # Imported here: audit_verify builds on this module.
        from server.storage.audit_checkpoints import head_file_for
        from server.storage.audit_verify import verify_file

        result = await asyncio.to_thread(verify_file, self._db.path, key, head_file or head_file_for(self._db.path))
        return result.checked, result.broken


def _audit_row(row: sqlite3.Row) -> AuditRow:
    try:
        record = row_record(row)
    except (TypeError, ValueError):
        raise DataCorrupted(f"audit entry {row['entry_id']} cannot be read; run 'ops-server audit verify'") from None
    at = datetime.fromisoformat(row["at"])
    return AuditRow(entry_id=row["entry_id"], at=at, record=record, prev_hash=row["prev_hash"], hash=row["hash"])
