"""RefundRepository: the refund ledger in SQL. Customer data lives in `refund_customer_data`, which only the
ledger reads (`page`, `get` with `with_customer=True`) ever join, to mask or reveal it; everything else reads the
safe columns.

Taking an entry to process is one conditional UPDATE under the database's one writer (`claim`), so two workers —
or fifty concurrent process-once calls — can never take the same entry."""

import json
import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import aiosqlite

from server.storage.database import Database
from server.storage.evidence import iso

_SAFE_COLUMNS = (
    "r.entry_id, r.created_at, r.status, r.decision, r.rule, r.deposit_id, r.deposit_ref, r.customer_ref, "
    "r.amount_minor, r.currency, r.risk_flags, r.evidence_id"
)
_CUSTOMER_COLUMNS = "c.customer_name, c.customer_email, c.card_number, c.card_expiry, c.order_payload"


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """The protected columns."""

    name: str
    email: str
    card_number: str
    card_expiry: str
    order_payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewEntry:
    created_at: datetime
    deposit_id: str
    deposit_ref: str
    customer_ref: str
    amount_minor: int
    currency: str
    risk_flags: tuple[str, ...]
    customer: CustomerRecord


@dataclass(frozen=True, slots=True)
class StoredEntry:
    entry_id: int
    created_at: datetime
    status: str
    decision: str | None
    rule: str | None
    deposit_id: str
    deposit_ref: str
    customer_ref: str
    amount_minor: int
    currency: str
    risk_flags: tuple[str, ...]
    evidence_id: int | None
    customer: CustomerRecord | None  # only from an unmasked read


@dataclass(frozen=True, slots=True)
class LedgerFilter:
    status: str | None = None
    decision: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _entry(raw: sqlite3.Row, with_customer: bool) -> StoredEntry:
    customer = None
    if with_customer:
        customer = CustomerRecord(
            name=raw["customer_name"],
            email=raw["customer_email"],
            card_number=raw["card_number"],
            card_expiry=raw["card_expiry"],
            order_payload=json.loads(raw["order_payload"]),
        )
    return StoredEntry(
        entry_id=raw["entry_id"],
        created_at=datetime.fromisoformat(raw["created_at"]),
        status=raw["status"],
        decision=raw["decision"],
        rule=raw["rule"],
        deposit_id=raw["deposit_id"],
        deposit_ref=raw["deposit_ref"],
        customer_ref=raw["customer_ref"],
        amount_minor=raw["amount_minor"],
        currency=raw["currency"],
        risk_flags=tuple(json.loads(raw["risk_flags"])),
        evidence_id=raw["evidence_id"],
        customer=customer,
    )


class RefundRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, entry: NewEntry) -> int:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO refund_requests (created_at, status, deposit_id, deposit_ref, customer_ref, "
                "amount_minor, currency, risk_flags) VALUES (?, 'pending', ?, ?, ?, ?, ?, ?)",
                (
                    iso(entry.created_at),
                    entry.deposit_id,
                    entry.deposit_ref,
                    entry.customer_ref,
                    entry.amount_minor,
                    entry.currency,
                    json.dumps(list(entry.risk_flags)),
                ),
            )
            entry_id = cursor.lastrowid
            assert entry_id is not None
            c = entry.customer
            await conn.execute(
                "INSERT INTO refund_customer_data (entry_id, customer_name, customer_email, card_number, "
                "card_expiry, order_payload) VALUES (?, ?, ?, ?, ?, ?)",
                (entry_id, c.name, c.email, c.card_number, c.card_expiry, json.dumps(c.order_payload)),
            )
        return entry_id

    async def claim(self, entry_id: int | None = None) -> StoredEntry | None:
        """Take the oldest pending entry (or `entry_id`, if it is pending) for processing; None when there is none."""
        where = "status = 'pending'" + (" AND entry_id = ?" if entry_id is not None else "")
        params: tuple[Any, ...] = (entry_id,) if entry_id is not None else ()
        async with self._db.transaction() as conn:
            async with conn.execute(
                f"SELECT {_SAFE_COLUMNS} FROM refund_requests r WHERE {where} ORDER BY entry_id LIMIT 1", params
            ) as cursor:
                raw = await cursor.fetchone()
            if raw is None:
                return None
            await conn.execute("UPDATE refund_requests SET status = 'processing' WHERE entry_id = ?", (raw[0],))
        return replace(_entry(raw, with_customer=False), status="processing")

    async def status_of(self, entry_id: int) -> str | None:
        raw = await self._db.fetchone("SELECT status FROM refund_requests WHERE entry_id = ?", (entry_id,))
        return raw[0] if raw is not None else None

    async def refunds_since(self, customer_ref: str, since: datetime) -> int:
        """The customer's refunds made since `since` (per-customer velocity)."""
        raw = await self._db.fetchone(
            "SELECT COUNT(*) FROM refund_requests r JOIN agent_evidence e ON e.evidence_id = r.evidence_id "
            "WHERE r.customer_ref = ? AND r.status = 'refunded' AND e.at >= ?",
            (customer_ref, iso(since)),
        )
        return raw[0] if raw is not None else 0

    async def counts(self) -> dict[str, int]:
        rows = await self._db.fetchall("SELECT status, COUNT(*) FROM refund_requests GROUP BY status")
        return {row[0]: row[1] for row in rows}

    async def interrupted(self) -> list[StoredEntry]:
        """Entries left `processing` by a worker that stopped mid-way."""
        rows = await self._db.fetchall(
            f"SELECT {_SAFE_COLUMNS} FROM refund_requests r WHERE status = 'processing' ORDER BY entry_id"
        )
        return [_entry(row, with_customer=False) for row in rows]

    async def get(self, entry_id: int, *, with_customer: bool) -> StoredEntry | None:
        columns = _SAFE_COLUMNS + (", " + _CUSTOMER_COLUMNS if with_customer else "")
        join = " JOIN refund_customer_data c ON c.entry_id = r.entry_id" if with_customer else ""
        raw = await self._db.fetchone(
            f"SELECT {columns} FROM refund_requests r{join} WHERE r.entry_id = ?", (entry_id,)
        )
        return _entry(raw, with_customer) if raw is not None else None

    async def page(
        self, *, before: int | None, limit: int, where: LedgerFilter, with_customer: bool
    ) -> list[StoredEntry]:
        """Newest first (by creation time, then entry id), the entries after entry `before` (the keyset) in that
        order, at most `limit`."""
        after: tuple[str, int] | None = None
        if before is not None:
            raw = await self._db.long_reads.fetchone(
                "SELECT created_at FROM refund_requests WHERE entry_id = ?", (before,)
            )
            if raw is None:
                return []  # not a cursor this ledger gave out: entries are never deleted
            after = (raw[0], before)
        sql, params = page_statement(where, after=after, limit=limit, with_customer=with_customer)
        rows = await self._db.long_reads.fetchall(sql, params)
        return [_entry(row, with_customer) for row in rows]


def page_statement(
    where: LedgerFilter, *, after: tuple[str, int] | None, limit: int, with_customer: bool
) -> tuple[str, list[Any]]:
    """A ledger page's SELECT: entries older than `after` (created_at, entry_id) that pass `where`, newest first.
    Every filter is a range of an index kept in that order, so a page reads about `limit` rows however long the
    ledger is (tests/server/test_refunds_ledger_order.py checks the plans)."""
    clauses, params = _filter(where)
    if after is not None:
        # (created_at, entry_id) < after, written so that the index range is on created_at alone.
        clauses.append("r.created_at <= ? AND (r.created_at < ? OR r.entry_id < ?)")
        params += [after[0], after[0], after[1]]
    columns = _SAFE_COLUMNS + (", " + _CUSTOMER_COLUMNS if with_customer else "")
    join = " JOIN refund_customer_data c ON c.entry_id = r.entry_id" if with_customer else ""
    sql = f"SELECT {columns} FROM refund_requests r{join}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return sql + " ORDER BY r.created_at DESC, r.entry_id DESC LIMIT ?", [*params, limit]


async def finish(
    conn: aiosqlite.Connection, entry_id: int, *, status: str, decision: str | None, rule: str, evidence_id: int
) -> None:
    """Record how an entry's processing ended; run inside the evidence's transaction (EvidenceRepository.record's
    `also`), so an entry's status and its evidence commit together or not at all."""
    await conn.execute(
        "UPDATE refund_requests SET status = ?, decision = ?, rule = ?, evidence_id = ? "
        "WHERE entry_id = ? AND status = 'processing'",
        (status, decision, rule, evidence_id, entry_id),
    )


def _filter(where: LedgerFilter) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if where.status is not None:
        clauses.append("r.status = ?")
        params.append(where.status)
    if where.decision is not None:
        clauses.append("r.decision = ?")
        params.append(where.decision)
    if where.since is not None:
        clauses.append("r.created_at >= ?")
        params.append(iso(where.since))
    if where.until is not None:
        clauses.append("r.created_at < ?")
        params.append(iso(where.until))
    return clauses, params


# --- process-once idempotency keys ---


@dataclass(frozen=True, slots=True)
class KeyBegun:
    """The key is new: the caller processes, then `complete`s (or `abandon`s) it."""


@dataclass(frozen=True, slots=True)
class KeyInFlight:
    """A call with the key is still running."""


@dataclass(frozen=True, slots=True)
class KeyMismatch:
    """The key was used with another body."""


@dataclass(frozen=True, slots=True)
class KeyReplay:
    status: int
    body: bytes


KeyState = KeyBegun | KeyInFlight | KeyMismatch | KeyReplay


class IdempotencyRepository:
    """Idempotency keys per principal, kept until `expires_at` (at least 24 h: the service decides)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def begin(
        self, principal: str, key: str, fingerprint: str, *, now: datetime, expires_at: datetime
    ) -> KeyState:
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM refund_idempotency WHERE expires_at < ?", (iso(now),))
            async with conn.execute(
                "SELECT fingerprint, state, response_status, response_body FROM refund_idempotency "
                "WHERE principal = ? AND idempotency_key = ?",
                (principal, key),
            ) as cursor:
                raw = await cursor.fetchone()
            if raw is None:
                await conn.execute(
                    "INSERT INTO refund_idempotency (principal, idempotency_key, fingerprint, state, created_at, "
                    "expires_at) VALUES (?, ?, ?, 'running', ?, ?)",
                    (principal, key, fingerprint, iso(now), iso(expires_at)),
                )
                return KeyBegun()
        if raw["fingerprint"] != fingerprint:
            return KeyMismatch()
        if raw["state"] == "running":
            return KeyInFlight()
        return KeyReplay(raw["response_status"], bytes(raw["response_body"]))

    async def complete(self, principal: str, key: str, status: int, body: bytes) -> None:
        await self._db.execute(
            "UPDATE refund_idempotency SET state = 'done', response_status = ?, response_body = ? "
            "WHERE principal = ? AND idempotency_key = ?",
            (status, body, principal, key),
        )

    async def abandon(self, principal: str, key: str) -> None:
        """Forget a key whose call failed: a retry runs again."""
        await self._db.execute(
            "DELETE FROM refund_idempotency WHERE principal = ? AND idempotency_key = ? AND state = 'running'",
            (principal, key),
        )

    async def forget_running(self) -> int:
        """At start-up: calls still marked running died with the process before."""
        return await self._db.execute("DELETE FROM refund_idempotency WHERE state = 'running'")
