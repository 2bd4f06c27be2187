"""The error bodies of the five API families, and the orchestration family's success wrapper, as pydantic models:
what server/http/envelopes.py writes and what the OpenAPI document (server/http/openapi.py) says each family
answers. Extra keys are allowed where the server puts structured detail beside the envelope's own keys (the
sections of an unknown runbook section, a rate limit's retry time)."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class ControlFieldError(BaseModel):
    loc: str  # dotted: "params.reason"
    msg: str
    type: str


class ControlError(BaseModel):
    """Contract 1: `{"error": "<code>", "detail": "<sentence>"}`, the invalid fields beside as `errors`."""

    model_config = ConfigDict(extra="allow")

    error: str
    detail: str
    errors: list[ControlFieldError] | None = None


class FastAPIFieldError(BaseModel):
    """One invalid field as FastAPI lists it: `loc` starts with where it was (`body`, `query`, `path`)."""

    loc: list[str | int]
    msg: str
    type: str


class DetailError(BaseModel):
    """Contracts 2 and 5: `{"detail": "<sentence>"}`, or FastAPI's list of invalid fields in `detail`."""

    model_config = ConfigDict(extra="allow")

    detail: str | list[FastAPIFieldError]


class AgentErrorBody(BaseModel):
    code: str  # OPS_AGENT_<name>
    message: str
    details: dict[str, Any]


class AgentError(BaseModel):
    """Contract 3: `{"error": {"code": "OPS_AGENT_...", "message", "details"}}`."""

    error: AgentErrorBody


class OrchestrationError(BaseModel):
    """Contract 4: the HTTP status again as `code`, its phrase as `message`, the sentence as `error`."""

    code: int
    message: str
    error: str
    details: dict[str, Any]


class OrchestrationSuccess(BaseModel):
    """Contract 4 wraps every success: `{"code": 0, "message": "success", "data": <payload>}`."""

    code: Literal[0]
    message: Literal["success"]
    data: Any
