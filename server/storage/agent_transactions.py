"""The deposits the agent investigates, in SQLite: `TransactionRepository.get(transaction_id)` and `.page(...)` are
the API other families (refunds) link deposits through; the window queries are what the investigation tools ask."""

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from server.plant.transactions import Deposit
from server.storage.database import Database
from shared.agent import Transaction

Source = Literal["plant", "api"]
_COLUMNS = (
    "seq, transaction_id, occurred_at, amount_minor, currency, merchant, channel, customer_id, device_id, "
    "ip_country, card_country, suspicious, pattern, source"
)


def _transaction(row: sqlite3.Row) -> Transaction:
    return Transaction(
        transaction_id=row["transaction_id"],
        occurred_at=datetime.fromisoformat(row["occurred_at"]),
        amount=Decimal(row["amount_minor"]).scaleb(-2),  # 25000 -> 250.00, never 250
        currency=row["currency"],
        merchant=row["merchant"],
        channel=row["channel"],
        customer_id=row["customer_id"],
        device_id=row["device_id"],
        ip_country=row["ip_country"],
        card_country=row["card_country"],
        suspicious=bool(row["suspicious"]),
        pattern=row["pattern"],
        source=row["source"],
    )


@dataclass(frozen=True, slots=True)
class Window:
    """Deposits matching one key in a time window: how many, their total, and how many distinct customers."""

    count: int
    total_minor: int
    customers: int


class TransactionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, deposits: list[Deposit], *, source: Source, suspicious: list[bool] | None = None) -> int:
        """Store `deposits` (one transaction); ids already stored are left as they are. Returns how many were new.
        `suspicious` overrides the deposits' own flags (the API screens what it is given)."""
        flags = suspicious if suspicious is not None else [d.suspicious for d in deposits]
        rows = [
            (
                d.transaction_id,
                d.occurred_at.astimezone(UTC).isoformat(),
                d.occurred_at.timestamp(),
                d.amount_minor,
                d.currency,
                d.merchant,
                d.channel,
                d.customer_id,
                d.device_id,
                d.ip_country,
                d.card_country,
                int(flag),
                d.pattern,
                source,
            )
            for d, flag in zip(deposits, flags, strict=True)
        ]
        if not rows:
            return 0
        async with self._db.transaction() as conn:
            cursor = await conn.executemany(
                "INSERT OR IGNORE INTO agent_transactions (transaction_id, occurred_at, occurred_ts, amount_minor, "
                "currency, merchant, channel, customer_id, device_id, ip_country, card_country, suspicious, pattern, "
                "source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return cursor.rowcount

    async def get(self, transaction_id: str) -> Transaction | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM agent_transactions WHERE transaction_id = ?", (transaction_id,)
        )
        return _transaction(row) if row is not None else None

    async def page(
        self, *, limit: int, before_seq: int | None = None, suspicious: bool | None = None
    ) -> tuple[list[Transaction], int | None]:
        """Newest first, from below `before_seq`; returns the page and the seq to continue below (None at the end)."""
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if before_seq is not None:
            where.append("seq < ?")
            params.append(before_seq)
        if suspicious is not None:
            where.append("suspicious = ?")
            params.append(int(suspicious))
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM agent_transactions WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
            (*params, limit + 1),
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return [_transaction(r) for r in rows], (rows[-1]["seq"] if more and rows else None)

    async def count(self, *, source: Source | None = None) -> int:
        if source is None:
            row = await self._db.fetchone("SELECT count(*) FROM agent_transactions")
        else:
            row = await self._db.fetchone("SELECT count(*) FROM agent_transactions WHERE source = ?", (source,))
        return int(row[0]) if row is not None else 0

    async def history(self, customer_id: str, *, before: datetime, limit: int) -> list[Transaction]:
        """The customer's deposits before `before`, newest first."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM agent_transactions WHERE customer_id = ? AND occurred_ts < ? "
            "ORDER BY occurred_ts DESC LIMIT ?",
            (customer_id, before.timestamp(), limit),
        )
        return [_transaction(r) for r in rows]

    async def window(
        self, key: Literal["customer_id", "device_id", "channel"], value: str, *, since: datetime, until: datetime
    ) -> Window:
        """Deposits whose `key` is `value` in [since, until]."""
        row = await self._db.fetchone(
            f"SELECT count(*), coalesce(sum(amount_minor), 0), count(DISTINCT customer_id) FROM agent_transactions "
            f"WHERE {key} = ? AND occurred_ts BETWEEN ? AND ?",
            (value, since.timestamp(), until.timestamp()),
        )
        assert row is not None  # an aggregate always answers one row
        return Window(int(row[0]), int(row[1]), int(row[2]))

    async def device_customers(self, device_id: str, *, since: datetime, until: datetime) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT DISTINCT customer_id FROM agent_transactions WHERE device_id = ? AND occurred_ts BETWEEN ? AND ? "
            "ORDER BY customer_id LIMIT 50",
            (device_id, since.timestamp(), until.timestamp()),
        )
        return [r[0] for r in rows]

    async def customer_devices(self, customer_id: str, *, until: datetime) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT DISTINCT device_id FROM agent_transactions WHERE customer_id = ? AND occurred_ts <= ? "
            "ORDER BY device_id LIMIT 50",
            (customer_id, until.timestamp()),
        )
        return [r[0] for r in rows]

    async def channel_first_seen(self, channel: str) -> datetime | None:
        row = await self._db.fetchone("SELECT min(occurred_ts) FROM agent_transactions WHERE channel = ?", (channel,))
        return datetime.fromtimestamp(row[0], UTC) if row is not None and row[0] is not None else None

    async def near_limit(self, *, low_minor: int, high_minor: int, since: datetime, limit: int) -> list[str]:
        """Ids of deposits with amounts in [low, high) since `since`: what an under-the-limit rule would catch."""
        rows = await self._db.fetchall(
            "SELECT transaction_id FROM agent_transactions WHERE amount_minor >= ? AND amount_minor < ? "
            "AND occurred_ts >= ? ORDER BY seq DESC LIMIT ?",
            (low_minor, high_minor, since.timestamp(), limit),
        )
        return [r[0] for r in rows]

    async def matching(
        self, *, channel: str | None = None, mismatch: bool = False, since: datetime, limit: int
    ) -> list[str]:
        """Ids of deposits on `channel`, or (with `mismatch`) whose IP and card countries differ, since `since`."""
        if channel is not None:
            sql, params = "channel = ?", [channel]
        elif mismatch:
            sql, params = "ip_country != card_country", []
        else:
            raise ValueError("name a channel or ask for country mismatches")
        rows = await self._db.fetchall(
            f"SELECT transaction_id FROM agent_transactions WHERE {sql} AND occurred_ts >= ? ORDER BY seq DESC LIMIT ?",
            (*params, since.timestamp(), limit),
        )
        return [r[0] for r in rows]

    async def on_shared_devices(self, *, min_customers: int, since: datetime, limit: int) -> list[str]:
        """Ids of deposits since `since` made from a device that `min_customers` or more customers used then."""
        rows = await self._db.fetchall(
            "SELECT transaction_id FROM agent_transactions WHERE occurred_ts >= ? AND device_id IN ("
            "SELECT device_id FROM agent_transactions WHERE occurred_ts >= ? GROUP BY device_id "
            "HAVING count(DISTINCT customer_id) >= ?) ORDER BY seq DESC LIMIT ?",
            (since.timestamp(), since.timestamp(), min_customers, limit),
        )
        return [r[0] for r in rows]
