"""The envelope of each API family: one object per family decides the status and the body of every error, and
wraps successes where the contract wraps them. Each keeps the shape its contract shows, because real clients of
each contract parse it (shared/clients/envelopes.py reads them back):

- control (1):        `{"error": "<code>", "detail": "<sentence>"}`, the invalid fields beside as `errors`
                      (`loc` dotted); validation failures are 400
- runbooks (2):       `{"detail": "<sentence>"}`; validation failures 422 with FastAPI's
                      `{"detail": [{"loc": ["body", "command"], "msg", "type"}, ...]}`
- agent (3):          `{"error": {"code": "OPS_AGENT_...", "message", "details": {...}}}`
- orchestration (4):  errors `{"code": <status>, "message": "<phrase>", "error": "<sentence>", "details": {...}}`,
                      validation failures 422; successes `{"code": 0, "message": "success", "data": <payload>}`
- live + refunds (5): `{"detail": "<sentence>"}`, invalid fields as a FastAPI list in `detail`

Handlers answer through `respond(request, payload)`, never by building an envelope themselves."""

import json
from abc import ABC, abstractmethod
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from server.errors import FieldError, OpsError, ValidationFailed
from server.http.context import CONTEXT
from server.http.families import Family, family_of
from shared.envelopes import AgentError, ControlError, DetailError, OrchestrationError

# A payload: a response model, plain JSON data, or a JSON document already encoded (a cached body).
Payload = BaseModel | dict[str, Any] | list[Any] | bytes


def _encode(payload: Payload) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, BaseModel):
        return payload.model_dump_json().encode()
    return json.dumps(payload, separators=(",", ":")).encode()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _beside(body: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`body` with the structured detail after it; the envelope's own keys win."""
    return {**body, **{key: value for key, value in extra.items() if key not in body}}


def _fastapi_errors(errors: tuple[FieldError, ...]) -> list[dict[str, Any]]:
    return [{"loc": [e.source, *e.loc], "msg": e.msg, "type": e.type} for e in errors]


class Envelope(ABC):
    """An envelope decides an error's status (`status_of`) and body (`error_body`), and a success's body. By
    default success bodies are the payload itself and validation failures keep their 400."""

    family: Family
    validation_status = 400
    error_model: type[BaseModel]  # the shape of `error_body`, for the OpenAPI document

    def success_schema(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The JSON schema of a success answer whose payload has the schema `payload` (unwrapped by default)."""
        return payload

    def status_of(self, error: OpsError) -> int:
        return self.validation_status if isinstance(error, ValidationFailed) else error.status

    @abstractmethod
    def error_body(self, status: int, error: OpsError) -> dict[str, Any]: ...

    def error(self, error: OpsError) -> web.Response:
        status = self.status_of(error)
        # default=str: an error's answer must not fail on a detail JSON cannot encode (a datetime, a path).
        body = json.dumps(self.error_body(status, error), separators=(",", ":"), default=str).encode()
        return web.Response(body=body, status=status, headers=error.headers or None, content_type="application/json")

    def success(self, payload: Payload, *, status: int = 200) -> web.Response:
        body = payload if isinstance(payload, bytes) else _encode(payload)
        return web.Response(body=body, status=status, content_type="application/json")


class ControlEnvelope(Envelope):
    family = Family.CONTROL
    error_model = ControlError

    def error_body(self, status: int, error: OpsError) -> dict[str, Any]:
        # `detail` is always a sentence, so clients that show it as text keep working; structure goes beside it.
        body: dict[str, Any] = {"error": error.code, "detail": error.detail or _phrase(status)}
        if isinstance(error, ValidationFailed):
            body["errors"] = [{"loc": e.dotted, "msg": e.msg, "type": e.type} for e in error.errors]
        return _beside(body, error.extra)


class DetailEnvelope(Envelope):
    """FastAPI's `{"detail": ...}`, of the runbooks and live families."""

    error_model = DetailError

    def __init__(self, family: Family, *, validation_status: int) -> None:
        self.family = family
        self.validation_status = validation_status

    def error_body(self, status: int, error: OpsError) -> dict[str, Any]:
        if isinstance(error, ValidationFailed):
            return {"detail": _fastapi_errors(error.errors)}
        return _beside({"detail": error.detail or _phrase(status)}, error.extra)


class LiveEnvelope(DetailEnvelope):
    """Contract 5 answers every missing or invalid credential with one fixed sentence, whatever was wrong with it."""

    UNAUTHORIZED = "Invalid or missing credentials"

    def __init__(self) -> None:
        super().__init__(Family.LIVE, validation_status=400)

    def error_body(self, status: int, error: OpsError) -> dict[str, Any]:
        if status == 401:
            return {"detail": self.UNAUTHORIZED}
        return super().error_body(status, error)


# The agent contract's codes (OPS_AGENT_<name>) by status; other 4xx are invalid requests, other 5xx internal.
_AGENT_CODES = {
    401: "UNAUTHORIZED",
    403: "SCOPE_FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    410: "GONE",
    429: "RATE_LIMITED",
    502: "DEPENDENCY_FAILURE",
    503: "DEPENDENCY_FAILURE",
    504: "DEPENDENCY_FAILURE",
}


def _details(error: OpsError) -> dict[str, Any]:
    """What the agent and orchestration envelopes put in `details`: the domain code, the invalid fields (FastAPI
    style) and any other structured detail."""
    details: dict[str, Any] = {**error.extra, "code": error.code}
    if isinstance(error, ValidationFailed):
        details["errors"] = _fastapi_errors(error.errors)
    return details


class AgentEnvelope(Envelope):
    family = Family.AGENT
    error_model = AgentError

    def error_body(self, status: int, error: OpsError) -> dict[str, Any]:
        name = _AGENT_CODES.get(status) or ("INTERNAL_ERROR" if status >= 500 else "INVALID_REQUEST")
        message = error.detail or _phrase(status)
        return {"error": {"code": f"OPS_AGENT_{name}", "message": message, "details": _details(error)}}


class OrchestrationEnvelope(Envelope):
    family = Family.ORCHESTRATION
    validation_status = 422
    error_model = OrchestrationError

    def success_schema(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"code": {"const": 0}, "message": {"const": "success"}, "data": payload},
            "required": ["code", "message", "data"],
        }

    def error_body(self, status: int, error: OpsError) -> dict[str, Any]:
        phrase = _phrase(status)
        return {"code": status, "message": phrase, "error": error.detail or phrase, "details": _details(error)}

    def success(self, payload: Payload, *, status: int = 200) -> web.Response:
        # Spliced rather than decoded and encoded again: the payload may be a cached, encoded body.
        body = b'{"code":0,"message":"success","data":' + _encode(payload) + b"}"
        return web.Response(body=body, status=status, content_type="application/json")


ENVELOPES: dict[Family, Envelope] = {
    envelope.family: envelope
    for envelope in (
        ControlEnvelope(),
        DetailEnvelope(Family.RUNBOOKS, validation_status=422),
        AgentEnvelope(),
        OrchestrationEnvelope(),
        LiveEnvelope(),
    )
}


def envelope_for(request: web.Request) -> Envelope:
    """The envelope of the route `request` matched; for a path no route matched, of the family its prefix names."""
    try:
        route = request[CONTEXT].route
    except KeyError:  # aiohttp answered before the pipeline ran
        route = None
    return route.envelope if route is not None else ENVELOPES[family_of(request.path)]


def respond(request: web.Request, payload: Payload, *, status: int = 200) -> web.Response:
    """A handler's answer, in its family's envelope."""
    return envelope_for(request).success(payload, status=status)
