"""The one HTTP transport every family's sub-client shares: one connection pool, the token, an `X-Request-ID` on
every call, timeouts; answers parsed into pydantic models or raised as typed errors by the family's envelope."""

import socket
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from shared.clients.envelopes import Envelope, field_errors
from shared.errors import OpsClientError, RateLimited, ServerUnavailable, error_type_for

M = TypeVar("M", bound=BaseModel)

QueryParams = Mapping[str, str | int | float | bool]


def query_params(query: BaseModel) -> dict[str, Any]:
    """A query model as URL parameters: its fields by the names the server reads (an alias where a field has one:
    `from`), those left unset (None) out."""
    return query.model_dump(mode="json", exclude_none=True, by_alias=True)


def new_request_id() -> str:
    return uuid.uuid4().hex


class Transport:
    """One httpx.AsyncClient for every family of one server: a sub-client calls `request` with its envelope."""

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

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        envelope: Envelope,
        method: str,
        path: str,
        model: type[M],
        *,
        params: QueryParams | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> M:
        """`method path` answered as `model`, or raised as the typed error its family's envelope says. `headers`
        go with the call (an `Idempotency-Key`)."""
        response = await self._send(envelope, method, path, params=params, json=json, headers=headers)
        try:
            return envelope.parse_success(response.content, model)
        except ValueError as exc:  # not JSON, not of the model's shape, or not wrapped as the contract says
            raise OpsClientError(
                f"unexpected response from {method} {path}",
                status=response.status_code,
                detail=_mismatch(exc),
                family=envelope.family,
            ) from exc

    async def request_text(
        self, envelope: Envelope, method: str, path: str, *, params: QueryParams | None = None
    ) -> str:
        """`method path` answered as text (an HTML page such as an investigation's trace); errors as `request`'s."""
        response = await self._send(envelope, method, path, params=params, headers={"Accept": "text/html"})
        return response.text

    async def _send(
        self,
        envelope: Envelope,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The 2xx answer to `method path`, or the typed error its family's envelope says."""
        headers = {**(headers or {}), "X-Request-ID": self._request_ids()}
        try:
            response = await self._http.request(method, path, headers=headers, params=params, json=json)
        except httpx.TransportError as exc:
            reason = describe_transport_error(exc)
            raise ServerUnavailable(
                f"cannot reach {self.base_url}: {reason}", detail=reason, family=envelope.family
            ) from exc
        if not response.is_success:
            raise error_from(envelope, response)
        return response


def error_from(envelope: Envelope, response: httpx.Response) -> OpsClientError:
    """The typed error of a non-2xx answer, read with the family's envelope."""
    try:
        parsed = response.json()
    except ValueError:  # a proxy's HTML page, an empty body
        parsed = None
    body: dict[str, Any] = dict(parsed) if isinstance(parsed, dict) else {}
    decoded = envelope.decode_error(response.status_code, body)
    status = response.status_code
    message = f"{status} {decoded.code or response.reason_phrase}" + (f": {decoded.detail}" if decoded.detail else "")
    fields: dict[str, Any] = {
        "status": status,
        "code": decoded.code,
        "detail": decoded.detail,
        "errors": decoded.errors,
        "body": body,
        "family": envelope.family,
    }
    error_type = error_type_for(status)
    if error_type is RateLimited:
        return RateLimited(message, retry_after=_seconds(response.headers.get("Retry-After")), **fields)
    return error_type(message, **fields)


def describe_transport_error(exc: httpx.TransportError) -> str:
    """Why no answer came, in words (`connection refused`), not the exception's class name."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:  # httpx wraps httpcore's error, which wraps the socket's
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "unknown host"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection without an answer"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "not an http:// or https:// URL"
    if isinstance(exc, httpx.ProxyError):
        return "the proxy failed"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    return "the connection failed"


def _mismatch(exc: ValueError) -> str:
    """What was wrong with a success body, by field, without pydantic's model names and links."""
    if isinstance(exc, ValidationError):
        errors = field_errors(exc.errors(include_url=False, include_context=False, include_input=False))
        return "; ".join(str(e) for e in errors)
    return str(exc)


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds; None for the HTTP-date form or anything else."""
    return float(retry_after) if retry_after and retry_after.isdigit() else None
