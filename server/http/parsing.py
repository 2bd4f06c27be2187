"""Request parsing with pydantic: a bad body or query is an `InvalidRequest` naming what was wrong."""

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.errors import InvalidRequest, ValidationFailed

M = TypeVar("M", bound=BaseModel)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": ".".join(str(p) for p in err["loc"]) or "body", "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


async def parse_body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()  # raises 413 past the app's client_max_size
    if not raw.strip():
        raise InvalidRequest("request body is empty; send a JSON object", code="empty_body")
    try:
        data = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, and integers past the digit limit
        raise InvalidRequest(f"request body is not valid JSON: {exc}", code="malformed_json") from None
    except RecursionError:
        raise InvalidRequest("request body is not valid JSON: nested too deeply", code="malformed_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object", code="invalid_body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(validation_details(exc)) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ValidationFailed(validation_details(exc)) from None
