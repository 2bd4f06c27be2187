"""TokenRepository: API tokens by hash. The plain token never reaches storage."""

from dataclasses import dataclass
from datetime import datetime

from server.storage.database import Database


@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    token_hash: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None


def _row(row) -> TokenRow:
    return TokenRow(
        id=row["id"],
        name=row["name"],
        token_hash=row["token_hash"],
        scopes=frozenset(s for s in row["scopes"].split(",") if s),
        created_at=datetime.fromisoformat(row["created_at"]),
        revoked_at=datetime.fromisoformat(row["revoked_at"]) if row["revoked_at"] else None,
    )


class TokenRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, name: str, token_hash: str, scopes: frozenset[str], created_at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO api_tokens (name, token_hash, scopes, created_at) VALUES (?, ?, ?, ?)",
            (name, token_hash, ",".join(sorted(scopes)), created_at.isoformat(timespec="microseconds")),
        )

    async def by_hash(self, token_hash: str) -> TokenRow | None:
        row = await self._db.fetchone("SELECT * FROM api_tokens WHERE token_hash = ?", (token_hash,))
        return _row(row) if row else None

    async def by_name(self, name: str) -> TokenRow | None:
        row = await self._db.fetchone("SELECT * FROM api_tokens WHERE name = ?", (name,))
        return _row(row) if row else None

    async def all(self) -> list[TokenRow]:
        return [_row(r) for r in await self._db.fetchall("SELECT * FROM api_tokens ORDER BY id")]

    async def count_active(self) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL")
        return int(row[0]) if row else 0

    async def revoke(self, name: str, at: datetime) -> bool:
        changed = await self._db.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (at.isoformat(timespec="microseconds"), name),
        )
        return changed == 1
