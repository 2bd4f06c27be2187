"""The CMDB's tables: configuration items and their relations. Reads filter in SQL on indexed columns; the plant's
components are kept apart (`plant_rows`) because their status is the plant's, not the stored one."""

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from server.storage.database import Database


@dataclass(frozen=True, slots=True)
class NewCi:
    name: str
    ci_type: str
    environment: str
    status: str
    owner: str
    description: str
    plant_component: str | None = None


@dataclass(frozen=True, slots=True)
class NewRelation:
    source: str
    relation: str
    target: str


@dataclass(frozen=True, slots=True)
class Ci:
    ci_id: int
    name: str
    ci_type: str
    environment: str
    status: str
    owner: str
    description: str
    plant_component: str | None


@dataclass(frozen=True, slots=True)
class CiFilter:
    """Each field narrows to the values listed; an empty tuple leaves it open."""

    ci_types: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    def matches(self, ci: Ci) -> bool:
        return all(
            not wanted or value in wanted
            for wanted, value in (
                (self.ci_types, ci.ci_type),
                (self.environments, ci.environment),
                (self.statuses, ci.status),
                (self.owners, ci.owner),
                (self.names, ci.name),
            )
        )


@dataclass(frozen=True, slots=True)
class Related:
    direction: str  # "outbound" (the CI -> other) or "inbound" (other -> the CI)
    relation: str
    ci: Ci


@dataclass
class _Where:
    clauses: list[str] = field(default_factory=lambda: ["plant_component IS NULL"])
    params: list[str] = field(default_factory=list)

    def any_of(self, column: str, values: Sequence[str]) -> None:
        if values:
            self.clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            self.params.extend(values)

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses)


_COLUMNS = "ci_id, name, ci_type, environment, status, owner, description, plant_component"


def _ci(row: sqlite3.Row) -> Ci:
    return Ci(*(row[i] for i in range(8)))


class CmdbRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def seed_if_empty(self, cis: Sequence[NewCi], relations: Sequence[NewRelation]) -> bool:
        """Load the seed into an empty CMDB in one transaction; False (nothing written) when it holds CIs already."""
        async with self._db.transaction() as conn:
            async with conn.execute("SELECT 1 FROM cmdb_cis LIMIT 1") as cursor:
                if await cursor.fetchone() is not None:
                    return False
            await conn.executemany(
                "INSERT INTO cmdb_cis (name, ci_type, environment, status, owner, description, plant_component) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(c.name, c.ci_type, c.environment, c.status, c.owner, c.description, c.plant_component) for c in cis],
            )
            await conn.executemany(
                "INSERT OR IGNORE INTO cmdb_relations (source_id, relation, target_id) "
                "SELECT s.ci_id, ?, t.ci_id FROM cmdb_cis s, cmdb_cis t WHERE s.name = ? AND t.name = ?",
                [(r.relation, r.source, r.target) for r in relations],
            )
        return True

    async def find(self, where: CiFilter, limit: int) -> tuple[list[Ci], int]:
        """CIs other than the plant's matching `where`, by name, at most `limit`; and how many match in all."""
        clause = _Where()
        clause.any_of("ci_type", where.ci_types)
        clause.any_of("environment", where.environments)
        clause.any_of("status", where.statuses)
        clause.any_of("owner", where.owners)
        clause.any_of("name", where.names)
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM cmdb_cis WHERE {clause.sql} ORDER BY name LIMIT ?", [*clause.params, limit]
        )
        total = await self._db.fetchone(f"SELECT COUNT(*) FROM cmdb_cis WHERE {clause.sql}", clause.params)
        return [_ci(row) for row in rows], int(total[0]) if total is not None else 0

    async def plant_rows(self) -> list[Ci]:
        rows = await self._db.fetchall(f"SELECT {_COLUMNS} FROM cmdb_cis WHERE plant_component IS NOT NULL")
        return [_ci(row) for row in rows]

    async def by_names(self, names: Sequence[str]) -> list[Ci]:
        if not names:
            return []
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM cmdb_cis WHERE name IN ({','.join('?' * len(names))})", list(names)
        )
        return [_ci(row) for row in rows]

    async def related(self, ci_id: int, limit: int) -> list[Related]:
        """The CIs `ci_id` points at and those pointing at it, at most `limit` of each direction."""
        outbound = await self._db.fetchall(
            f"SELECT r.relation, {', '.join('c.' + c for c in _COLUMNS.split(', '))} FROM cmdb_relations r "
            "JOIN cmdb_cis c ON c.ci_id = r.target_id WHERE r.source_id = ? ORDER BY r.relation, c.name LIMIT ?",
            (ci_id, limit),
        )
        inbound = await self._db.fetchall(
            f"SELECT r.relation, {', '.join('c.' + c for c in _COLUMNS.split(', '))} FROM cmdb_relations r "
            "JOIN cmdb_cis c ON c.ci_id = r.source_id WHERE r.target_id = ? ORDER BY r.relation, c.name LIMIT ?",
            (ci_id, limit),
        )
        return [Related("outbound", row[0], Ci(*(row[i] for i in range(1, 9)))) for row in outbound] + [
            Related("inbound", row[0], Ci(*(row[i] for i in range(1, 9)))) for row in inbound
        ]

    async def count(self) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM cmdb_cis")
        return int(row[0]) if row is not None else 0
