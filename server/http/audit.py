"""The audit stage: every ops interaction — who, what, when, request id, outcome — goes to the audit
trail. State-changing requests answer only once their entry is committed; reads are batched.

Handlers add meaning with `note_audit(request, action=..., target=..., **detail)`; nothing secret (tokens,
bodies) is ever recorded unless a handler puts it there, and none does."""

from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from server.errors import OpsError
from server.http.context import RequestContext, context_of
from server.keys import AUDIT, CLOCK
from server.storage.audit import AuditRecord, new_record

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    if outcome is None:
        outcome = "ok" if status < 400 else f"http_{status}"
    record = _make_record(app, request, context, status, outcome, context.audit_action)
    if record.method in _READ_METHODS:
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
    return record_response(app, request, context, 500, "internal_error")


async def record_intent(request: web.Request, action: str) -> None:
    """Commit an entry saying what is about to happen, before it happens: a change is never left unrecorded,
    even if writing its outcome fails afterwards."""
    app = request.app
    await app[AUDIT].record_durable(_make_record(app, request, context_of(request), 0, "executing", action))


# "GET /ops/status" for each route, made once: the route a request matched does not change.
_ROUTE_ACTIONS: dict[web.AbstractRoute, str] = {}


def _route_action(route: web.AbstractRoute, method: str, path: str) -> str:
    resource = route.resource
    if resource is None:  # the router's own answer (404, 405): a route made for this request alone
        return f"{method} {path}"
    action = _ROUTE_ACTIONS[route] = f"{method} {resource.canonical}"
    return action


def _make_record(
    app: web.Application, request: web.Request, context: RequestContext, status: int, outcome: str, action: str | None
) -> AuditRecord:
    principal = context.principal
    method = request.method
    if not action:
        route = request.match_info.route
        action = _ROUTE_ACTIONS.get(route) or _route_action(route, method, request.path)
    detail = context.audit_detail
    # Positional, in AuditRecord's field order.
    return new_record(
        (
            app[CLOCK].timestamp(),
            principal.name if principal is not None else None,
            context.request_id,
            method,
            request.path[:512],
            action,
            context.audit_target,
            outcome,
            status,
            # A copy: the handler may note more detail after an intent entry was made from this request.
            dict(detail) if detail else {},
        )
    )
