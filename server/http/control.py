"""Routes of the control family (contract 1-control-api.md)."""

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from server.http.audit import note_audit, record_intent
from server.http.auth import AUTHENTICATED, requires
from server.http.context import principal_of
from server.http.parsing import parse_body, parse_query
from server.keys import CONTROL
from shared.control import (
    AuditResponse,
    CommandExecuted,
    CommandRequest,
    StatusResponse,
    StatusSnapshot,
    WhoAmIResponse,
)
from shared.scopes import Scope

routes = web.RouteTableDef()


class RunbookQuery(BaseModel):
    name: str | None = Field(default=None, max_length=200)


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=50, ge=1, le=500)
    # Beyond the contract's `limit`: a console polling status fills the log with reads, so let callers narrow it.
    q: str | None = Field(default=None, max_length=200, description="words every entry must contain")
    changes_only: bool = Field(default=False, description="leave out reads (GET, HEAD, OPTIONS)")

    @field_validator("q")
    @classmethod
    def _few_words(cls, value: str | None) -> str | None:
        if value is not None and len(value.split()) > 8:
            raise ValueError("at most 8 words")
        return value


def _json(model: BaseModel) -> web.Response:
    return web.Response(body=model.model_dump_json().encode(), content_type="application/json")


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
    app.add_routes(routes)
    app[STATUS_BODY] = StatusBodyCache()


@routes.get("/ops/whoami")
@requires(AUTHENTICATED)
async def whoami(request: web.Request) -> web.Response:
    principal = principal_of(request)
    return _json(WhoAmIResponse(principal=principal.name, scopes=sorted(principal.scopes)))


@routes.get("/ops/status")
@requires(Scope.OPS_READ)
async def status(request: web.Request) -> web.Response:
    app = request.app
    body = app[STATUS_BODY].encode(app[CONTROL].status())
    return web.Response(body=body, content_type="application/json")


@routes.get("/ops/runbook")
@requires(Scope.OPS_READ)
async def runbook(request: web.Request) -> web.Response:
    query = parse_query(request, RunbookQuery)
    note_audit(request, target=query.name)
    return _json(request.app[CONTROL].runbook(query.name))


@routes.get("/ops/audit")
@requires(Scope.OPS_READ)
async def audit(request: web.Request) -> web.Response:
    query = parse_query(request, AuditQuery)
    entries = await request.app[CONTROL].recent_audit(query.limit, q=query.q, changes_only=query.changes_only)
    return _json(AuditResponse(limit=query.limit, results=entries))


@routes.post("/ops/command")
@requires(Scope.OPS_COMMAND)
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
    outcome = await request.app[CONTROL].command(
        principal_of(request), body, before_execute=lambda: record_intent(request, "command.execute")
    )
    if isinstance(outcome, CommandExecuted):
        note_audit(request, result=outcome.result.action, state=outcome.result.state)
    return _json(outcome)
