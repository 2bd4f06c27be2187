"""Webhook subscriptions, the durable delivery queue and the attempt log (migration 0032). A delivery is a row from
the moment its event is emitted; the worker picks pending rows once due, so whatever was pending when a process
stopped is sent by the next one. Times are Unix seconds."""

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiosqlite

from server.storage.database import Database
from shared.webhooks import Delivery, DeliveryAttempt, LastDelivery, Webhook

SUBSCRIPTION_DISABLED = "the subscription is disabled"


def _time(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


@dataclass(frozen=True, slots=True)
class NewSubscription:
    webhook_id: str
    url: str
    events: Sequence[str]
    secret: str
    created_at: float
    created_by: str


@dataclass(frozen=True, slots=True)
class Signing:
    """What signs a delivery: the secret, and the previous one while its overlap lasts."""

    secret: str
    previous_secret: str | None
    previous_expires_at: float | None

    def secrets_at(self, now: float) -> list[str]:
        if self.previous_secret is not None and self.previous_expires_at is not None and now < self.previous_expires_at:
            return [self.secret, self.previous_secret]
        return [self.secret]


@dataclass(frozen=True, slots=True)
class DueDelivery:
    delivery_id: str
    webhook_id: str
    message_id: str
    body: str
    attempts: int
    attempts_left: int
    url: str
    signing: Signing


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt's result and what follows it: `status` the delivery's status afterwards, `disable` whether the
    answer (410) disables the subscription."""

    at: float
    status_code: int | None
    error: str | None
    duration_ms: int
    response_excerpt: str
    outcome: str
    status: str
    next_attempt_at: float | None
    disable: bool = False


_WEBHOOK_COLUMNS = (
    "s.webhook_id, s.url, s.events, s.status, s.disabled_reason, s.created_at, s.created_by, s.previous_expires_at"
)
# The latest delivery of each subscription beside it (the index by webhook and seq answers it).
_LAST_DELIVERY = (
    "LEFT JOIN webhook_deliveries d ON d.seq = "
    "(SELECT MAX(seq) FROM webhook_deliveries WHERE webhook_id = s.webhook_id)"
)
_LAST_COLUMNS = "d.delivery_id, d.event_type, d.status, d.created_at, d.last_attempt_at, d.last_status_code"


def _webhook(row: sqlite3.Row) -> Webhook:
    last = (
        LastDelivery(
            delivery_id=row["delivery_id"],
            event_type=row["event_type"],
            status=row["d_status"],
            created_at=datetime.fromtimestamp(row["d_created_at"], UTC),
            last_attempt_at=_time(row["last_attempt_at"]),
            last_status_code=row["last_status_code"],
        )
        if row["delivery_id"] is not None
        else None
    )
    return Webhook(
        webhook_id=row["webhook_id"],
        url=row["url"],
        events=json.loads(row["events"]),
        status=row["status"],
        disabled_reason=row["disabled_reason"],
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        created_by=row["created_by"],
        previous_secret_expires_at=_time(row["previous_expires_at"]),
        last_delivery=last,
    )


def _attempt(row: sqlite3.Row) -> DeliveryAttempt:
    return DeliveryAttempt(
        attempt=row["attempt"],
        at=datetime.fromtimestamp(row["at"], UTC),
        status_code=row["status_code"],
        error=row["error"],
        duration_ms=row["duration_ms"],
        response_excerpt=row["response_excerpt"],
        outcome=row["outcome"],
        next_attempt_at=_time(row["next_attempt_at"]),
    )


class WebhookRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- subscriptions ---

    async def create(self, new: NewSubscription) -> None:
        await self._db.execute(
            "INSERT INTO webhook_subscriptions (webhook_id, url, events, secret, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (new.webhook_id, new.url, json.dumps(list(new.events)), new.secret, new.created_at, new.created_by),
        )

    async def get(self, webhook_id: str) -> Webhook | None:
        row = await self._db.fetchone(
            f"SELECT {_WEBHOOK_COLUMNS}, {_LAST_COLUMNS}, d.status AS d_status, d.created_at AS d_created_at "
            f"FROM webhook_subscriptions s {_LAST_DELIVERY} WHERE s.webhook_id = ?",
            (webhook_id,),
        )
        return _webhook(row) if row is not None else None

    async def page(self, limit: int, offset: int) -> tuple[list[Webhook], int]:
        rows = await self._db.fetchall(
            f"SELECT {_WEBHOOK_COLUMNS}, {_LAST_COLUMNS}, d.status AS d_status, d.created_at AS d_created_at "
            f"FROM webhook_subscriptions s {_LAST_DELIVERY} ORDER BY s.created_at, s.rowid LIMIT ? OFFSET ?",
            (limit, offset),
        )
        total = await self._db.fetchone("SELECT COUNT(*) FROM webhook_subscriptions")
        assert total is not None  # an aggregate always answers one row
        return [_webhook(row) for row in rows], int(total[0])

    async def delete(self, webhook_id: str) -> bool:
        """Removes the subscription with its deliveries and their attempts."""
        return await self._db.execute("DELETE FROM webhook_subscriptions WHERE webhook_id = ?", (webhook_id,)) > 0

    async def rotate(self, webhook_id: str, secret: str, previous_expires_at: float) -> bool:
        """The current secret becomes the previous one (until `previous_expires_at`), `secret` the current one."""
        changed = await self._db.execute(
            "UPDATE webhook_subscriptions SET previous_secret = secret, secret = ?, previous_expires_at = ? "
            "WHERE webhook_id = ?",
            (secret, previous_expires_at, webhook_id),
        )
        return changed > 0

    async def subscribers(self, event_type: str) -> list[str]:
        """The active subscriptions to `event_type`."""
        rows = await self._db.fetchall(
            "SELECT webhook_id FROM webhook_subscriptions s WHERE status = 'active' "
            "AND EXISTS (SELECT 1 FROM json_each(s.events) WHERE value = ?) ORDER BY webhook_id",
            (event_type,),
        )
        return [row[0] for row in rows]

    # --- the queue ---

    async def enqueue(
        self, rows: Sequence[tuple[str, str]], message_id: str, event_type: str, body: str, now: float, attempts: int
    ) -> None:
        """One pending delivery per `(delivery_id, webhook_id)`, due now, all in one transaction."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO webhook_deliveries (delivery_id, webhook_id, message_id, event_type, body, status, "
                "attempts_left, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                [
                    (delivery_id, webhook_id, message_id, event_type, body, attempts, now, now)
                    for delivery_id, webhook_id in rows
                ],
            )

    async def due(self, now: float, limit: int, skip: Sequence[str] = ()) -> list[DueDelivery]:
        """Pending deliveries due by `now` of active subscriptions, oldest due first; `skip` those in flight."""
        marks = ",".join("?" * len(skip))
        rows = await self._db.fetchall(
            "SELECT d.delivery_id, d.webhook_id, d.message_id, d.body, d.attempts, d.attempts_left, s.url, s.secret, "
            "s.previous_secret, s.previous_expires_at FROM webhook_deliveries d "
            "JOIN webhook_subscriptions s ON s.webhook_id = d.webhook_id "
            f"WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND s.status = 'active' "
            f"AND d.delivery_id NOT IN ({marks}) ORDER BY d.next_attempt_at, d.seq LIMIT ?",
            (now, *skip, limit),
        )
        return [
            DueDelivery(
                delivery_id=row["delivery_id"],
                webhook_id=row["webhook_id"],
                message_id=row["message_id"],
                body=row["body"],
                attempts=row["attempts"],
                attempts_left=row["attempts_left"],
                url=row["url"],
                signing=Signing(row["secret"], row["previous_secret"], row["previous_expires_at"]),
            )
            for row in rows
        ]

    async def next_due_at(self, skip: Sequence[str] = ()) -> float | None:
        """When the next pending delivery of an active subscription falls due; `skip` those in flight."""
        row = await self._db.fetchone(
            "SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d "
            "JOIN webhook_subscriptions s ON s.webhook_id = d.webhook_id "
            "WHERE d.status = 'pending' AND s.status = 'active' "
            f"AND d.delivery_id NOT IN ({','.join('?' * len(skip))})",
            tuple(skip),
        )
        return row[0] if row is not None else None

    async def record_attempt(self, delivery: DueDelivery, record: AttemptRecord) -> None:
        """The attempt in the log and its consequence on the delivery, at once; a 410 also disables the subscription
        and fails its other pending deliveries (nothing more goes to it)."""
        attempt = delivery.attempts + 1
        async with self._db.transaction() as conn:
            # Logged unless the subscription was deleted meanwhile (its deliveries with it).
            await conn.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms, "
                "response_excerpt, outcome, next_attempt_at) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? "
                "WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE delivery_id = ?)",
                (
                    delivery.delivery_id,
                    attempt,
                    record.at,
                    record.status_code,
                    record.error,
                    record.duration_ms,
                    record.response_excerpt,
                    record.outcome,
                    record.next_attempt_at,
                    delivery.delivery_id,
                ),
            )
            # Only while still pending: a 410 to another delivery may have failed this one meanwhile.
            await conn.execute(
                "UPDATE webhook_deliveries SET status = ?, attempts = ?, attempts_left = attempts_left - 1, "
                "next_attempt_at = ?, last_attempt_at = ?, last_status_code = ?, last_error = ? "
                "WHERE delivery_id = ? AND status = 'pending'",
                (
                    record.status,
                    attempt,
                    record.next_attempt_at,
                    record.at,
                    record.status_code,
                    record.error,
                    delivery.delivery_id,
                ),
            )
            if record.disable:
                reason = f"disabled after HTTP {record.status_code} (Gone) to delivery {delivery.delivery_id}"
                await conn.execute(
                    "UPDATE webhook_subscriptions SET status = 'disabled', disabled_reason = ? WHERE webhook_id = ?",
                    (reason, delivery.webhook_id),
                )
                await conn.execute(
                    "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = ? "
                    "WHERE webhook_id = ? AND status = 'pending'",
                    (SUBSCRIPTION_DISABLED, delivery.webhook_id),
                )

    async def requeue(self, webhook_id: str, delivery_id: str, now: float, attempts: int) -> bool:
        """A finished delivery pending again, due now, with a fresh budget of attempts; False if it is pending."""
        changed = await self._db.execute(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, attempts_left = ? "
            "WHERE delivery_id = ? AND webhook_id = ? AND status != 'pending'",
            (now, attempts, delivery_id, webhook_id),
        )
        return changed > 0

    # --- the delivery log ---

    async def deliveries(
        self, webhook_id: str, limit: int, offset: int, status: str | None = None
    ) -> tuple[list[Delivery], int]:
        """A page of a subscription's deliveries, newest first, each with its attempts."""
        where, params = "webhook_id = ?", [webhook_id]
        if status is not None:
            where, params = where + " AND status = ?", [*params, status]
        # One snapshot: a delivery and its attempts as of one moment, though the worker records attempts meanwhile.
        async with self._db.reading() as conn:
            rows = list(
                await conn.execute_fetchall(
                    f"SELECT * FROM webhook_deliveries WHERE {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
                    (*params, limit, offset),
                )
            )
            [total] = await conn.execute_fetchall(f"SELECT COUNT(*) FROM webhook_deliveries WHERE {where}", params)
            return await self._with_attempts(conn, rows), int(total[0])

    async def delivery(self, webhook_id: str, delivery_id: str) -> Delivery | None:
        async with self._db.reading() as conn:
            rows = list(
                await conn.execute_fetchall(
                    "SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND delivery_id = ?",
                    (webhook_id, delivery_id),
                )
            )
            found = await self._with_attempts(conn, rows)
        return found[0] if found else None

    @staticmethod
    async def _with_attempts(conn: aiosqlite.Connection, rows: list[sqlite3.Row]) -> list[Delivery]:
        if not rows:
            return []
        ids = [row["delivery_id"] for row in rows]
        attempts = await conn.execute_fetchall(
            f"SELECT * FROM webhook_attempts WHERE delivery_id IN ({','.join('?' * len(ids))}) "
            "ORDER BY delivery_id, attempt",
            ids,
        )
        log: dict[str, list[DeliveryAttempt]] = {delivery_id: [] for delivery_id in ids}
        for attempt in attempts:
            log[attempt["delivery_id"]].append(_attempt(attempt))
        return [
            Delivery(
                delivery_id=row["delivery_id"],
                webhook_id=row["webhook_id"],
                message_id=row["message_id"],
                event_type=row["event_type"],
                status=row["status"],
                attempts=row["attempts"],
                next_attempt_at=_time(row["next_attempt_at"]),
                created_at=datetime.fromtimestamp(row["created_at"], UTC),
                last_attempt_at=_time(row["last_attempt_at"]),
                last_status_code=row["last_status_code"],
                last_error=row["last_error"],
                body=row["body"],
                attempt_log=log[row["delivery_id"]],
            )
            for row in rows
        ]
