"""The asset registry's table. Publishing archives the version published before in the same write transaction,
and the database holds the rules too: one published version per asset (a partial unique index), and no change to
a version once it left draft (a trigger)."""

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from server.storage.database import Database


@dataclass(frozen=True, slots=True)
class StoredAsset:
    id: str
    asset_type: str
    asset_id: str
    version: str
    name: str
    description: str
    status: str
    author: str
    metadata: dict[str, Any]
    content: dict[str, Any]
    created_at: datetime
    published_at: datetime | None


class Outcome(Enum):
    DONE = "done"
    MISSING = "missing"
    IMMUTABLE = "immutable"
    EXISTS = "exists"


def asset_key(asset_type: str, asset_id: str, version: str) -> str:
    return f"asset_{asset_type}_{asset_id}_{version}"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


_COLUMNS = (
    "id, asset_type, asset_id, version, name, description, status, author, metadata, content, created_at, published_at"
)


def _asset(row: sqlite3.Row) -> StoredAsset:
    return StoredAsset(
        id=row["id"],
        asset_type=row["asset_type"],
        asset_id=row["asset_id"],
        version=row["version"],
        name=row["name"],
        description=row["description"],
        status=row["status"],
        author=row["author"],
        metadata=json.loads(row["metadata"]),
        content=json.loads(row["content"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        published_at=datetime.fromisoformat(row["published_at"]) if row["published_at"] else None,
    )


_INSERT = f"INSERT OR IGNORE INTO orch_assets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _row(asset: StoredAsset) -> tuple[Any, ...]:
    return (
        asset.id,
        asset.asset_type,
        asset.asset_id,
        asset.version,
        asset.name,
        asset.description,
        asset.status,
        asset.author,
        _json(asset.metadata),
        _json(asset.content),
        asset.created_at.isoformat(),
        asset.published_at.isoformat() if asset.published_at else None,
    )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


class AssetRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def versions(
        self, asset_type: str, *, version: str | None = None, status: str | None = None, asset_id: str | None = None
    ) -> list[StoredAsset]:
        """Versions of `asset_type`, by asset and then newest version first."""
        clauses, params = ["asset_type = ?"], [asset_type]
        for column, value in (("version", version), ("status", status), ("asset_id", asset_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        rows = await self._db.fetchall(f"SELECT {_COLUMNS} FROM orch_assets WHERE {' AND '.join(clauses)}", params)
        assets = [_asset(row) for row in rows]
        assets.sort(key=lambda a: _version_key(a.version), reverse=True)
        assets.sort(key=lambda a: a.asset_id)
        return assets

    async def get(self, asset_type: str, asset_id: str, version: str) -> StoredAsset | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM orch_assets WHERE id = ?", (asset_key(asset_type, asset_id, version),)
        )
        return _asset(row) if row is not None else None

    async def published(self) -> list[StoredAsset]:
        rows = await self._db.fetchall(f"SELECT {_COLUMNS} FROM orch_assets WHERE status = 'published'")
        return [_asset(row) for row in rows]

    async def insert(self, asset: StoredAsset) -> Outcome:
        """Add a version; EXISTS (nothing written) when that type, asset and version is there already."""
        cursor_rows = await self._db.execute(_INSERT, _row(asset))
        return Outcome.DONE if cursor_rows == 1 else Outcome.EXISTS

    async def seed(self, assets: Sequence[StoredAsset]) -> list[str]:
        """Add each of `assets` whose asset has no version at all, in one transaction; returns the ids added."""
        added = []
        async with self._db.transaction() as conn:
            for asset in assets:
                async with conn.execute(
                    "SELECT 1 FROM orch_assets WHERE asset_type = ? AND asset_id = ? LIMIT 1",
                    (asset.asset_type, asset.asset_id),
                ) as cursor:
                    if await cursor.fetchone() is not None:
                        continue
                await conn.execute(_INSERT, _row(asset))
                added.append(asset.id)
        return added

    async def update_draft(self, asset_type: str, asset_id: str, version: str, changes: dict[str, Any]) -> Outcome:
        """Change a draft's name, description, metadata or content; IMMUTABLE for any other status."""
        key = asset_key(asset_type, asset_id, version)
        async with self._db.transaction() as conn:
            async with conn.execute("SELECT status FROM orch_assets WHERE id = ?", (key,)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return Outcome.MISSING
            if row[0] != "draft":
                return Outcome.IMMUTABLE
            for column in ("name", "description", "metadata", "content"):
                if column in changes:
                    value = changes[column]
                    await conn.execute(
                        f"UPDATE orch_assets SET {column} = ? WHERE id = ?",
                        (value if isinstance(value, str) else _json(value), key),
                    )
        return Outcome.DONE

    async def publish(self, asset_type: str, asset_id: str, version: str, at: datetime) -> tuple[Outcome, str | None]:
        """Publish a version, archiving the one published before (whose version comes back), in one transaction:
        of two concurrent publishes the second sees the first's result, so one version stays published."""
        key = asset_key(asset_type, asset_id, version)
        async with self._db.transaction() as conn:
            async with conn.execute("SELECT status FROM orch_assets WHERE id = ?", (key,)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return Outcome.MISSING, None
            async with conn.execute(
                "SELECT version FROM orch_assets WHERE asset_type = ? AND asset_id = ? AND status = 'published'",
                (asset_type, asset_id),
            ) as cursor:
                previous = await cursor.fetchone()
            if previous is not None and previous[0] == version:
                return Outcome.DONE, None
            await conn.execute(
                "UPDATE orch_assets SET status = 'archived' WHERE asset_type = ? AND asset_id = ? "
                "AND status = 'published'",
                (asset_type, asset_id),
            )
            await conn.execute(
                "UPDATE orch_assets SET status = 'published', published_at = ? WHERE id = ?", (at.isoformat(), key)
            )
        return Outcome.DONE, previous[0] if previous is not None else None
