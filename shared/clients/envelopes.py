"""The envelope of each API family, read from the client's side: how an error body says its code, sentence and
invalid fields, and how a success body holds its payload. Each family keeps the envelope its contract shows:

- control:        `{"error": "<code>", "detail": "<sentence>", ...siblings such as "errors", "sections"}`
- runbooks, live: `{"detail": "<sentence>" | [{"loc", "msg", "type"}, ...]}`
- agent:          `{"error": {"code": "OPS_AGENT_...", "message": "<sentence>", "details": {...}}}`
- orchestration:  errors `{"code": <status>, "message", "error", "details": {...}}`; successes wrapped as
                  `{"code": 0, "message": "success", "data": <payload>}`
"""

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from shared.errors import FieldError

M = TypeVar("M", bound=BaseModel)


class Family(StrEnum):
    CONTROL = "control"
    RUNBOOKS = "runbooks"
    AGENT = "agent"
    ORCHESTRATION = "orchestration"
    LIVE = "live"


@dataclass(frozen=True)
class DecodedError:
    """What an error body says, whatever its family's shape."""

    code: str | None = None
    detail: str | None = None
    errors: tuple[FieldError, ...] = ()


class Envelope(Protocol):
    family: Family

    def decode_error(self, status: int, body: dict[str, Any]) -> DecodedError:
        """The code, sentence and field errors of an error answer's JSON object (`{}` when it had none). May add
        keys to `body` so that callers find structured detail in one place whatever the server's version."""
        ...

    def parse_success(self, content: bytes, model: type[M]) -> M:
        """The payload of a 2xx answer as `model`; raises ValueError (pydantic's ValidationError is one) when the
        answer is not of that shape."""
        ...


class _Unwrapped:
    """A success body that is the payload itself (every family but orchestration)."""

    def parse_success(self, content: bytes, model: type[M]) -> M:
        return model.model_validate_json(content)


class ControlEnvelope(_Unwrapped):
    family = Family.CONTROL

    def decode_error(self, status: int, body: dict[str, Any]) -> DecodedError:
        code = _text(body.get("error"))
        raw = body.get("detail")
        if isinstance(raw, dict):
            # The older envelope put structured detail inside `detail` ({"message", "sections"}); lift it beside.
            for key, value in raw.items():
                if key != "message":
                    body.setdefault(key, value)
            raw = raw.get("message")
        elif isinstance(raw, list):  # the older envelope's validation failure: the field errors themselves
            body.setdefault("errors", raw)
        errors = field_errors(body.get("errors"))
        return DecodedError(code, _sentence(raw) or _joined(errors), errors)


class DetailEnvelope(_Unwrapped):
    """FastAPI's shape, used by the runbooks and live families: no code, `detail` a sentence or the field errors."""

    def __init__(self, family: Family) -> None:
        self.family = family

    def decode_error(self, status: int, body: dict[str, Any]) -> DecodedError:
        raw = body.get("detail")
        if isinstance(raw, list):
            errors = field_errors(raw)
            return DecodedError(None, _joined(errors), errors)
        return DecodedError(None, _sentence(raw))


class AgentEnvelope(_Unwrapped):
    family = Family.AGENT

    def decode_error(self, status: int, body: dict[str, Any]) -> DecodedError:
        error = body.get("error")
        if not isinstance(error, dict):
            return DecodedError()
        details = error.get("details")
        errors = field_errors(details.get("errors")) if isinstance(details, dict) else ()
        return DecodedError(_text(error.get("code")), _sentence(error.get("message")) or _joined(errors), errors)


# A machine-readable code (`validation_failed`, `TRACE_NOT_FOUND`), as opposed to a sentence.
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]*")


class OrchestrationEnvelope:
    """The contract's errors carry the status as `code`, the status phrase as `message` ("Bad Request") and the
    explanation as `error` ("Detailed error message"); the contract has no machine code, so this server adds it
    as `details.code` and the invalid fields as `details.errors`. A server that puts a one-word code in `error`
    instead (`validation_failed`) is read too: `error` is the code when it is one word, else the sentence."""

    family = Family.ORCHESTRATION

    def decode_error(self, status: int, body: dict[str, Any]) -> DecodedError:
        details = body.get("details")
        details = details if isinstance(details, dict) else {}
        error = _text(body.get("error"))
        error_is_code = error is not None and _CODE.fullmatch(error) is not None
        code = _text(details.get("code")) or (error if error_is_code else None)
        errors = field_errors(details.get("errors"))
        message = _sentence(body.get("message"))
        if message is not None and message == _phrase(status):
            message = None  # only the status restated: no explanation
        sentence = (None if error_is_code else error) or message or _joined(errors) or _sentence(body.get("message"))
        return DecodedError(code, sentence, errors)

    def parse_success(self, content: bytes, model: type[M]) -> M:
        wrapped = json.loads(content)
        if not isinstance(wrapped, dict) or wrapped.get("code") != 0 or "data" not in wrapped:
            raise ValueError('expected {"code": 0, "message": "success", "data": ...}')
        return model.model_validate(wrapped["data"])


CONTROL = ControlEnvelope()
RUNBOOKS = DetailEnvelope(Family.RUNBOOKS)
LIVE = DetailEnvelope(Family.LIVE)
AGENT = AgentEnvelope()
ORCHESTRATION = OrchestrationEnvelope()
ENVELOPES: dict[Family, Envelope] = {e.family: e for e in (CONTROL, RUNBOOKS, LIVE, AGENT, ORCHESTRATION)}


def field_errors(raw: object) -> tuple[FieldError, ...]:
    """Field errors listed as `{"loc", "msg", "type"}` objects, `loc` dotted (control) or a list (pydantic's and
    FastAPI's `["body", "command"]`)."""
    if not isinstance(raw, list):
        return ()
    return tuple(_field_error(item) for item in raw)


def _field_error(item: object) -> FieldError:
    if not isinstance(item, dict):
        return FieldError("", str(item))
    loc = item.get("loc")
    where = ".".join(str(part) for part in loc) if isinstance(loc, list | tuple) else _text(loc) or ""
    return FieldError(where, _text(item.get("msg")) or "", _text(item.get("type")))


def _joined(errors: tuple[FieldError, ...]) -> str | None:
    return "; ".join(str(e) for e in errors) or None


def _sentence(value: object) -> str | None:
    return _text(value) if not isinstance(value, dict | list) else None


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None
