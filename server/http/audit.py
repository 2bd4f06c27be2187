"""The audit stage: every ops interaction — who, what, when, request id, outcome — goes to the audit
trail. State-changing requests answer only once their entry is committed; reads are batched. Reads of routes
that are not audited (health probes, metrics scrapes, public feeds: their access declaration says so) are
counted instead; a refusal by auth is audited on every route.

Handlers add meaning with `note_audit(request, action=..., target=..., **detail)`; nothing secret (tokens,
bodies) is ever recorded unless a handler puts it there, and none does."""

from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from server.errors import OpsError
from server.http.context import RequestContext, context_of
from server.http.errors import busy_error
from server.http.request_metrics import REQUEST_COUNTER
from server.keys import AUDIT, CLOCK
from server.storage.audit import AuditRecord

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_AUTH_REFUSALS = frozenset({401, 403})


def note_audit(request: web.Request, *, action: str | None = None, target: str | None = None, **detail: Any) -> None:
    context = context_of(request)
    if action is not None:
        context.audit_action = action
    if target is not None:
        context.audit_target = target
    if detail:
        if context.audit_detail is None:
            context.audit_detail = {}
        context.audit_detail.update(detail)


def record_response(
    app: web.Application, request: web.Request, context: RequestContext, status: int, outcome: str | None = None
) -> Awaitable[None] | None:
    """The audit stage, once the handler has answered: queue the request's entry. A read's goes with the next
    batch (None: nothing to wait for); a change's comes back as an awaitable that resolves once it is committed,
    to be awaited before the answer goes out. Not a coroutine itself: reads are the hot path, and they have
    nothing to await. `outcome` defaults to "ok" below 400, else "http_<status>"."""
    method = request.method
    if method in _READ_METHODS:
        route = context.route
        if route is not None and not route.access.audit_reads and status not in _AUTH_REFUSALS:
            app[REQUEST_COUNTER].count(method, route.path, status)
            return None
    if outcome is None:
        outcome = "ok" if status < 400 else f"http_{status}"
    record = _make_record(app, request, context, status, outcome, context.audit_action)
    if method in _READ_METHODS:
        app[AUDIT].record(record)
        return None
    return app[AUDIT].record_durable(record)


def record_failure(
    app: web.Application, request: web.Request, context: RequestContext, exc: Exception
) -> Awaitable[None] | None:
    """The audit stage, when handling raised `exc` (a refusal by auth included): as record_response."""
    if isinstance(exc, OpsError):
        return record_response(app, request, context, exc.status, exc.code)
    if isinstance(exc, web.HTTPException):
        return record_response(app, request, context, exc.status)
    busy = busy_error(exc)  # answered 503 database_busy (and logged) by the errors stage: on record the same
    if busy is not None:
        return record_response(app, request, context, busy.status, busy.code)
    return record_response(app, request, context, 500, "internal_error")


class Intent:
    """A change about to happen, on record before it happens: `record()` commits an "executing" entry, so a change
    is never left unrecorded even if writing its outcome fails afterwards. If it is then refused after all
    (`not_run(error)`), a second entry says it did not run, so the log never shows an execution that did not
    take place as if it had."""

    def __init__(self, request: web.Request, action: str) -> None:
        self._request = request
        self._action = action
        self.recorded = False

    async def record(self) -> None:
        request = self._request
        app = request.app
        await app[AUDIT].record_durable(_make_record(app, request, context_of(request), 0, "executing", self._action))
        self.recorded = True

    async def not_run(self, error: OpsError) -> None:
        """Commit that the recorded change did not run, refused with `error`. Nothing when no intent was recorded."""
        if not self.recorded:
            return
        request = self._request
        app = request.app
        context = context_of(request)
        note_audit(request, refused=error.code)
        await app[AUDIT].record_durable(_make_record(app, request, context, error.status, "not_executed", self._action))


def _make_record(
    app: web.Application, request: web.Request, context: RequestContext, status: int, outcome: str, action: str | None
) -> AuditRecord:
    principal = context.principal
    method = request.method
    if not action:
        # By the route's path ("GET /webhooks/{webhook_id}"); the request's own when no route matched.
        route = context.route
        action = f"{method} {route.path if route is not None else request.path}"
    detail = context.audit_detail
    return AuditRecord(
        at=app[CLOCK].timestamp(),
        principal=principal.name if principal is not None else None,
        request_id=context.request_id,
        method=method,
        path=request.path[:512],
        action=action,
        target=context.audit_target,
        outcome=outcome,
        status=status,
        # A copy: the handler may note more detail after an intent entry was made from this request.
        detail=dict(detail) if detail else {},
    )
