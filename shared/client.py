"""OpsClient: the typed async HTTP client of the ops API. The console, scripts and tests use it; nothing else
builds URLs."""

import uuid
from collections.abc import Callable
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from shared.control import (
    AuditResponse,
    Command,
    CommandExecuted,
    CommandParams,
    ConfirmationRequired,
    RunbookResponse,
    StatusResponse,
    WhoAmIResponse,
)
from shared.errors import ERRORS_BY_STATUS, OpsClientError, RateLimited, ServerError, ServerUnavailable

M = TypeVar("M", bound=BaseModel)


def new_request_id() -> str:
    return uuid.uuid4().hex


class OpsClient:
    """One method per endpoint. Every call sends an `X-Request-ID` so client and server logs correlate."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 10.0,
        request_ids: Callable[[], str] = new_request_id,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "ops-console"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self._request_ids = request_ids
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- control family (contract 1) ---

    async def whoami(self) -> WhoAmIResponse:
        return await self._call("GET", "/ops/whoami", WhoAmIResponse)

    async def status(self) -> StatusResponse:
        return await self._call("GET", "/ops/status", StatusResponse)

    async def runbook(self, name: str | None = None) -> RunbookResponse:
        params = {"name": name} if name is not None else None
        return await self._call("GET", "/ops/runbook", RunbookResponse, params=params)

    async def audit(self, limit: int = 50, *, q: str | None = None, changes_only: bool = False) -> AuditResponse:
        """Newest entries first; `q` words must all occur in an entry; `changes_only` leaves out reads."""
        params: dict[str, str | int] = {"limit": limit}
        if q:
            params["q"] = q
        if changes_only:
            params["changes_only"] = "true"
        return await self._call("GET", "/ops/audit", AuditResponse, params=params)

    async def request_command(
        self, command: Command, component: str, params: CommandParams | None = None
    ) -> ConfirmationRequired:
        """Step one: ask for a confirm token for exactly this command."""
        body = {"command": command, "component": component, "params": _params(params)}
        return await self._call("POST", "/ops/command", ConfirmationRequired, json=body)

    async def confirm_command(
        self, command: Command, component: str, confirm_token: str, params: CommandParams | None = None
    ) -> CommandExecuted:
        """Step two: execute the command the token was issued for."""
        body = {
            "command": command,
            "component": component,
            "params": _params(params),
            "confirm_token": confirm_token,
        }
        return await self._call("POST", "/ops/command", CommandExecuted, json=body)

    # --- plumbing ---

    async def _call(self, method: str, path: str, model: type[M], **kwargs: Any) -> M:
        headers = {"X-Request-ID": self._request_ids()}
        try:
            response = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnavailable(f"cannot reach {self.base_url}: {exc.__class__.__name__}") from exc
        if response.is_success:
            try:
                return model.model_validate_json(response.content)
            except ValidationError as exc:
                raise OpsClientError(
                    f"unexpected response from {method} {path}", status=response.status_code, detail=str(exc)
                ) from exc
        raise _error_from(response)


def _params(params: CommandParams | None) -> dict[str, Any]:
    return (params or CommandParams()).model_dump(exclude_none=True)


def _error_from(response: httpx.Response) -> OpsClientError:
    code: str | None = None
    detail: str | None = None
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    body: dict[str, Any] = dict(parsed) if isinstance(parsed, dict) else {}
    raw_code = body.get("error")
    if isinstance(raw_code, dict):  # agent-family envelope: {"error": {"code", "message"}}
        code, detail = _text(raw_code.get("code")), _text(raw_code.get("message"))
    else:
        code = raw_code if isinstance(raw_code, str) else None
        detail = _detail(body)
    status = response.status_code
    message = f"{status} {code or response.reason_phrase}" + (f": {detail}" if detail else "")
    if status == 429:
        retry_after = response.headers.get("Retry-After")
        return RateLimited(
            message,
            status=status,
            code=code,
            detail=detail,
            body=body,
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        )
    error_type = ERRORS_BY_STATUS.get(status)
    if error_type is None:
        error_type = ServerError if status >= 500 else OpsClientError
    return error_type(message, status=status, code=code, detail=detail, body=body)


def _detail(body: dict[str, Any]) -> str | None:
    """The control-family `detail` as a string. The envelope carries structured data in sibling keys
    (`{"detail": "...", "errors": [...]}`, `{"detail": "...", "sections": [...]}`); the older envelope put it in
    `detail` itself (a list of field errors, or `{"message", "sections"}`). Older shapes are lifted into `body`'s
    sibling keys so callers read one shape."""
    raw = body.get("detail", body.get("message"))
    if isinstance(raw, list):  # older validation failure: the field errors themselves
        body.setdefault("errors", raw)
        return "; ".join(_field_error(e) for e in raw) or None
    if isinstance(raw, dict):  # older structured detail: {"message": ..., other keys}
        for key, value in raw.items():
            if key != "message":
                body.setdefault(key, value)
        return _text(raw.get("message"))
    return _text(raw)


def _field_error(error: object) -> str:
    if not isinstance(error, dict):
        return str(error)
    loc = error.get("loc")
    where = ".".join(str(part) for part in loc) if isinstance(loc, list | tuple) else loc
    msg = error.get("msg", "")
    return f"{where}: {msg}" if where not in (None, "") else str(msg)


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)
