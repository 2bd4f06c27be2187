"""The audit middleware: every ops interaction — who, what, when, request id, outcome — goes to the audit
trail. State-changing requests answer only once their entry is committed; reads are batched.

Handlers add meaning with `note_audit(request, action=..., target=..., **detail)`; nothing secret (tokens,
bodies) is ever recorded unless a handler puts it there, and none does."""

from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from server.errors import OpsError
from server.http.context import CONTEXT, context_of
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


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except Exception as exc:
        committed = _record(request, *_failure(exc))
        if committed is not None:
            await committed
        raise
    status = response.status
    committed = _record(request, status, _outcome(status))
    if committed is not None:
        await committed
    return response


async def record_intent(request: web.Request, action: str) -> None:
    """Commit an entry saying what is about to happen, before it happens: a change is never left unrecorded,
    even if writing its outcome fails afterwards."""
    await request.app[AUDIT].record_durable(_make_record(request, 0, "executing", action=action))


def _record(request: web.Request, status: int, outcome: str) -> Awaitable[None] | None:
    """Queue the request's entry. A read's goes with the next batch (None: nothing to wait for); a change's
    comes back as an awaitable that resolves once it is committed. Not a coroutine itself: reads are the hot
    path, and they have nothing to await."""
    record = _make_record(request, status, outcome)
    if record.method in _READ_METHODS:
        request.app[AUDIT].record(record)
        return None
    return request.app[AUDIT].record_durable(record)


def _outcome(status: int) -> str:
    return "ok" if status < 400 else f"http_{status}"


def _failure(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, OpsError):
        return exc.status, exc.code
    if isinstance(exc, web.HTTPException):
        return exc.status, _outcome(exc.status)
    return 500, "internal_error"


def _make_record(request: web.Request, status: int, outcome: str, *, action: str | None = None) -> AuditRecord:
    context = request[CONTEXT]
    principal = context.principal
    method = request.method
    if not action:
        action = context.audit_action
        if not action:
            resource = request.match_info.route.resource
            action = f"{method} {resource.canonical if resource is not None else request.path}"
    detail = context.audit_detail
    # Positional, in AuditRecord's field order (new_record skips the NamedTuple's slower keyword constructor).
    return new_record(
        (
            request.app[CLOCK].now(),
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
