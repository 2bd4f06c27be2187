"""The control family (contract 1-control-api.md): its routes, and `setup(app)` wiring its service."""

from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import BaseModel, Field

from server.errors import OpsError
from server.http.access import AUTHENTICATED, Bearer
from server.http.audit import Intent, note_audit
from server.http.context import principal_of
from server.http.envelopes import respond
from server.http.families import Family
from server.http.parsing import parse_body, parse_query
from server.http.routes import FamilyRoutes
from server.keys import AUDIT, CLOCK, DB, PLANT, SETTINGS
from server.services.confirmations import ConfirmationService
from server.services.control import ControlService
from server.services.playbook import Playbook
from server.storage.confirmations import ConfirmationRepository
from shared.control import (
    AuditQuery,
    AuditResponse,
    CommandExecuted,
    CommandRequest,
    ConfirmationRequired,
    RunbookResponse,
    StatusResponse,
    StatusSnapshot,
    WhoAmIResponse,
)
from shared.scopes import Scope

routes = FamilyRoutes(Family.CONTROL)
CONTROL = web.AppKey("control", ControlService)


class RunbookQuery(BaseModel):
    name: str | None = Field(default=None, max_length=200)


class StatusBodyCache:
    """The plant hands out the same immutable snapshot until something changes, so its JSON is encoded once
    per snapshot, not once per request: /ops/status is the hottest read there is."""

    def __init__(self) -> None:
        # One tuple, replaced whole, so a reader never pairs one snapshot with another's body.
        self._cached: tuple[StatusSnapshot | None, bytes] = (None, b"")

    def encode(self, snapshot: StatusSnapshot) -> bytes:
        cached_snapshot, body = self._cached
        if snapshot is not cached_snapshot:
            body = StatusResponse(status=snapshot).model_dump_json().encode()
            self._cached = (snapshot, body)
        return body


STATUS_BODY = web.AppKey("status_body", StatusBodyCache)


def setup(app: web.Application) -> None:
    """The control family's routes, its status body cache and its service (a cleanup context, after the audit
    trail's and the plant's)."""
    routes.add_to(app)
    app[STATUS_BODY] = StatusBodyCache()
    app.cleanup_ctx.append(_control_service)


async def _control_service(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.playbook_path.is_file():
        raise RuntimeError(f"operator playbook not found at {settings.playbook_path}; set OPS_PLAYBOOK_PATH")
    confirmations = ConfirmationRepository(app[DB])
    app[CONTROL] = ControlService(
        plant=app[PLANT],
        playbook=Playbook.load(settings.playbook_path),
        audit=app[AUDIT],
        confirmations=ConfirmationService(confirmations, app[CLOCK], ttl_seconds=settings.confirm_ttl_seconds),
        controller_enabled=settings.controller_enabled,
    )
    yield


@routes.get(
    "/ops/whoami",
    access=AUTHENTICATED,
    summary="The caller's token name and scopes",
    responses={200: WhoAmIResponse},
)
async def whoami(request: web.Request) -> web.Response:
    principal = principal_of(request)
    return respond(request, WhoAmIResponse(principal=principal.name, scopes=sorted(principal.scopes)))


@routes.get(
    "/ops/status",
    access=Bearer(Scope.OPS_READ),
    summary="A snapshot of the system's components",
    responses={200: StatusResponse},
)
async def status(request: web.Request) -> web.Response:
    app = request.app
    return respond(request, app[STATUS_BODY].encode(app[CONTROL].status()))


@routes.get(
    "/ops/runbook",
    access=Bearer(Scope.OPS_READ),
    summary="The operator playbook, or one section of it",
    query=RunbookQuery,
    responses={200: RunbookResponse},
    errors=(404,),
)
async def runbook(request: web.Request) -> web.Response:
    query = parse_query(request, RunbookQuery)
    note_audit(request, target=query.name)
    return respond(request, request.app[CONTROL].runbook(query.name))


@routes.get(
    "/ops/audit",
    access=Bearer(Scope.OPS_READ),
    summary="Audit entries, newest first, with filters and text search",
    query=AuditQuery,
    responses={200: AuditResponse},
)
async def audit(request: web.Request) -> web.Response:
    query = parse_query(request, AuditQuery)
    return respond(request, await request.app[CONTROL].recent_audit(query))


@routes.post(
    "/ops/command",
    access=Bearer(Scope.OPS_COMMAND),
    summary="A component command: step one answers a confirm token, step two (with it) executes",
    body=CommandRequest,
    responses={200: ConfirmationRequired | CommandExecuted},
    errors=(403, 409, 410, 501, 503),
)
async def command(request: web.Request) -> web.Response:
    body = await parse_body(request, CommandRequest)
    step = "confirm" if body.confirm_token else "request"
    note_audit(
        request,
        action=f"command.{step}",
        target=body.component,
        command=body.command,
        params=body.params.model_dump(exclude_none=True),
    )
    intent = Intent(request, "command.execute")
    try:
        outcome = await request.app[CONTROL].command(principal_of(request), body, before_execute=intent.record)
    except OpsError as error:  # refused after its intent was on record (stale, unsafe by now): say it did not run
        await intent.not_run(error)
        raise
    if isinstance(outcome, CommandExecuted):
        note_audit(request, result=outcome.result.action, state=outcome.result.state)
    return respond(request, outcome)
