"""ConfirmationRepository: pending confirm tokens of /ops/command, stored by hash."""

from dataclasses import dataclass
from datetime import datetime

from server.storage.database import Database


@dataclass(frozen=True)
class ConfirmationRow:
    token_hash: str
    principal: str
    command: str
    component: str
    params: str
    state_fingerprint: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None


class ConfirmationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, row: ConfirmationRow, *, purge_expired_before: datetime) -> None:
        """Store a new token and, in the same transaction, drop tokens that expired before the given time."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM confirmations WHERE expires_at < ?",
                (purge_expired_before.isoformat(timespec="microseconds"),),
            )
            await conn.execute(
                "INSERT INTO confirmations (token_hash, principal, command, component, params, state_fingerprint, "
                "issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.token_hash,
                    row.principal,
                    row.command,
                    row.component,
                    row.params,
                    row.state_fingerprint,
                    row.issued_at.isoformat(timespec="microseconds"),
                    row.expires_at.isoformat(timespec="microseconds"),
                ),
            )

    async def get(self, token_hash: str) -> ConfirmationRow | None:
        row = await self._db.fetchone("SELECT * FROM confirmations WHERE token_hash = ?", (token_hash,))
        if row is None:
            return None
        return ConfirmationRow(
            token_hash=row["token_hash"],
            principal=row["principal"],
            command=row["command"],
            component=row["component"],
            params=row["params"],
            state_fingerprint=row["state_fingerprint"],
            issued_at=datetime.fromisoformat(row["issued_at"]),
            expires_at=datetime.fromisoformat(row["expires_at"]),
            used_at=datetime.fromisoformat(row["used_at"]) if row["used_at"] else None,
        )

    async def consume(self, token_hash: str, now: datetime) -> bool:
        """Mark the token used if it is still unused and unexpired. Atomic: of two racing callers, one wins."""
        changed = await self._db.execute(
            "UPDATE confirmations SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
            (now.isoformat(timespec="microseconds"), token_hash, now.isoformat(timespec="microseconds")),
        )
        return changed == 1

    async def purge_expired(self, before: datetime) -> int:
        """Drop tokens that expired before the given time; returns how many."""
        return await self._db.execute(
            "DELETE FROM confirmations WHERE expires_at < ?", (before.isoformat(timespec="microseconds"),)
        )
