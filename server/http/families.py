"""API families and their error envelopes. Each family keeps the envelope its contract shows, because its
clients parse it; the family of a request is decided by its path."""

from enum import StrEnum
from http import HTTPStatus
from typing import Any


class Family(StrEnum):
    CONTROL = "control"
    RUNBOOKS = "runbooks"
    AGENT = "agent"
    ORCHESTRATION = "orchestration"
    LIVE = "live"


# Longest, most specific prefixes first: /ops/api/ and /ops/ci/ sit under the control family's /ops/.
_PREFIXES: tuple[tuple[str, Family], ...] = (
    ("/ops/api/", Family.LIVE),
    ("/ops/ci/", Family.ORCHESTRATION),
    ("/ops/control-loop/", Family.ORCHESTRATION),
    ("/inspector/", Family.ORCHESTRATION),
    ("/assets/", Family.ORCHESTRATION),
    ("/webhooks", Family.ORCHESTRATION),
    ("/api/ops/", Family.RUNBOOKS),
    ("/api/v1/", Family.AGENT),
    ("/ops/", Family.CONTROL),
)


def family_of(path: str) -> Family:
    for prefix, family in _PREFIXES:
        if path.startswith(prefix):
            return family
    return Family.CONTROL


def _message(detail: Any, fallback: str) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, dict) and isinstance(detail.get("message"), str):
        return detail["message"]
    return fallback


def error_body(family: Family, status: int, code: str, detail: Any) -> dict[str, Any]:
    """The JSON error body for `family`. `code` is machine-readable (`confirm_token_expired`); `detail` is a
    human sentence or structured detail (the list of invalid fields)."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    match family:
        case Family.CONTROL:
            return _control_body(code, detail, phrase)
        case Family.RUNBOOKS | Family.LIVE:
            return {"detail": detail if detail is not None else phrase}
        case Family.AGENT:
            return {"error": {"code": f"OPS_AGENT_{_agent_code(status)}", "message": _message(detail, phrase)}}
        case Family.ORCHESTRATION:
            details = detail if isinstance(detail, dict) else {"errors": detail} if isinstance(detail, list) else {}
            return {"code": status, "message": phrase, "error": _message(detail, code), "details": details}


def _control_body(code: str, detail: Any, phrase: str) -> dict[str, Any]:
    """`{"error", "detail"}` with `detail` always a sentence: structured detail (the invalid fields, the sections
    there are) goes beside it, so clients that read `detail` as text keep working."""
    if isinstance(detail, list):
        sentence = "; ".join(f"{e.get('loc', '?')}: {e.get('msg', '')}" for e in detail if isinstance(e, dict))
        return {"error": code, "detail": sentence or phrase, "errors": detail}
    if isinstance(detail, dict):
        extra = {k: v for k, v in detail.items() if k not in ("message", "error", "detail")}
        return {"error": code, "detail": _message(detail, phrase), **extra}
    return {"error": code, "detail": detail if detail is not None else phrase}


def _agent_code(status: int) -> str:
    return {
        400: "INVALID_REQUEST",
        401: "UNAUTHORIZED",
        403: "SCOPE_FORBIDDEN",
        404: "NOT_FOUND",
        409: "CONFLICT",
        413: "INVALID_REQUEST",
        422: "INVALID_REQUEST",
        429: "RATE_LIMITED",
        502: "DEPENDENCY_FAILURE",
        503: "DEPENDENCY_FAILURE",
    }.get(status, "INTERNAL_ERROR")
