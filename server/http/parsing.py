"""Request parsing with pydantic: a bad body, query or path is a `ValidationFailed` listing every invalid field
with where it is; the family's envelope decides how that is answered (400 or 422, and in which shape)."""

import functools
import json
from typing import Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.errors import FieldError, ValidationFailed

M = TypeVar("M", bound=BaseModel)
Source = Literal["body", "query", "path"]


def field_errors(source: Source, exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(source, tuple(err["loc"]), err["msg"], err["type"])
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _body_error(msg: str, type_: str, code: str) -> ValidationFailed:
    """The whole body is wrong (empty, not JSON, not an object): one error located at the body itself."""
    return ValidationFailed([FieldError("body", (), msg, type_)], code=code)


def _not_json(why: str) -> ValidationFailed:
    return _body_error(f"request body is not valid JSON: {why}", "json_invalid", "malformed_json")


async def parse_body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()  # raises 413 past the app's client_max_size
    if not raw.strip():
        raise _body_error("request body is empty; send a JSON object", "missing", "empty_body")
    try:
        data = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, and integers past the digit limit
        raise _not_json(str(exc)) from None
    except RecursionError:
        raise _not_json("nested too deeply") from None
    if not isinstance(data, dict):
        raise _body_error("request body must be a JSON object", "model_type", "invalid_body")
    return _validate("body", model, data)


def parse_query(request: web.Request, model: type[M]) -> M:
    """The query string as `model`. A parameter the model does not know is refused rather than ignored: a
    misspelt filter (`?statuss=failed`) would otherwise answer everything, unfiltered, as if it had applied."""
    known = _names_of(model)
    unknown = [name for name in request.query if name not in known]
    if unknown:
        raise ValidationFailed(
            [
                FieldError(
                    "query", (name,), f"unknown query parameter; known: {', '.join(sorted(known))}", "extra_forbidden"
                )
                for name in dict.fromkeys(unknown)
            ]
        )
    return _validate("query", model, dict(request.query))


@functools.cache  # one set per query model, not one per request
def _names_of(model: type[BaseModel]) -> frozenset[str]:
    """The names a query may use for `model`'s fields: each field's alias where it has one, else its name."""
    return frozenset(field.alias or name for name, field in model.model_fields.items())


def parse_path(request: web.Request, model: type[M]) -> M:
    """The route's path variables (`{webhook_id}`) as `model`."""
    return _validate("path", model, dict(request.match_info))


def _validate(source: Source, model: type[M], data: dict[str, object]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(source, exc)) from None
