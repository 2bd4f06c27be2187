"""Housekeeping: the periodic chores of a running server. Every pass purges expired confirmations (kept a few
minutes past expiry, so a late confirm still hears "expired" rather than "invalid"), signs a checkpoint of the
audit log (so an idle server's last entries do not stay unsigned), and, with a retention period set, prunes the
audit entries older than it."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

from aiohttp import web

from server.clock import Clock
from server.keys import AUDIT, CLOCK, DB, SETTINGS
from server.services.audit import AuditTrail
from server.storage.confirmations import ConfirmationRepository

log = logging.getLogger(__name__)

EXPIRED_CONFIRMATION_GRACE = timedelta(minutes=5)
INTERVAL_SECONDS = 60.0


class Housekeeping:
    def __init__(
        self,
        audit: AuditTrail,
        confirmations: ConfirmationRepository,
        clock: Clock,
        *,
        retention_days: int | None = None,
        interval_seconds: float = INTERVAL_SECONDS,
    ) -> None:
        self._audit = audit
        self._confirmations = confirmations
        self._clock = clock
        self._retention = timedelta(days=retention_days) if retention_days is not None else None
        self.interval_seconds = interval_seconds

    async def run_once(self) -> None:
        """One pass. Each chore runs even when another failed: they are logged, and tried again next pass."""
        now = self._clock.now()
        chores: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            (
                "purge expired confirmations",
                lambda: self._confirmations.purge_expired(now - EXPIRED_CONFIRMATION_GRACE),
            ),
            ("sign an audit checkpoint", self._audit.checkpoint),
        ]
        if self._retention is not None:
            cut = (now - self._retention).timestamp()
            chores.append(("prune the audit log", lambda: self._audit.prune(cut)))
        for name, chore in chores:
            try:
                await chore()
            except Exception:
                log.exception("housekeeping: cannot %s", name)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            await self.run_once()


async def housekeeping(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: runs Housekeeping beside the server, after the audit trail has started."""
    settings = app[SETTINGS]
    chores = Housekeeping(
        app[AUDIT],
        ConfirmationRepository(app[DB]),
        app[CLOCK],
        retention_days=settings.audit_retention_days,
        interval_seconds=INTERVAL_SECONDS,
    )
    task = asyncio.create_task(chores.run(), name="housekeeping")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
