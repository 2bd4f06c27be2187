"""create_app(): the application every family plugs into — settings, clock and plant, the request pipeline, the
resources every family shares (database, audit trail, tokens, the plant's simulation) — and then each family's
`setup(app)`, which adds its routes, its cleanup context and its keys."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from server.clock import Clock, SystemClock
from server.http import agent, control, inspector, live, metrics, openapi, orchestration, runbooks, webhooks
from server.http.pipeline import request_pipeline
from server.http.rate_limit import create_rate_limiter
from server.http.request_metrics import setup_request_metrics
from server.http.routes import check_routes_at_startup
from server.keys import AUDIT, CLOCK, DB, PLANT, SETTINGS, TOKENS
from server.plant.plant import Plant
from server.services.audit import audit_trail_for
from server.services.housekeeping import housekeeping
from server.services.tokens import TokenService
from server.settings import Settings
from server.storage.database import Database
from server.storage.tokens import TokenRepository

log = logging.getLogger(__name__)

# The families' setups, in the order their cleanup contexts start. A new family adds its line here.
FAMILIES: tuple[Callable[[web.Application], None], ...] = (
    control.setup,
    metrics.setup,
    runbooks.setup,
    live.setup,
    agent.setup,
    webhooks.setup,  # before orchestration: it puts the EventSink orchestration emits into under EVENTS
    orchestration.setup,
    inspector.setup,  # after orchestration: it stands on its trace repository
    openapi.setup,  # GET /openapi.json, the document of all of the above
)


def create_app(settings: Settings, *, clock: Clock | None = None, plant: Plant | None = None) -> web.Application:
    clock = clock or SystemClock()
    app = web.Application(client_max_size=settings.max_body_bytes)
    # One middleware running the cross-cutting stages in order (server/http/pipeline.py says why one).
    app.middlewares.append(request_pipeline(app))
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[PLANT] = plant or Plant(clock, seed=settings.plant_seed, restart_seconds=settings.restart_seconds)
    create_rate_limiter(app)
    setup_request_metrics(app)

    # The database first (nothing runs yet to be stopped if it cannot open), then the audit trail: whatever fails
    # to start after it, aiohttp's clean-up stops its writer. Then what every family shares, then the families.
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_audit_trail)
    app.cleanup_ctx.append(_tokens)
    app.cleanup_ctx.append(housekeeping)  # purges expired confirmations, signs and prunes the audit log
    app.cleanup_ctx.append(_plant_simulation)
    for setup in FAMILIES:
        setup(app)
    # First of the start-up hooks, before any cleanup context starts: routes added after create_app count too.
    app.on_startup.insert(0, check_routes_at_startup)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    db = Database(app[SETTINGS].database_path)
    await db.open()
    try:
        await db.migrate()
        app[DB] = db
        yield
    finally:
        await db.close()


async def _audit_trail(app: web.Application) -> AsyncIterator[None]:
    audit = audit_trail_for(app[SETTINGS], app[DB])
    await audit.start()
    app[AUDIT] = audit
    yield
    await audit.stop()


async def _tokens(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    admin = settings.api_token.get_secret_value() if settings.api_token else None
    tokens = TokenService(
        TokenRepository(app[DB]), app[CLOCK], admin_token=admin, cache_seconds=settings.token_cache_seconds
    )
    created = await tokens.ensure_bootstrap_admin(settings.admin_token_file)
    if created is not None:
        log.warning("no API token existed: created an admin token, readable only by you, in %s", created)
    app[TOKENS] = tokens
    yield


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
