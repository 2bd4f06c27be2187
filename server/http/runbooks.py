"""The runbooks family's runbook half (contract 2-runbooks-metrics-api.md): `POST /api/ops/runbooks/execute` and
`GET /api/ops/status`; beyond the contract the run history (keyset pages), one run's state and logs (`offset` to
tail), abort; and the feed operations the shipped runbook scripts call back on (`/api/ops/feed/...`).

| method | path | scope |
|---|---|---|
| GET  | /api/ops/status | runbooks:read |
| POST | /api/ops/runbooks/execute | runbooks:execute |
| GET  | /api/ops/runbooks?limit=&cursor=&command= | runbooks:read |
| GET  | /api/ops/runbooks/{request_id}?offset= | runbooks:read |
| GET  | /api/ops/runbook-commands | runbooks:read |
| POST | /api/ops/runbooks/{request_id}/abort | runbooks:execute |
| GET  | /api/ops/feed/health | runbooks:read |
| POST | /api/ops/feed/failover, /api/ops/feed/failback | runbooks:execute, and only a running runbook's own token |
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from server.http.access import Bearer
from server.http.audit import Intent, note_audit
from server.http.context import principal_of
from server.http.envelopes import respond
from server.http.families import Family
from server.http.metrics import METRICS
from server.http.parsing import parse_body, parse_path, parse_query
from server.http.routes import FamilyRoutes
from server.keys import CLOCK, DB, PLANT, SETTINGS, TOKENS
from server.services.runbooks.feed_ops import FeedOperations
from server.services.runbooks.health import Thresholds, reading_of
from server.services.runbooks.history import history_page, ops_status
from server.services.runbooks.service import RunbooksConfig, RunbooksService
from server.settings import Settings
from server.storage.runbooks import RunbookRepository
from shared.runbooks import (
    AbortResponse,
    ExecuteResponse,
    FeedOperation,
    HealthReport,
    HistoryPage,
    HistoryQuery,
    OpsStatus,
    RequestId,
    RunbookCommands,
    RunbookRequest,
    RunQuery,
    RunState,
)
from shared.scopes import Scope

log = logging.getLogger(__name__)
routes = FamilyRoutes(Family.RUNBOOKS)
RUNBOOKS = web.AppKey("runbooks", RunbooksService)
RUNBOOK_RUNS = web.AppKey("runbook_runs", RunbookRepository)
FEED_OPERATIONS = web.AppKey("feed_operations", FeedOperations)

SWEEP_SECONDS = 5.0
READ = Bearer(Scope.RUNBOOKS_READ)
EXECUTE = Bearer(Scope.RUNBOOKS_EXECUTE)


class RunPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: RequestId


def setup(app: web.Application) -> None:
    """The runbook routes and their service (a cleanup context after the shared ones: it needs the database,
    the tokens and the plant)."""
    routes.add_to(app)
    app.cleanup_ctx.append(_runbooks_service)


def runbooks_config(settings: Settings) -> RunbooksConfig:
    return RunbooksConfig(
        runbooks_dir=settings.runbooks_dir,
        environment=settings.runbooks_environment,
        thresholds=Thresholds(
            min_coverage_ratio=settings.runbooks_min_coverage_ratio,
            min_throughput_mps=settings.runbooks_min_throughput_mps,
            max_backlog_messages=settings.runbooks_max_backlog_messages,
        ),
        kill_grace_seconds=settings.runbooks_kill_grace_seconds,
    )


async def _runbooks_service(app: web.Application) -> AsyncIterator[None]:
    feed = app[PLANT].feed
    repository = RunbookRepository(app[DB])
    service = RunbooksService(
        repository,
        app[TOKENS],
        app[CLOCK],
        runbooks_config(app[SETTINGS]),
        measure=lambda: reading_of(feed.snapshot()),
    )
    app[RUNBOOK_RUNS] = repository
    app[RUNBOOKS] = service

    async def count_exit(command: str, status: str, exit_code: int | None) -> None:
        # Looked up when a run ends: the metrics family may start after this one. A script that never ran is
        # counted too (as failed); it has no exit code, so the last one stays.
        metrics = app.get(METRICS)
        if metrics is not None:
            await metrics.record_runbook_exit(command, exit_code, status)

    service.on_finished(count_exit)
    app[FEED_OPERATIONS] = FeedOperations(feed, repository, app[CLOCK])

    async def sweep() -> None:
        while True:
            try:
                await service.sweep()
            except Exception:  # a failed sweep (a busy database) is tried again, never ends the sweeping
                log.exception("runbook token sweep failed")
            await asyncio.sleep(SWEEP_SECONDS)

    # One pass before the server answers: a run its SIGKILLed predecessor left `running` must not hold the
    # environment while the first requests come in.
    try:
        await service.sweep()
    except Exception:
        log.exception("runbook token sweep at start-up failed")
    sweeper = asyncio.create_task(sweep(), name="runbook-token-sweep")
    yield
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper
    await service.close()


def _server_url(request: web.Request) -> str:
    """Where a script reaches this server: the configured URL, else the local address the request came in on.
    Never the request's Host header: a caller could point the script's token at a host of its choosing."""
    configured = request.app[SETTINGS].runbooks_server_url
    if configured:
        return configured.rstrip("/")
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if not isinstance(sockname, tuple) or len(sockname) < 2:
        settings = request.app[SETTINGS]
        return f"http://{settings.host}:{settings.port}"
    host, port = sockname[0], sockname[1]
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if request.secure else 'http'}://{host}:{port}"


@routes.get(
    "/api/ops/status",
    access=READ,
    summary="The environment's runbook status: the last run, recent history, health reports and exit codes",
    responses={200: OpsStatus},
)
async def status(request: web.Request) -> web.Response:
    app = request.app
    answer = await ops_status(
        app[RUNBOOK_RUNS], environment_mode=app[PLANT].snapshot().mode, active_profile=app[PLANT].feed.profile
    )
    return respond(request, answer)


@routes.post(
    "/api/ops/runbooks/execute",
    access=EXECUTE,
    summary="Run a runbook to its end and answer how it ended (its logs and, when measured, the feed's health)",
    description="One runbook runs at a time per environment: another one running answers 409 naming it. "
    "`request_id` is the idempotency key: the same id with the same body answers the stored result (the run is "
    "never repeated), 409 while it still runs, 422 with another body. A run that ended, whatever its status "
    "(success, failed, timeout, aborted), is answered 200; a runbook whose script is missing or broken 500.",
    body=RunbookRequest,
    responses={200: ExecuteResponse},
    errors=(409, 500),
)
async def execute(request: web.Request) -> web.Response:
    body = await parse_body(request, RunbookRequest)
    note_audit(
        request,
        action="runbook.execute",
        target=body.command,
        request_id=body.request_id,
        dry_run=body.dry_run,
        enforce=body.enforce,
        **({"reason": body.reason} if body.reason else {}),
    )
    intent = Intent(request, "runbook.run")
    executed = await request.app[RUNBOOKS].execute(
        principal_of(request), body, server_url=_server_url(request), before_execute=intent.record
    )
    note_audit(
        request,
        request_id=executed.request_id,
        status=executed.status,
        exit_code=executed.exit_code,
        replayed=executed.replayed,
    )
    return respond(request, executed.body)


@routes.get(
    "/api/ops/runbooks",
    access=READ,
    summary="Past and running runs, newest first, without their logs (keyset pages: pass next_cursor as cursor)",
    query=HistoryQuery,
    responses={200: HistoryPage},
)
async def history(request: web.Request) -> web.Response:
    query = parse_query(request, HistoryQuery)
    return respond(request, await history_page(request.app[RUNBOOK_RUNS], query))


# One run's path takes any request id but "execute": the execute operation's path must not also be a run's, or
# GET there would read a run and OPTIONS there would advertise GET (the router answers 405, Allow: POST).
RUN_PATH = r"/api/ops/runbooks/{request_id:(?!execute\Z)[^/]+}"


@routes.get(
    RUN_PATH,
    access=READ,
    summary="One run as it is now, with its log lines from offset on (pass next_offset back to tail it)",
    path_params=RunPath,
    query=RunQuery,
    responses={200: RunState},
    errors=(404, 405),  # 405: the request id "execute" (that path is the execute operation's, POST only)
)
async def run_state(request: web.Request) -> web.Response:
    path = parse_path(request, RunPath)
    query = parse_query(request, RunQuery)
    return respond(request, await request.app[RUNBOOKS].run_state(path.request_id, query.offset))


@routes.post(
    "/api/ops/runbooks/{request_id}/abort",
    access=EXECUTE,
    summary="Abort a running run: its script is stopped, and the answer says how the run ended",
    path_params=RunPath,
    responses={200: AbortResponse},
    errors=(404, 409),
)
async def abort(request: web.Request) -> web.Response:
    path = parse_path(request, RunPath)
    note_audit(request, action="runbook.abort", target=path.request_id)
    return respond(request, await request.app[RUNBOOKS].abort(path.request_id))


@routes.get(
    "/api/ops/runbook-commands",
    access=READ,
    summary="The runbook commands this server can run, with their descriptions and timeouts",
    responses={200: RunbookCommands},
    errors=(500,),
)
async def commands(request: web.Request) -> web.Response:
    return respond(request, request.app[RUNBOOKS].commands())


@routes.get(
    "/api/ops/feed/health",
    access=READ,
    summary="The market-data feed's health now, against the runbooks' thresholds",
    responses={200: HealthReport},
)
async def feed_health(request: web.Request) -> web.Response:
    return respond(request, request.app[RUNBOOKS].health())


@routes.post(
    "/api/ops/feed/failover",
    access=EXECUTE,
    summary="Switch the feed to its backup profile: only a running failover runbook's own token may (else 403)",
    responses={200: FeedOperation},
)
async def feed_failover(request: web.Request) -> web.Response:
    note_audit(request, action="feed.failover", target="feed")
    answer = await request.app[FEED_OPERATIONS].failover(principal_of(request))
    note_audit(request, active_profile=answer.active_profile, latency_ms=answer.latency_ms)
    return respond(request, answer)


@routes.post(
    "/api/ops/feed/failback",
    access=EXECUTE,
    summary="Switch the feed back to its primary profile: only a running failback runbook's own token may (else 403)",
    responses={200: FeedOperation},
)
async def feed_failback(request: web.Request) -> web.Response:
    note_audit(request, action="feed.failback", target="feed")
    answer = await request.app[FEED_OPERATIONS].failback(principal_of(request))
    note_audit(request, active_profile=answer.active_profile, latency_ms=answer.latency_ms)
    return respond(request, answer)
