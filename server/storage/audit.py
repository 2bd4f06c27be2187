"""AuditRepository: the append-only, hash-chained audit log."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from server.errors import DataCorrupted
from server.storage.database import Database

GENESIS_HASH = "0" * 64
# What a text search of the log looks in.
_SEARCHABLE = (
    "lower(coalesce(principal, '') || ' ' || action || ' ' || coalesce(target, '') || ' ' || outcome || ' ' "
    "|| request_id || ' ' || path || ' ' || detail)"
)


class AuditRecord(NamedTuple):
    """One ops interaction, before it has a place in the chain. (A NamedTuple: immutable, and cheap to make on
    every request.)"""

    at: datetime
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
    record: AuditRecord
    prev_hash: str
    hash: str


def _canonical(record: AuditRecord) -> dict[str, Any]:
    return {
        "at": record.at.isoformat(timespec="microseconds"),
        "principal": record.principal,
        "request_id": record.request_id,
        "method": record.method,
        "path": record.path,
        "action": record.action,
        "target": record.target,
        "outcome": record.outcome,
        "status": record.status,
        "detail": record.detail,
    }


def chain_hash(prev_hash: str, entry_id: int, record: AuditRecord) -> str:
    body = json.dumps({"entry_id": entry_id, **_canonical(record)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _from_row(row) -> AuditRow:
    record = AuditRecord(
        at=datetime.fromisoformat(row["at"]),
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
    return AuditRow(entry_id=row["entry_id"], record=record, prev_hash=row["prev_hash"], hash=row["hash"])


@dataclass(frozen=True)
class ChainBreak:
    entry_id: int
    reason: str


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append_batch(self, records: list[AuditRecord]) -> None:
        """Link and insert a batch in one transaction. The head is read inside the transaction, so a batch
        always links on the row committed before it."""
        async with self._db.transaction() as conn:
            async with conn.execute("SELECT entry_id, hash FROM audit_log ORDER BY entry_id DESC LIMIT 1") as cur:
                row = await cur.fetchone()
            last_id, prev_hash = (row["entry_id"], row["hash"]) if row else (0, GENESIS_HASH)
            values = []
            for record in records:
                last_id += 1
                digest = chain_hash(prev_hash, last_id, record)
                c = _canonical(record)
                values.append(
                    (
                        last_id,
                        c["at"],
                        record.principal,
                        record.request_id,
                        record.method,
                        record.path,
                        record.action,
                        record.target,
                        record.outcome,
                        record.status,
                        json.dumps(record.detail, sort_keys=True, separators=(",", ":")),
                        prev_hash,
                        digest,
                    )
                )
                prev_hash = digest
            # One multi-row INSERT rather than executemany: the writer thread then releases and retakes the GIL
            # once per batch instead of once per row, which would stall the event loop at every handoff.
            rows_sql = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(values))
            await conn.execute(
                "INSERT INTO audit_log (entry_id, at, principal, request_id, method, path, action, target, "
                f"outcome, status, detail, prev_hash, hash) VALUES {rows_sql}",
                [field for row in values for field in row],
            )

    async def recent(self, limit: int, *, words: list[str] | None = None, changes_only: bool = False) -> list[AuditRow]:
        """Newest first. `words` must each occur (case-insensitively) in the principal, action, target, outcome,
        request id, path or detail (where a command's name, params and result are); `changes_only` leaves out
        reads (GET, HEAD, OPTIONS)."""
        where, params = [], []
        for word in words or []:
            where.append(f"instr({_SEARCHABLE}, ?) > 0")
            params.append(word.lower())
        if changes_only:
            where.append("method NOT IN ('GET', 'HEAD', 'OPTIONS')")
        sql = "SELECT * FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self._db.fetchall(sql + " ORDER BY entry_id DESC LIMIT ?", (*params, limit))
        result = []
        for row in rows:
            try:
                result.append(_from_row(row))
            except (TypeError, ValueError):
                raise DataCorrupted(
                    f"audit entry {row['entry_id']} cannot be read; run 'ops-server audit verify'"
                ) from None
        return result

    async def verify(self) -> tuple[int, ChainBreak | None]:
        """Walk the chain from the start. Returns how many entries hold and the first broken link, if any."""
        prev_hash = GENESIS_HASH
        expected_id = 1
        checked = 0
        async with self._db.reading() as conn, conn.execute("SELECT * FROM audit_log ORDER BY entry_id") as cur:
            async for raw in cur:
                if raw["entry_id"] != expected_id:
                    return checked, ChainBreak(expected_id, f"entry {expected_id} is missing")
                if raw["prev_hash"] != prev_hash:
                    return checked, ChainBreak(expected_id, "prev_hash does not match the previous entry's hash")
                try:
                    # A tampered `at` or `detail` may not even parse: that is a broken entry, not a crash.
                    row = _from_row(raw)
                    digest = chain_hash(prev_hash, row.entry_id, row.record)
                except (TypeError, ValueError) as exc:
                    return checked, ChainBreak(expected_id, f"entry cannot be read: {exc}")
                if digest != row.hash:
                    return checked, ChainBreak(row.entry_id, "contents do not match the entry's hash")
                prev_hash = row.hash
                expected_id += 1
                checked += 1
        return checked, None
