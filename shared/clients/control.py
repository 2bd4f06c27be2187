"""ControlClient: the control family (contract 1-control-api.md), `client.control.*`."""

from typing import Any

from pydantic import ValidationError

from shared.clients.envelopes import CONTROL, field_errors
from shared.clients.transport import Transport, query_params
from shared.control import (
    ApiDocument,
    AuditQuery,
    AuditResponse,
    Command,
    CommandExecuted,
    CommandParams,
    ConfirmationRequired,
    RunbookResponse,
    StatusResponse,
    WhoAmIResponse,
)
from shared.errors import InvalidRequest


class ControlClient:
    """One method per endpoint of `/ops/...`; errors in the control envelope become the typed errors."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def openapi(self) -> ApiDocument:
        """The OpenAPI document of every family's operations (public: no token needed)."""
        return await self._transport.request(CONTROL, "GET", "/openapi.json", ApiDocument)

    async def whoami(self) -> WhoAmIResponse:
        return await self._transport.request(CONTROL, "GET", "/ops/whoami", WhoAmIResponse)

    async def status(self) -> StatusResponse:
        return await self._transport.request(CONTROL, "GET", "/ops/status", StatusResponse)

    async def runbook(self, name: str | None = None) -> RunbookResponse:
        params = {"name": name} if name is not None else None
        return await self._transport.request(CONTROL, "GET", "/ops/runbook", RunbookResponse, params=params)

    async def audit(
        self, limit: int = 50, *, q: str | None = None, changes_only: bool = False, cursor: str | None = None
    ) -> AuditResponse:
        """Newest entries first; `q` words must all occur in an entry; `changes_only` leaves out reads; `cursor`
        is a page's `next_cursor`, for the page after it. The query is checked by the model the server checks it
        with, so one that cannot succeed is InvalidRequest (status None) without a round trip."""
        try:
            query = AuditQuery(limit=limit, q=q, changes_only=changes_only, cursor=cursor)
        except ValidationError as exc:
            errors = field_errors(exc.errors(include_url=False, include_context=False, include_input=False))
            detail = "; ".join(str(e) for e in errors)
            raise InvalidRequest(
                f"invalid audit query: {detail}",
                code="validation_failed",
                detail=detail,
                errors=errors,
                family=CONTROL.family,
            ) from None
        return await self._transport.request(CONTROL, "GET", "/ops/audit", AuditResponse, params=query_params(query))

    async def request_command(
        self, command: Command, component: str, params: CommandParams | None = None
    ) -> ConfirmationRequired:
        """Step one: ask for a confirm token for exactly this command."""
        body = {"command": command, "component": component, "params": _params(params)}
        return await self._transport.request(CONTROL, "POST", "/ops/command", ConfirmationRequired, json=body)

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
        return await self._transport.request(CONTROL, "POST", "/ops/command", CommandExecuted, json=body)


def _params(params: CommandParams | None) -> dict[str, Any]:
    return (params or CommandParams()).model_dump(exclude_none=True)
