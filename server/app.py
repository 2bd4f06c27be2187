"""create_app(): wires storage, the plant, services, routes and the request pipeline into one aiohttp application."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from server.clock import Clock, SystemClock
from server.http import control as control_routes
from server.http.auth import check_routes_declare_access
from server.http.pipeline import request_pipeline
from server.http.rate_limit import create_rate_limiter
from server.keys import AUDIT, CLOCK, CONTROL, DB, PLANT, SETTINGS, TOKENS
from server.plant.plant import Plant
from server.services.audit import AuditTrail
from server.services.confirmations import ConfirmationService
from server.services.control import ControlService
from server.services.playbook import Playbook
from server.services.tokens import TokenService
from server.settings import Settings
from server.storage.audit import AuditRepository
from server.storage.audit_writer import AuditWriter
from server.storage.confirmations import ConfirmationRepository
from server.storage.database import Database
from server.storage.tokens import TokenRepository

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, clock: Clock | None = None, plant: Plant | None = None) -> web.Application:
    clock = clock or SystemClock()
    app = web.Application(client_max_size=settings.max_body_bytes)
    # One middleware running the cross-cutting stages in order (server/http/pipeline.py says why one).
    app.middlewares.append(request_pipeline(app))
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[PLANT] = plant or Plant(clock, seed=settings.plant_seed, restart_seconds=settings.restart_seconds)
    create_rate_limiter(app)

    app.cleanup_ctx.append(_storage)
    app.cleanup_ctx.append(_services)
    app.cleanup_ctx.append(_plant_simulation)

    control_routes.setup(app)
    check_routes_declare_access(app)
    return app


async def _storage(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = Database(settings.database_path)
    await db.open()
    await db.migrate()
    app[DB] = db
    yield
    await db.close()


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings, clock, db = app[SETTINGS], app[CLOCK], app[DB]
    if not settings.playbook_path.is_file():
        raise RuntimeError(f"operator playbook not found at {settings.playbook_path}; set OPS_PLAYBOOK_PATH")
    admin = settings.api_token.get_secret_value() if settings.api_token else None
    tokens = TokenService(TokenRepository(db), clock, admin_token=admin, cache_seconds=settings.token_cache_seconds)
    created = await tokens.ensure_bootstrap_admin(settings.admin_token_file)
    if created is not None:
        log.warning("no API token existed: created an admin token, readable only by you, in %s", created)
    audit = AuditTrail(
        AuditWriter(settings.database_path, settings.audit_writer),
        AuditRepository(db),
        batch_rows=settings.audit_batch_rows,
        batch_ms=settings.audit_batch_ms,
    )
    control = ControlService(
        plant=app[PLANT],
        playbook=Playbook.load(settings.playbook_path),
        audit=audit,
        confirmations=ConfirmationService(ConfirmationRepository(db), clock, ttl_seconds=settings.confirm_ttl_seconds),
        controller_enabled=settings.controller_enabled,
    )
    # Last: it starts the audit writer process, which nothing after it could fail to stop.
    await audit.start()
    app[TOKENS] = tokens
    app[AUDIT] = audit
    app[CONTROL] = control
    yield
    await audit.stop()


async def _plant_simulation(app: web.Application) -> AsyncIterator[None]:
    plant, interval = app[PLANT], app[SETTINGS].plant_tick_seconds

    async def run() -> None:
        while True:
            await asyncio.sleep(interval)
            plant.tick()

    task = asyncio.create_task(run(), name="plant-simulation")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
