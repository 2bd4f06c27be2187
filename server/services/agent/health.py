"""Health of what the agent family depends on: the database, the audit writer, the plant and the reasoner; and
readiness (the database answers and every migration is applied)."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Literal

from server.plant.plant import Plant
from server.services.audit import AuditTrail
from server.services.reasoning import Reasoner
from server.storage.database import MIGRATIONS_PACKAGE, Database
from shared.agent import HealthCheck, HealthReport

CHECK_TIMEOUT_SECONDS = 2.0


CheckName = Literal["database", "audit_writer", "plant", "reasoner"]


async def _timed(name: CheckName, check: Callable[[], Awaitable[str]]) -> HealthCheck:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        return HealthCheck(name=name, status="ok", detail=detail, latency_ms=_since(started))
    except TimeoutError:
        detail = f"no answer within {CHECK_TIMEOUT_SECONDS:.0f} s"
    except Exception as exc:  # a health check reports any failure rather than raising it
        detail = f"{type(exc).__name__}: {exc}"
    return HealthCheck(name=name, status="failing", detail=detail, latency_ms=_since(started))


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def migration_versions() -> set[int]:
    return {
        int(entry.name[:4])
        for entry in resources.files(MIGRATIONS_PACKAGE).iterdir()
        if entry.name.endswith(".sql") and entry.name[:4].isdigit()
    }


async def pending_migrations(db: Database) -> set[int]:
    rows = await db.fetchall("SELECT version FROM schema_migrations")
    return migration_versions() - {int(r[0]) for r in rows}


async def health_report(db: Database, audit: AuditTrail, plant: Plant, reasoner: Reasoner) -> HealthReport:
    async def database() -> str:
        pending = await pending_migrations(db)
        if pending:
            raise RuntimeError(f"migrations not applied: {sorted(pending)}")
        return "answers; every migration applied"

    async def audit_writer() -> str:
        await audit.flush()
        return "commits"

    async def plant_check() -> str:
        snapshot = plant.snapshot()
        return f"mode {snapshot.mode}"

    async def reasoner_check() -> str:
        ok, detail = reasoner.health()
        if not ok:
            raise RuntimeError(detail)
        return detail

    checks = [
        await _timed("database", database),
        await _timed("audit_writer", audit_writer),
        await _timed("plant", plant_check),
        await _timed("reasoner", reasoner_check),
    ]
    failing = any(c.status == "failing" for c in checks)
    return HealthReport(status="failing" if failing else "ok", checks=checks)
