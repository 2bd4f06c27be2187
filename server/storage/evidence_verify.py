"""Verifying the evidence chain end to end (`ops-server evidence verify`): the signed checkpoints (signatures,
each chaining onto the one before), the head file against them, then every row — its id in sequence, its
prev_hash the previous row's hash, its hash over its canonical JSON, its stored text canonical, and at each
checkpoint the hash the checkpoint signed — and finally that no row the newest checkpoint covers is missing.
Names the first thing that does not hold.

An edited row breaks its own hash; a deleted row leaves a gap; a row edited and re-hashed (and every later one
re-chained) no longer matches the hash a checkpoint signed; the newest rows deleted fall short of the newest
checkpoint, and deleted with their checkpoints, of the head file."""

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from server.storage.audit_keys import AuditKey
from server.storage.evidence import (
    CHECKPOINT_COLUMNS,
    EVIDENCE_COLUMNS,
    GENESIS_HASH,
    EvidenceCheckpoint,
    canonical,
    chain_hash,
    checkpoint_of,
    read_head_file,
    refs_json,
    row_of,
)


@dataclass(frozen=True)
class EvidenceBreak:
    evidence_id: int
    reason: str


@dataclass(frozen=True)
class EvidenceVerification:
    checked: int  # rows that hold
    broken: EvidenceBreak | None
    checkpoints: int
    signatures_checked: bool  # False without the key


def verify_evidence_file(database: Path, key: AuditKey | None, head_file: Path) -> EvidenceVerification:
    """Verify the evidence in `database`, opened read-only, in one snapshot."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.row_factory = sqlite3.Row
        conn.execute("BEGIN")
        return verify_evidence(conn, key, head_file)
    finally:
        conn.close()


def verify_evidence(conn: sqlite3.Connection, key: AuditKey | None, head_file: Path) -> EvidenceVerification:
    signed = [
        checkpoint_of(tuple(raw))
        for raw in conn.execute(f"SELECT {CHECKPOINT_COLUMNS} FROM agent_evidence_checkpoints ORDER BY checkpoint_id")
    ]
    broken = _check_checkpoints(signed, key) or _check_head_file(head_file, signed, key)
    checked = 0
    if broken is None:
        checked, broken = _walk(conn, signed)
    return EvidenceVerification(checked, broken, len(signed), key is not None)


def _check_checkpoints(signed: list[EvidenceCheckpoint], key: AuditKey | None) -> EvidenceBreak | None:
    before: EvidenceCheckpoint | None = None
    for checkpoint in signed:
        where = checkpoint.evidence_id
        if key is not None and not checkpoint.signed_by(key):
            return EvidenceBreak(where, f"checkpoint {checkpoint.checkpoint_id}'s signature does not match")
        if checkpoint.evidence_count != checkpoint.evidence_id:
            return EvidenceBreak(where, f"checkpoint {checkpoint.checkpoint_id} counts its rows wrongly")
        if before is not None:
            if checkpoint.prev_signature != before.signature:
                return EvidenceBreak(where, f"the checkpoint before checkpoint {checkpoint.checkpoint_id} is missing")
            if checkpoint.evidence_id < before.evidence_id:
                return EvidenceBreak(where, f"checkpoint {checkpoint.checkpoint_id} goes back on the one before it")
        before = checkpoint
    return None


def _check_head_file(head_file: Path, signed: list[EvidenceCheckpoint], key: AuditKey | None) -> EvidenceBreak | None:
    try:
        head = read_head_file(head_file)
    except ValueError as exc:
        return EvidenceBreak(signed[-1].evidence_id if signed else 1, str(exc))
    if head is None:
        if signed:
            return EvidenceBreak(signed[-1].evidence_id, f"{head_file.name}, the newest checkpoint's copy, is missing")
        return None
    if key is not None and not head.signed_by(key):
        return EvidenceBreak(head.evidence_id, f"{head_file.name}'s signature does not match")
    same = next((c for c in signed if c.checkpoint_id == head.checkpoint_id), None)
    if same is None or same.signature != head.signature:
        return EvidenceBreak(
            head.evidence_id,
            f"checkpoint {head.checkpoint_id} (rows up to {head.evidence_id}) is in {head_file.name} but not in "
            "the database: rows and checkpoints were deleted or rolled back",
        )
    return None


def _walk(conn: sqlite3.Connection, signed: list[EvidenceCheckpoint]) -> tuple[int, EvidenceBreak | None]:
    pinned = {c.evidence_id: c for c in signed}
    expected, prev_hash, checked = 1, GENESIS_HASH, 0
    for raw in conn.execute(f"SELECT {EVIDENCE_COLUMNS} FROM agent_evidence ORDER BY evidence_id"):
        evidence_id = raw["evidence_id"]
        if evidence_id != expected:
            return checked, EvidenceBreak(expected, f"evidence {expected} is missing")
        if raw["prev_hash"] != prev_hash:
            return checked, EvidenceBreak(evidence_id, "prev_hash does not match the previous row's hash")
        try:
            row = row_of(raw)
        except (TypeError, ValueError) as exc:
            return checked, EvidenceBreak(evidence_id, f"the row cannot be read: {exc}")
        if raw["resource_refs"] != refs_json(row.resource_refs):
            return checked, EvidenceBreak(evidence_id, "contents are not stored as written")
        if chain_hash(prev_hash, canonical(row)) != row.hash:
            return checked, EvidenceBreak(evidence_id, "contents do not match the row's hash")
        checkpoint = pinned.get(evidence_id)
        if checkpoint is not None and checkpoint.evidence_hash != row.hash:
            return checked, EvidenceBreak(
                evidence_id,
                f"the row's hash is not the one checkpoint {checkpoint.checkpoint_id} signed: history was rewritten",
            )
        prev_hash, expected, checked = row.hash, expected + 1, checked + 1
    newest = signed[-1] if signed else None
    if newest is not None and expected <= newest.evidence_id:
        return checked, EvidenceBreak(
            expected,
            f"evidence {expected} to {newest.evidence_id} is missing: checkpoint {newest.checkpoint_id} covers it",
        )
    return checked, None
