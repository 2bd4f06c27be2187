"""Database: owns the aiosqlite connections, applies migrations, serializes write transactions, and keeps the
data dir and the database's files private to the server's user."""

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

MIGRATIONS_PACKAGE = "server.storage.migrations"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# How long a statement waits for another connection's write lock before SQLite gives up with "database is locked"
# (SQLITE_BUSY). Every connection to the database file uses it, the audit writer's too.
BUSY_TIMEOUT_MS = 5000


def database_busy(exc: BaseException | None) -> bool:
    """Whether `exc`, or what caused it, is SQLite's busy (SQLITE_BUSY, "database is locked"): another connection
    held the lock past the busy timeout. Such a write did not happen and may well succeed shortly; it is no defect
    of this server. SQLITE_LOCKED ("database table is locked") is not: it is a conflict on one connection (a
    statement left open while another changes the table), a defect of ours, which waiting does not cure."""
    while exc is not None:
        if isinstance(exc, sqlite3.OperationalError):
            code = getattr(exc, "sqlite_errorcode", None)
            if code is not None:
                return code & 0xFF == sqlite3.SQLITE_BUSY  # extended codes keep the primary one in their low byte
            return str(exc).startswith("database is locked")
        exc = exc.__cause__
    return False


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def make_private_dir(path: Path) -> None:
    """Create `path` (and its parents) if missing; the directory itself 0700, whatever the umask. An existing
    directory keeps its mode: its owner chose it."""
    if not path.is_dir():
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, PRIVATE_DIR_MODE)


def make_private_file(path: Path) -> None:
    """Create `path` empty if missing, and make it 0600 either way (files of earlier versions were 0644)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
    os.chmod(path, PRIVATE_FILE_MODE)


class ReadConnection:
    """One read-only connection. In WAL mode it sees only committed data and never waits for (or holds up) the
    writer; its statements run one at a time, on its own thread."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        # Held by a snapshot for its whole read transaction: a read of another coroutine on the connection in
        # between would run inside it and miss every commit since it began (a worker picking a delivery that
        # was already sent, say).
        self._snapshot = asyncio.Lock()

    # Each read runs to its end in one call on the connection's thread: a statement left open between calls would
    # keep its snapshot, and another read on the connection in between would not see later commits.
    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self._snapshot:
            rows = await self.conn.execute_fetchall(sql, tuple(params))
        return next(iter(rows), None)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._snapshot:
            return list(await self.conn.execute_fetchall(sql, tuple(params)))

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection inside one read transaction: one consistent snapshot for a long read. Other reads on the
        connection wait until it ends."""
        async with self._snapshot:
            await self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                with contextlib.suppress(sqlite3.OperationalError):
                    await asyncio.shield(self.conn.execute("COMMIT"))


class Database:
    """Owns the SQLite connections: one writer, whose transactions are serialized by a lock so two coroutines
    never interleave statements of different transactions, and two readers. The hot reader answers the short
    lookups on the request path (tokens, confirmations); `long_reads` takes the audit log's pages and searches,
    so that however many of those queue up, a sign-in or a confirmation never waits behind them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: ReadConnection | None = None
        self._long_reads: ReadConnection | None = None
        self._write_lock = asyncio.Lock()
        # When the last write failed busy (another connection held the write lock), if it did: None once a write
        # got the lock or failed otherwise.
        self._busy_since: float | None = None

    @property
    def conn(self) -> aiosqlite.Connection:
        """The writer connection."""
        if self._writer is None:
            raise RuntimeError("database is not open")
        return self._writer

    @property
    def _hot(self) -> ReadConnection:
        if self._reader is None:
            raise RuntimeError("database is not open")
        return self._reader

    @property
    def long_reads(self) -> ReadConnection:
        """The reader for long reads (audit pages and searches), apart from the hot path's."""
        if self._long_reads is None:
            raise RuntimeError("database is not open")
        return self._long_reads

    async def open(self) -> None:
        make_private_dir(self.path.parent)
        # SQLite gives the -wal and -shm files the database file's mode; files an earlier version left are fixed.
        for path in (self.path, *(self.path.with_name(self.path.name + s) for s in ("-wal", "-shm"))):
            if path == self.path or path.exists():
                make_private_file(path)
        self._writer = await self._connect()
        await _pragma(self._writer, "journal_mode=WAL")
        self._reader = ReadConnection(await self._read_only())
        self._long_reads = ReadConnection(await self._read_only())

    async def _read_only(self) -> aiosqlite.Connection:
        conn = await self._connect()
        await _pragma(conn, "query_only=ON")
        return conn

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await _pragma(conn, f"busy_timeout={BUSY_TIMEOUT_MS}")
        # FULL: a commit (a command's audit entry, a used confirm token) survives power loss, not only a crash.
        await _pragma(conn, "synchronous=FULL")
        await _pragma(conn, "foreign_keys=ON")
        return conn

    async def close(self) -> None:
        for reader in (self._long_reads, self._reader):
            if reader is not None:
                await reader.conn.close()
        if self._writer is not None:
            await self._writer.close()
        self._reader = self._long_reads = None
        self._writer = None

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
    async def _writing(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writer, under the write lock. While another connection holds the database's write lock, each write
        waits the busy timeout before failing; writes that queued behind one that failed so fail at once (with
        the same busy error) rather than wait it out one after another: a burst of N writes would otherwise
        answer only after N busy timeouts. Only behind a busy failure of the last busy timeout: a write that finds
        the lock free, or queued behind anything else (a success, any other failure, a busy failure older than
        that), always tries."""
        queued = self._write_lock.locked()
        async with self._write_lock:
            busy_since = self._busy_since
            if queued and busy_since is not None and time.monotonic() - busy_since < BUSY_TIMEOUT_MS / 1000:
                raise sqlite3.OperationalError("database is locked (the write before this one found it locked)")
            try:
                yield self.conn
            except BaseException as exc:
                self._busy_since = time.monotonic() if database_busy(exc) else None
                raise
            self._busy_since = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._writing() as conn:
            try:
                await conn.execute("BEGIN IMMEDIATE")
                self._busy_since = None  # the write lock is ours: whatever the busy was, it is over
                yield conn
            except BaseException:
                # Even when cancelled mid-BEGIN the statement still runs on the connection's thread; a ROLLBACK
                # queued behind it always undoes it, so the writer is never left inside a transaction.
                with contextlib.suppress(sqlite3.OperationalError):
                    await asyncio.shield(conn.execute("ROLLBACK"))
                raise
            else:
                await conn.execute("COMMIT")

    def reading(self) -> contextlib.AbstractAsyncContextManager[aiosqlite.Connection]:
        """The hot reader inside one read transaction (one consistent snapshot)."""
        return self._hot.snapshot()

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One write statement, atomic on its own (the connection autocommits outside BEGIN): one round trip to
        the database thread instead of three. Returns the affected row count. A caller cancelled while waiting
        cannot tell whether it ran: the statement still runs to the end on the database thread (before anything
        the writer does next, as the thread takes its work in order)."""
        async with self._writing() as conn:
            cursor = await conn.execute(sql, tuple(params))
            return cursor.rowcount

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        """A short read on the hot reader."""
        return await self._hot.fetchone(sql, params)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """A short read on the hot reader."""
        return await self._hot.fetchall(sql, params)


async def _pragma(conn: aiosqlite.Connection, setting: str) -> None:
    # Read the answer to the end: a PRAGMA's open cursor would keep a read lock on the database.
    async with conn.execute(f"PRAGMA {setting}") as cursor:
        await cursor.fetchall()


def _statements(sql: str) -> list[str]:
    """The statements of a migration, split at the semicolons that end one (not those inside a trigger's body)."""
    statements, current = [], ""
    for piece in sql.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                statements.append(current.strip())
            current = ""
    if current.strip(" \n;"):
        statements.append(current.strip())
    return statements
