"""Verifying the audit log: the hash chain entry by entry, the signed checkpoints over it, and the head file that
keeps the newest checkpoint outside the database. Names the first thing that does not hold.

What it catches: an entry edited, inserted or deleted anywhere (the chain); a chain rewritten with every later
hash recomputed (it no longer matches a signed checkpoint's head hash); the newest entries deleted (fewer than
the newest checkpoint signed); the newest entries and checkpoints deleted together (the head file still holds
the newest); a checkpoint forged, altered or removed from the middle (signatures, and each one chaining onto the
signature before it); the oldest entries deleted outside a prune (the log must start where the newest
checkpoint says). What it cannot catch: entries deleted from the newest end before any checkpoint signed them
(at most the checkpoint interval's reads; a command's entries are signed once the log is quiet for a tenth of a
second), and the database and the head file rolled back together to an older copy of both: keep checkpoints
elsewhere too for that."""

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from server.storage.audit import GENESIS_HASH, canonical_entry, chain_hash, detail_json, row_record
from server.storage.audit_checkpoints import Checkpoint, checkpoints, read_head_file
from server.storage.audit_keys import AuditKey


@dataclass(frozen=True)
class ChainBreak:
    entry_id: int
    reason: str


@dataclass(frozen=True)
class Verification:
    checked: int  # entries that hold
    broken: ChainBreak | None  # the first thing that does not
    checkpoints: int  # signed checkpoints found
    signatures_checked: bool  # False without the key: the checkpoints were taken as they are
    unsigned: int  # entries newer than the newest checkpoint: their deletion would go unnoticed


def verify_file(database: Path, key: AuditKey | None, head_file: Path) -> Verification:
    """Verify the log in `database` (opened read-only, one snapshot)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.row_factory = sqlite3.Row
        conn.execute("BEGIN")
        return verify_log(conn, key, head_file)
    finally:
        conn.close()


def verify_log(conn: sqlite3.Connection, key: AuditKey | None, head_file: Path) -> Verification:
    signed = checkpoints(conn)
    newest = signed[-1] if signed else None
    checked = 0
    broken = _check_checkpoints(signed, key) or _check_head_file(head_file, signed, key)
    if broken is None:
        checked, broken = _walk(conn, signed)
    unsigned = max(0, checked - (newest.entry_count if newest else 0)) if broken is None else 0
    return Verification(checked, broken, len(signed), key is not None, unsigned)


def _check_checkpoints(signed: list[Checkpoint], key: AuditKey | None) -> ChainBreak | None:
    before: Checkpoint | None = None
    for checkpoint in signed:
        where = checkpoint.entry_id
        if key is not None and checkpoint.key_id != key.key_id:
            return ChainBreak(where, f"checkpoint {checkpoint.checkpoint_id} was signed with another key")
        if key is not None and not checkpoint.signed_by(key):
            return ChainBreak(
                where, f"checkpoint {checkpoint.checkpoint_id}'s signature does not match: it was altered or forged"
            )
        if checkpoint.entry_count != checkpoint.entry_id - checkpoint.first_entry_id + 1:
            return ChainBreak(where, f"checkpoint {checkpoint.checkpoint_id} counts its entries wrongly")
        if before is not None:
            if checkpoint.prev_signature != before.signature:
                return ChainBreak(where, f"the checkpoint before checkpoint {checkpoint.checkpoint_id} is missing")
            if checkpoint.entry_id < before.entry_id or checkpoint.first_entry_id < before.first_entry_id:
                return ChainBreak(where, f"checkpoint {checkpoint.checkpoint_id} goes back on the one before it")
        before = checkpoint
    return None


def _check_head_file(head_file: Path, signed: list[Checkpoint], key: AuditKey | None) -> ChainBreak | None:
    try:
        head = read_head_file(head_file)
    except ValueError as exc:
        return ChainBreak(signed[-1].entry_id if signed else 1, str(exc))
    if head is None:
        if signed:
            return ChainBreak(signed[-1].entry_id, f"{head_file.name}, the newest checkpoint's copy, is missing")
        return None
    if key is not None and not head.signed_by(key):
        return ChainBreak(head.entry_id, f"{head_file.name}'s signature does not match: it was altered or forged")
    same = next((c for c in signed if c.checkpoint_id == head.checkpoint_id), None)
    if same is None or same.signature != head.signature:
        return ChainBreak(
            head.entry_id,
            f"checkpoint {head.checkpoint_id} (entries up to {head.entry_id}, signed at {head.at}) is in "
            f"{head_file.name} but not in the database: entries and checkpoints were deleted or rolled back",
        )
    return None


def _walk(conn: sqlite3.Connection, signed: list[Checkpoint]) -> tuple[int, ChainBreak | None]:
    """Walk the entries from where the newest checkpoint says the log starts (entry 1 without checkpoints)."""
    newest = signed[-1] if signed else None
    expected_id, prev_hash = (newest.first_entry_id, newest.first_prev_hash) if newest else (1, GENESIS_HASH)
    pinned = {c.entry_id: c for c in signed}  # head hashes a signature vouches for
    checked = 0
    for raw in conn.execute("SELECT * FROM audit_log ORDER BY entry_id"):
        entry_id = raw["entry_id"]
        if entry_id < expected_id:
            return checked, ChainBreak(
                entry_id, f"entry {entry_id} is older than the signed start of the log (entry {expected_id})"
            )
        if entry_id != expected_id:
            return checked, ChainBreak(expected_id, f"entry {expected_id} is missing")
        if raw["prev_hash"] != prev_hash:
            return checked, ChainBreak(entry_id, "prev_hash does not match the previous entry's hash")
        problem = _entry_problem(raw, prev_hash)
        if problem is not None:
            return checked, ChainBreak(entry_id, problem)
        checkpoint = pinned.get(entry_id)
        if checkpoint is not None and checkpoint.entry_hash != raw["hash"]:
            return checked, ChainBreak(
                entry_id,
                f"the entry's hash is not the one checkpoint {checkpoint.checkpoint_id} signed: history was rewritten",
            )
        prev_hash = raw["hash"]
        expected_id += 1
        checked += 1
    if newest is not None and expected_id <= newest.entry_id:
        return checked, ChainBreak(
            expected_id,
            f"entries {expected_id} to {newest.entry_id} are missing: checkpoint {newest.checkpoint_id} "
            f"(signed at {newest.at}) covers them",
        )
    return checked, None


def _entry_problem(raw: sqlite3.Row, prev_hash: str) -> str | None:
    try:
        # A tampered `at` or `detail` may not even parse: that is a broken entry, not a crash.
        record = row_record(raw)
        digest = chain_hash(prev_hash, canonical_entry(raw["entry_id"], record, at=raw["at"]))
    except (TypeError, ValueError) as exc:
        return f"entry cannot be read: {exc}"
    # The hash covers values; the stored texts must be exactly those values' canonical text as well, so no edit
    # hides behind a text that reads back the same ("{ }" for "{}", a space for the "T" of a time).
    if raw["detail"] != detail_json(record.detail) or not _canonical_time(raw["at"]):
        return "contents are not stored as written"
    if digest != raw["hash"]:
        return "contents do not match the entry's hash"
    return None


def _canonical_time(text: str) -> bool:
    at = datetime.fromisoformat(text)
    return (
        at.utcoffset() is not None
        and not at.utcoffset()
        and at.astimezone(UTC).isoformat(timespec="microseconds") == text
    )
