"""Database: owns the single aiosqlite connection, applies migrations, serializes write transactions."""

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

MIGRATIONS_PACKAGE = "server.storage.migrations"


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    """Owns the SQLite connections: one writer, whose transactions are serialized by a lock so two coroutines
    never interleave statements of different transactions, and one reader, which in WAL mode sees only committed
    data and never waits for (or holds up) the writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        """The writer connection."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        return self._writer

    @property
    def _read_conn(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("database is not open")
        return self._reader

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await _pragma(self._writer, "journal_mode=WAL")
        self._reader = await self._connect()
        await _pragma(self._reader, "query_only=ON")

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await _pragma(conn, "busy_timeout=5000")
        # FULL: a commit (a command's audit entry, a used confirm token) survives power loss, not only a crash.
        await _pragma(conn, "synchronous=FULL")
        await _pragma(conn, "foreign_keys=ON")
        return conn

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    async def migrate(self) -> list[str]:
        """Apply every migration not applied yet, each in its own transaction. Returns the names applied."""
        await self.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
        )
        applied = {row[0] for row in await self.fetchall("SELECT version FROM schema_migrations")}
        done = []
        for version, name, sql in _migrations():
            if version in applied:
                continue
            async with self.transaction() as conn:
                for statement in _statements(sql):
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
            done.append(name)
        return done

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            conn = self.conn
            try:
                await conn.execute("BEGIN IMMEDIATE")
                yield conn
            except BaseException:
                # Even when cancelled mid-BEGIN the statement still runs on the connection's thread; a ROLLBACK
                # queued behind it always undoes it, so the writer is never left inside a transaction.
                with contextlib.suppress(sqlite3.OperationalError):
                    await asyncio.shield(conn.execute("ROLLBACK"))
                raise
            else:
                await conn.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """The reader connection, for a long read (a cursor walked row by row) of one consistent snapshot."""
        conn = self._read_conn
        await conn.execute("BEGIN")
        try:
            yield conn
        finally:
            with contextlib.suppress(sqlite3.OperationalError):
                await asyncio.shield(conn.execute("COMMIT"))

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One write statement, atomic on its own (the connection autocommits outside BEGIN): one round trip to
        the database thread instead of three. Returns the affected row count. A caller cancelled while waiting
        cannot tell whether it ran: the statement still runs to the end on the database thread (before anything
        the writer does next, as the thread takes its work in order)."""
        async with self._write_lock:
            cursor = await self.conn.execute(sql, tuple(params))
            return cursor.rowcount

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self._read_conn.execute(sql, tuple(params)) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._read_conn.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())


async def _pragma(conn: aiosqlite.Connection, setting: str) -> None:
    # Read the answer to the end: a PRAGMA's open cursor would keep a read lock on the database.
    async with conn.execute(f"PRAGMA {setting}") as cursor:
        await cursor.fetchall()


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]
