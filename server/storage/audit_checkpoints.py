"""Signed checkpoints of the audit log, as CloudTrail's digest files are: each records where the retained log
starts, its head (entry id and hash) and how many entries it holds, signed with HMAC-SHA256 under a key that is
not in the database, and chained to the checkpoint before it by that one's signature.

A rewrite of history (an entry edited and every later hash recomputed) no longer matches a signed head hash, and
rows or checkpoints deleted from the newest end fall short of the newest checkpoint. That one is also kept
outside the database, in the head file beside it (`audit-head.json`, 0600), so deleting the newest entries AND
the newest checkpoints still leaves a signed record of what was there.

Synchronous, on a plain sqlite3 connection in autocommit mode: the audit writer (a process or a thread of its
own) and the CLI call these."""

import json
import logging
import os
import secrets
import sqlite3
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from server.storage.audit import format_timestamp
from server.storage.audit_keys import AuditKey
from server.storage.database import PRIVATE_FILE_MODE

log = logging.getLogger(__name__)

HEAD_FILE_NAME = "audit-head.json"
_SIGNED_AS = "ops-audit-checkpoint/1\n"  # what a signature covers starts with this: it signs nothing else


@dataclass(frozen=True)
class Checkpoint:
    checkpoint_id: int
    at: str
    first_entry_id: int  # the oldest entry kept (1 until a prune)
    first_prev_hash: str  # that entry's prev_hash: the hash of the last entry pruned, or the genesis hash
    entry_id: int  # the head: the newest entry when the checkpoint was made
    entry_hash: str
    entry_count: int
    prev_signature: str  # the signature of the checkpoint before this one ("" for the first)
    key_id: str
    signature: str = ""

    def signed_text(self) -> str:
        fields = asdict(self)
        del fields["signature"]
        return _SIGNED_AS + json.dumps(fields, sort_keys=True, separators=(",", ":"))

    def signed_by(self, key: AuditKey) -> bool:
        return self.key_id == key.key_id and key.signed(self.signed_text(), self.signature)


class CheckpointRefused(Exception):
    """The head file holds a signed checkpoint the database no longer has: history was rolled back."""


def head_file_for(database: Path) -> Path:
    return database.with_name(HEAD_FILE_NAME)


def checkpoints(conn: sqlite3.Connection) -> list[Checkpoint]:
    return [_checkpoint(row) for row in conn.execute(f"{_SELECT} ORDER BY checkpoint_id")]


def latest_checkpoint(conn: sqlite3.Connection) -> Checkpoint | None:
    row = conn.execute(f"{_SELECT} ORDER BY checkpoint_id DESC LIMIT 1").fetchone()
    return _checkpoint(row) if row else None


def read_head_file(path: Path) -> Checkpoint | None:
    """The checkpoint in the head file; None when there is no file. ValueError when it does not parse."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return Checkpoint(**json.loads(text))
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name} does not hold a checkpoint: {exc}") from None


def write_checkpoint(conn: sqlite3.Connection, key: AuditKey, head_file: Path) -> Checkpoint | None:
    """Sign the log as it is now, unless the newest checkpoint says so already. Returns the new checkpoint.
    Raises CheckpointRefused (after committing the checkpoint to the database, but leaving the head file as it
    is, the evidence) when the head file names a checkpoint the database lost."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        span = _span(conn)
        last = latest_checkpoint(conn)
        if span is None or (last is not None and _covers(last, span)):
            conn.execute("ROLLBACK")
            return None
        checkpoint = _insert(conn, key, span, last)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    _update_head_file(conn, head_file, checkpoint)
    return checkpoint


PRUNE_BATCH = 10_000


def prune(
    conn: sqlite3.Connection, key: AuditKey, before: float, head_file: Path, *, at_most: int = PRUNE_BATCH
) -> int:
    """Delete the entries made before `before` (seconds since the epoch) — up to the first entry made at or after
    it, and never the newest entry, which carries the chain on — and sign a checkpoint at the cut, so the log
    still verifies from there. At most `at_most` of them, the oldest, in one transaction: appends wait for it.
    Returns how many entries were deleted (call again while that is `at_most`)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        span = _span(conn)
        if span is None:
            conn.execute("ROLLBACK")
            return 0
        first_id, _, head_id, _ = span
        # Entries are stored in the order they were made: walk from the oldest to the first one to keep.
        kept = conn.execute(
            "SELECT entry_id FROM audit_log WHERE at >= ? ORDER BY entry_id LIMIT 1", (format_timestamp(before),)
        ).fetchone()
        cut = min(kept[0] if kept else head_id, head_id, first_id + at_most) - 1
        if cut < first_id:
            conn.execute("ROLLBACK")
            return 0
        cut_hash = conn.execute("SELECT hash FROM audit_log WHERE entry_id = ?", (cut,)).fetchone()[0]
        last = latest_checkpoint(conn)
        deleted = conn.execute("DELETE FROM audit_log WHERE entry_id <= ?", (cut,)).rowcount
        # Checkpoints of entries now gone go too, except the newest: the next one chains onto it.
        conn.execute(
            "DELETE FROM audit_checkpoints WHERE entry_id <= ? AND checkpoint_id < ?",
            (cut, last.checkpoint_id if last else 0),
        )
        checkpoint = _insert(conn, key, (cut + 1, cut_hash, *span[2:]), last)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    _update_head_file(conn, head_file, checkpoint)
    return deleted


_SELECT = (
    "SELECT checkpoint_id, at, first_entry_id, first_prev_hash, entry_id, entry_hash, entry_count, prev_signature, "
    "key_id, signature FROM audit_checkpoints"
)

_Span = tuple[int, str, int, str]  # first entry id, its prev_hash, head entry id, its hash


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(*row)


def _span(conn: sqlite3.Connection) -> _Span | None:
    head = conn.execute("SELECT entry_id, hash FROM audit_log ORDER BY entry_id DESC LIMIT 1").fetchone()
    if head is None:
        return None
    first = conn.execute("SELECT entry_id, prev_hash FROM audit_log ORDER BY entry_id LIMIT 1").fetchone()
    return first[0], first[1], head[0], head[1]


def _covers(checkpoint: Checkpoint, span: _Span) -> bool:
    return (
        checkpoint.first_entry_id,
        checkpoint.first_prev_hash,
        checkpoint.entry_id,
        checkpoint.entry_hash,
    ) == span


def _insert(conn: sqlite3.Connection, key: AuditKey, span: _Span, last: Checkpoint | None) -> Checkpoint:
    first_id, first_prev_hash, head_id, head_hash = span
    unsigned = Checkpoint(
        checkpoint_id=(last.checkpoint_id if last else 0) + 1,
        at=format_timestamp(time.time()),
        first_entry_id=first_id,
        first_prev_hash=first_prev_hash,
        entry_id=head_id,
        entry_hash=head_hash,
        entry_count=head_id - first_id + 1,  # a claim verify holds the rows to
        prev_signature=last.signature if last else "",
        key_id=key.key_id,
    )
    checkpoint = replace(unsigned, signature=key.sign(unsigned.signed_text()))
    conn.execute(
        "INSERT INTO audit_checkpoints (checkpoint_id, at, first_entry_id, first_prev_hash, entry_id, entry_hash, "
        "entry_count, prev_signature, key_id, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        tuple(asdict(checkpoint).values()),
    )
    return checkpoint


def _update_head_file(conn: sqlite3.Connection, path: Path, checkpoint: Checkpoint) -> None:
    """Replace the head file with `checkpoint`, unless the one there is missing from the database (history was
    rolled back behind the writer's back: keep the evidence for verify, and say so)."""
    try:
        current = read_head_file(path)
    except ValueError:
        current = None  # unreadable: verify reports the file as it finds it; a new one is no worse
    if current is None and checkpoint.prev_signature:
        # There were checkpoints, so there was a head file. Write it anew (refusing would only stop signing), but
        # leave a record outside the database that it had gone.
        log.error(
            "%s was missing although checkpoints exist: written anew from the database. If no one removed it, the "
            "newest audit entries and checkpoints may have been deleted with it",
            path,
        )
    if current is not None:
        row = conn.execute(f"{_SELECT} WHERE checkpoint_id = ?", (current.checkpoint_id,)).fetchone()
        if row is None or _checkpoint(row).signature != current.signature:
            raise CheckpointRefused(
                f"{path.name} holds checkpoint {current.checkpoint_id}, which the database no longer has: the audit "
                "log was rolled back; run 'ops-server audit verify'"
            )
        if current.checkpoint_id >= checkpoint.checkpoint_id:
            return  # another writer on the same file put a newer one there
    _write_private_atomically(path, json.dumps(asdict(checkpoint), sort_keys=True, indent=1) + "\n")


def _write_private_atomically(path: Path, text: str) -> None:
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    with open(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE), "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(draft, path)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")
