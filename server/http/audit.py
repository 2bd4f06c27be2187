"""The audit middleware: every ops interaction — who, what, when, request id, outcome — goes to the audit
trail. State-changing requests answer only once their entry is committed; reads are batched.

Handlers add meaning with `note_audit(request, action=..., target=..., **detail)`; nothing secret (tokens,
bodies) is ever recorded unless a handler puts it there, and none does."""

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from server.errors import OpsError
from server.http.context import context_of
from server.keys import AUDIT, CLOCK
from server.storage.audit import AuditRecord

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def note_audit(request: web.Request, *, action: str | None = None, target: str | None = None, **detail: Any) -> None:
    context = context_of(request)
    if action is not None:
        context.audit_action = action
    if target is not None:
        context.audit_target = target
    context.audit_detail.update(detail)


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except OpsError as exc:
        await _record(request, exc.status, exc.code)
        raise
    except web.HTTPException as exc:
        await _record(request, exc.status, "ok" if exc.status < 400 else f"http_{exc.status}")
        raise
    except Exception:
        await _record(request, 500, "internal_error")
        raise
    await _record(request, response.status, "ok" if response.status < 400 else f"http_{response.status}")
    return response


async def record_intent(request: web.Request, action: str) -> None:
    """Commit an entry saying what is about to happen, before it happens: a change is never left unrecorded,
    even if writing its outcome fails afterwards."""
    await request.app[AUDIT].record_durable(_make_record(request, 0, "executing", action=action))


async def _record(request: web.Request, status: int, outcome: str) -> None:
    record = _make_record(request, status, outcome)
    if request.method in _READ_METHODS:
        request.app[AUDIT].record(record)
    else:
        await request.app[AUDIT].record_durable(record)


def _make_record(request: web.Request, status: int, outcome: str, *, action: str | None = None) -> AuditRecord:
    context = context_of(request)
    principal = context.principal
    if not action:
        action = context.audit_action
        if not action:
            resource = request.match_info.route.resource
            action = f"{request.method} {resource.canonical if resource is not None else request.path}"
    return AuditRecord(
        at=request.app[CLOCK].now(),
        principal=principal.name if principal is not None else None,
        request_id=context.request_id,
        method=request.method,
        path=request.path[:512],
        action=action,
        target=context.audit_target,
        outcome=outcome,
        status=status,
        # A copy: the handler may note more detail after an intent entry was made from this request.
        detail=dict(context.audit_detail),
    )
