"""RunbookRepository: runbook executions, their log lines, the idempotency keys and the one-run-per-environment
lock, in SQL. Times are stored as ISO 8601 text in UTC, so they sort as text."""

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.storage.database import Database


def iso(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class StoredRun:
    run_id: int
    request_id: str
    environment: str
    command: str
    fingerprint: str
    request: dict[str, Any]
    principal: str | None
    status: str
    exit_code: int | None
    started_at: datetime
    finished_at: datetime | None
    health: dict[str, Any] | None
    response_status: int | None
    response_body: bytes | None
    token_name: str | None
    token_expires_at: datetime | None
    abort_requested: bool
    owner: str | None  # the server process running it (`namespace:pid:nonce`), None for runs from before owners
    script_pgid: int | None  # its script's process group: 0 while the script is being started, None before


@dataclass(frozen=True, slots=True)
class StoredLog:
    seq: int
    at: datetime
    level: str
    message: str


@dataclass(frozen=True, slots=True)
class NewRun:
    request_id: str
    environment: str
    command: str
    fingerprint: str
    request: dict[str, Any]
    principal: str | None
    started_at: datetime
    token_name: str | None
    token_expires_at: datetime | None
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Begun:
    run_id: int


@dataclass(frozen=True, slots=True)
class Existing:
    """The request id was used before: the run it names."""

    run: StoredRun


@dataclass(frozen=True, slots=True)
class Busy:
    """Another run holds the environment."""

    run: StoredRun


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _run(row: sqlite3.Row) -> StoredRun:
    started = _time(row["started_at"])
    assert started is not None
    return StoredRun(
        run_id=row["run_id"],
        request_id=row["request_id"],
        environment=row["environment"],
        command=row["command"],
        fingerprint=row["fingerprint"],
        request=json.loads(row["request"]),
        principal=row["principal"],
        status=row["status"],
        exit_code=row["exit_code"],
        started_at=started,
        finished_at=_time(row["finished_at"]),
        health=json.loads(row["health"]) if row["health"] else None,
        response_status=row["response_status"],
        response_body=bytes(row["response_body"]) if row["response_body"] is not None else None,
        token_name=row["token_name"],
        token_expires_at=_time(row["token_expires_at"]),
        abort_requested=bool(row["abort_requested"]),
        owner=row["owner"],
        script_pgid=row["script_pgid"],
    )


class RunbookRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def begin(self, new: NewRun) -> Begun | Existing | Busy:
        """Claim `new.request_id` and the environment in one write transaction: the id's earlier run if it has
        one, else the run holding the environment, else the new run's id. Transactions are serialized (and
        BEGIN IMMEDIATE across processes), so of racing requests with one id exactly one gets `Begun`."""
        async with self._db.transaction() as conn:
            async with conn.execute("SELECT * FROM runbook_runs WHERE request_id = ?", (new.request_id,)) as cur:
                row = await cur.fetchone()
            if row is not None:
                return Existing(_run(row))
            async with conn.execute(
                "SELECT * FROM runbook_runs WHERE environment = ? AND status = 'running'", (new.environment,)
            ) as cur:
                row = await cur.fetchone()
            if row is not None:
                return Busy(_run(row))
            cursor = await conn.execute(
                "INSERT INTO runbook_runs (request_id, environment, command, fingerprint, request, principal, "
                "status, started_at, token_name, token_expires_at, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                (
                    new.request_id,
                    new.environment,
                    new.command,
                    new.fingerprint,
                    json.dumps(new.request, sort_keys=True, separators=(",", ":")),
                    new.principal,
                    iso(new.started_at),
                    new.token_name,
                    iso(new.token_expires_at) if new.token_expires_at else None,
                    new.owner,
                ),
            )
            run_id = cursor.lastrowid
            assert run_id is not None
            return Begun(run_id)

    async def get(self, request_id: str) -> StoredRun | None:
        row = await self._db.fetchone("SELECT * FROM runbook_runs WHERE request_id = ?", (request_id,))
        return _run(row) if row else None

    async def by_id(self, run_id: int) -> StoredRun | None:
        row = await self._db.fetchone("SELECT * FROM runbook_runs WHERE run_id = ?", (run_id,))
        return _run(row) if row else None

    async def running(self, environment: str) -> StoredRun | None:
        row = await self._db.fetchone(
            "SELECT * FROM runbook_runs WHERE environment = ? AND status = 'running'", (environment,)
        )
        return _run(row) if row else None

    async def is_running_token(self, token_name: str) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM runbook_runs WHERE token_name = ? AND status = 'running'", (token_name,)
        )
        return row is not None

    async def append_logs(self, run_id: int, first_seq: int, lines: Sequence[tuple[datetime, str, str]]) -> None:
        if not lines:
            return
        rows = [(run_id, first_seq + i, iso(at), level, message) for i, (at, level, message) in enumerate(lines)]
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT OR IGNORE INTO runbook_logs (run_id, seq, at, level, message) VALUES (?, ?, ?, ?, ?)", rows
            )

    async def logs(self, run_id: int, offset: int = 0) -> list[StoredLog]:
        rows = await self._db.fetchall(
            "SELECT seq, at, level, message FROM runbook_logs WHERE run_id = ? AND seq >= ? ORDER BY seq",
            (run_id, offset),
        )
        return [StoredLog(r["seq"], datetime.fromisoformat(r["at"]), r["level"], r["message"]) for r in rows]

    async def finish(
        self,
        run_id: int,
        *,
        status: str,
        exit_code: int | None,
        finished_at: datetime,
        health: dict[str, Any] | None,
        response_status: int,
        response_body: bytes,
    ) -> bool:
        """Record how the run ended and the answer to replay; False if it had ended already."""
        changed = await self._db.execute(
            "UPDATE runbook_runs SET status = ?, exit_code = ?, finished_at = ?, health = ?, response_status = ?, "
            "response_body = ? WHERE run_id = ? AND status = 'running'",
            (
                status,
                exit_code,
                iso(finished_at),
                json.dumps(health, separators=(",", ":")) if health is not None else None,
                response_status,
                response_body,
                run_id,
            ),
        )
        return changed == 1

    async def request_abort(self, run_id: int) -> bool:
        changed = await self._db.execute(
            "UPDATE runbook_runs SET abort_requested = 1 WHERE run_id = ? AND status = 'running'", (run_id,)
        )
        return changed == 1

    async def abort_requested(self, run_id: int) -> bool:
        row = await self._db.fetchone("SELECT abort_requested FROM runbook_runs WHERE run_id = ?", (run_id,))
        return bool(row and row[0])

    async def page(self, *, before: int | None, limit: int, command: str | None = None) -> list[StoredRun]:
        """Runs newest first, those with run_id below `before` (all when None)."""
        clauses: list[str] = []
        params: list[int | str] = []
        if before is not None:
            clauses.append("run_id < ?")
            params.append(before)
        if command is not None:
            clauses.append("command = ?")
            params.append(command)
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        rows = await self._db.fetchall(
            f"SELECT * FROM runbook_runs {where}ORDER BY run_id DESC LIMIT ?", (*params, limit)
        )
        return [_run(r) for r in rows]

    async def last_exit_codes(self) -> dict[str, int]:
        """Each command's exit code in its newest finished run that had one."""
        rows = await self._db.fetchall(
            "SELECT command, exit_code FROM runbook_runs WHERE run_id IN (SELECT MAX(run_id) FROM runbook_runs "
            "WHERE exit_code IS NOT NULL GROUP BY command)"
        )
        return {r["command"]: r["exit_code"] for r in rows}

    async def with_health(self, limit: int) -> list[StoredRun]:
        rows = await self._db.fetchall(
            "SELECT * FROM runbook_runs WHERE health IS NOT NULL ORDER BY run_id DESC LIMIT ?", (limit,)
        )
        return [_run(r) for r in rows]

    async def running_with_owner(self) -> list[StoredRun]:
        """The runs marked running that name the process running them."""
        rows = await self._db.fetchall("SELECT * FROM runbook_runs WHERE status = 'running' AND owner IS NOT NULL")
        return [_run(r) for r in rows]

    async def script_starting(self, run_id: int) -> None:
        """The run's script is about to be started: until its process group is recorded, it may be running."""
        await self._db.execute("UPDATE runbook_runs SET script_pgid = 0 WHERE run_id = ?", (run_id,))

    async def script_started(self, run_id: int, pgid: int) -> None:
        """The run's script runs in process group `pgid` (of the owner's PID namespace)."""
        await self._db.execute("UPDATE runbook_runs SET script_pgid = ? WHERE run_id = ?", (pgid, run_id))

    async def tokens_expired(self, now: datetime) -> list[StoredRun]:
        """Runs past their deadline (`token_expires_at`) whose token is not yet revoked."""
        rows = await self._db.fetchall("SELECT * FROM runbook_runs WHERE token_expires_at < ?", (iso(now),))
        return [_run(r) for r in rows]

    async def token_revoked(self, run_id: int) -> None:
        """The run's token is revoked (or it had none): the sweep is done with it."""
        await self._db.execute("UPDATE runbook_runs SET token_expires_at = NULL WHERE run_id = ?", (run_id,))
