"""The governed agents' evidence: one row per action (decision, worker outcome, idempotency key, safe resource
references, latency, redaction status), each with a SHA-256 over its canonical JSON chained to the row before it,
and a checkpoint signed with the audit key (server/storage/audit_keys.py) over the head after every append, as
the audit log's checkpoints are. The newest checkpoint is kept outside the database too, in `evidence-head.json`
beside it, so deleting the newest rows and checkpoints together still shows. server/storage/evidence_verify.py
checks all of it."""

import hashlib
import json
import os
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from server.storage.audit_keys import AuditKey
from server.storage.database import PRIVATE_FILE_MODE, Database

GENESIS_HASH = "0" * 64
HEAD_FILE_NAME = "evidence-head.json"
# What a signature covers starts with this: an evidence checkpoint can never pass for an audit one, or back.
_SIGNED_AS = "ops-evidence-checkpoint/1\n"

EVIDENCE_COLUMNS = (
    "evidence_id, at, agent, action, entry_id, decision, rule, outcome, idempotency_key, resource_refs, latency_us, "
    "redaction_status, prev_hash, hash"
)
CHECKPOINT_COLUMNS = "checkpoint_id, at, evidence_id, evidence_hash, evidence_count, prev_signature, key_id, signature"


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class EvidenceDraft:
    at: datetime
    agent: str
    action: str
    entry_id: int | None
    decision: str | None
    rule: str
    outcome: str
    idempotency_key: str | None
    resource_refs: tuple[str, ...]
    latency_us: int
    redaction_status: str


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    evidence_id: int
    at: str
    agent: str
    action: str
    entry_id: int | None
    decision: str | None
    rule: str
    outcome: str
    idempotency_key: str | None
    resource_refs: tuple[str, ...]
    latency_us: int
    redaction_status: str
    prev_hash: str
    hash: str


def refs_json(refs: tuple[str, ...] | list[str]) -> str:
    return json.dumps(list(refs), separators=(",", ":"))


def canonical(row: EvidenceRow) -> str:
    """The record as hashed: every field but the hashes, sorted keys, no spaces."""
    fields = asdict(row)
    del fields["prev_hash"], fields["hash"]
    fields["resource_refs"] = list(row.resource_refs)
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, text: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()


def row_of(raw: sqlite3.Row) -> EvidenceRow:
    """A stored row; ValueError when its references do not read back."""
    refs = json.loads(raw["resource_refs"])
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise ValueError("resource_refs is not a list of references")
    return EvidenceRow(
        evidence_id=raw["evidence_id"],
        at=raw["at"],
        agent=raw["agent"],
        action=raw["action"],
        entry_id=raw["entry_id"],
        decision=raw["decision"],
        rule=raw["rule"],
        outcome=raw["outcome"],
        idempotency_key=raw["idempotency_key"],
        resource_refs=tuple(refs),
        latency_us=raw["latency_us"],
        redaction_status=raw["redaction_status"],
        prev_hash=raw["prev_hash"],
        hash=raw["hash"],
    )


@dataclass(frozen=True)
class EvidenceCheckpoint:
    checkpoint_id: int
    at: str
    evidence_id: int  # the head it signs
    evidence_hash: str
    evidence_count: int
    prev_signature: str  # the signature of the checkpoint before ("" for the first)
    key_id: str
    signature: str = ""

    def signed_text(self) -> str:
        fields = asdict(self)
        del fields["signature"]
        return _SIGNED_AS + json.dumps(fields, sort_keys=True, separators=(",", ":"))

    def signed_by(self, key: AuditKey) -> bool:
        return self.key_id == key.key_id and key.signed(self.signed_text(), self.signature)


def checkpoint_of(raw: Any) -> EvidenceCheckpoint:
    return EvidenceCheckpoint(*raw)


def head_file_for(database: Path) -> Path:
    return database.with_name(HEAD_FILE_NAME)


def read_head_file(path: Path) -> EvidenceCheckpoint | None:
    """The checkpoint in the head file; None without one; ValueError when it does not parse."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return EvidenceCheckpoint(**json.loads(text))
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name} does not hold a checkpoint: {exc}") from None


def write_head_file(path: Path, checkpoint: EvidenceCheckpoint) -> None:
    """Replace the head file atomically (0600), unless it holds a newer checkpoint already."""
    try:
        current = read_head_file(path)
    except ValueError:
        current = None
    if current is not None and current.checkpoint_id >= checkpoint.checkpoint_id:
        return
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    text = json.dumps(asdict(checkpoint), sort_keys=True, indent=1) + "\n"
    with open(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE), "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(draft, path)


Also = Callable[[aiosqlite.Connection, EvidenceRow], Awaitable[None]]


class EvidenceRepository:
    """Appends evidence (each append signed at once: one row per governed action, a handful a minute) and reads
    it back. Appends go through the database's one writer, so the chain never forks."""

    def __init__(self, db: Database, key: AuditKey, head_file: Path) -> None:
        self._db = db
        self._key = key
        self._head_file = head_file

    async def record(self, draft: EvidenceDraft, also: Also | None = None) -> EvidenceRow:
        """Append `draft` and sign the new head; `also` runs in the same transaction (a ledger entry's update)."""
        async with self._db.transaction() as conn:
            row = await _append(conn, draft)
            if also is not None:
                await also(conn, row)
            checkpoint = await _sign(conn, self._key, row)
        write_head_file(self._head_file, checkpoint)
        return row

    async def recent(self, limit: int) -> list[EvidenceRow]:
        rows = await self._db.fetchall(
            f"SELECT {EVIDENCE_COLUMNS} FROM agent_evidence ORDER BY evidence_id DESC LIMIT ?", (limit,)
        )
        return [row_of(r) for r in rows]

    async def get(self, evidence_id: int) -> EvidenceRow | None:
        raw = await self._db.fetchone(
            f"SELECT {EVIDENCE_COLUMNS} FROM agent_evidence WHERE evidence_id = ?", (evidence_id,)
        )
        return row_of(raw) if raw is not None else None

    async def latest_for(self, agent: str) -> EvidenceRow | None:
        raw = await self._db.fetchone(
            f"SELECT {EVIDENCE_COLUMNS} FROM agent_evidence WHERE agent = ? ORDER BY evidence_id DESC LIMIT 1",
            (agent,),
        )
        return row_of(raw) if raw is not None else None

    async def outcome_counts(self, agent: str) -> dict[str, int]:
        rows = await self._db.fetchall(
            "SELECT outcome, COUNT(*) FROM agent_evidence WHERE agent = ? GROUP BY outcome", (agent,)
        )
        return {row[0]: row[1] for row in rows}

    async def signed_head(self) -> int:
        """The newest evidence id a signed checkpoint covers (0 when none)."""
        raw = await self._db.fetchone("SELECT MAX(evidence_id) FROM agent_evidence_checkpoints")
        return raw[0] if raw is not None and raw[0] is not None else 0


async def _append(conn: aiosqlite.Connection, draft: EvidenceDraft) -> EvidenceRow:
    async with conn.execute("SELECT evidence_id, hash FROM agent_evidence ORDER BY evidence_id DESC LIMIT 1") as cur:
        last = await cur.fetchone()
    evidence_id, prev_hash = (last[0] + 1, last[1]) if last is not None else (1, GENESIS_HASH)
    unhashed = EvidenceRow(
        evidence_id=evidence_id,
        at=iso(draft.at),
        agent=draft.agent,
        action=draft.action,
        entry_id=draft.entry_id,
        decision=draft.decision,
        rule=draft.rule,
        outcome=draft.outcome,
        idempotency_key=draft.idempotency_key,
        resource_refs=tuple(draft.resource_refs),
        latency_us=draft.latency_us,
        redaction_status=draft.redaction_status,
        prev_hash=prev_hash,
        hash="",
    )
    row = replace(unhashed, hash=chain_hash(prev_hash, canonical(unhashed)))
    await conn.execute(
        f"INSERT INTO agent_evidence ({EVIDENCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row.evidence_id,
            row.at,
            row.agent,
            row.action,
            row.entry_id,
            row.decision,
            row.rule,
            row.outcome,
            row.idempotency_key,
            refs_json(row.resource_refs),
            row.latency_us,
            row.redaction_status,
            row.prev_hash,
            row.hash,
        ),
    )
    return row


async def _sign(conn: aiosqlite.Connection, key: AuditKey, head: EvidenceRow) -> EvidenceCheckpoint:
    async with conn.execute(
        f"SELECT {CHECKPOINT_COLUMNS} FROM agent_evidence_checkpoints ORDER BY checkpoint_id DESC LIMIT 1"
    ) as cur:
        raw = await cur.fetchone()
    last = checkpoint_of(raw) if raw is not None else None
    unsigned = EvidenceCheckpoint(
        checkpoint_id=(last.checkpoint_id if last else 0) + 1,
        at=head.at,
        evidence_id=head.evidence_id,
        evidence_hash=head.hash,
        evidence_count=head.evidence_id,  # evidence is never pruned: the chain starts at 1
        prev_signature=last.signature if last else "",
        key_id=key.key_id,
    )
    checkpoint = replace(unsigned, signature=key.sign(unsigned.signed_text()))
    await conn.execute(
        f"INSERT INTO agent_evidence_checkpoints ({CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        tuple(asdict(checkpoint).values()),
    )
    return checkpoint
