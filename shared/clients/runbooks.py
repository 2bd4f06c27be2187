"""RunbooksClient: the runbook half of the runbooks family (contract 2-runbooks-metrics-api.md),
`client.runbooks.*`, and the feed operations runbook scripts call back on."""

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from shared.clients.envelopes import RUNBOOKS, field_errors
from shared.clients.transport import Transport, query_params
from shared.errors import InvalidRequest
from shared.runbooks import (
    AbortResponse,
    ExecuteResponse,
    FeedOperation,
    HealthReport,
    HistoryPage,
    HistoryQuery,
    OpsStatus,
    RunbookCommand,
    RunbookCommands,
    RunbookRequest,
    RunQuery,
    RunState,
)

M = TypeVar("M", bound=BaseModel)


class RunbooksClient:
    """One method per endpoint of `/api/ops/...` (runbooks); errors in the family's `{"detail": ...}` envelope
    become the typed errors. `execute` waits for the run to end: give the client a timeout longer than the
    runbook's."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def status(self) -> OpsStatus:
        return await self._transport.request(RUNBOOKS, "GET", "/api/ops/status", OpsStatus)

    async def execute(
        self,
        command: RunbookCommand,
        *,
        request_id: str | None = None,
        mode: str | None = None,
        window: str | None = None,
        profile: str | None = None,
        config: str | None = None,
        enforce: bool = False,
        dry_run: bool = False,
        reason: str | None = None,
    ) -> ExecuteResponse:
        """Run `command` (or answer the earlier run of `request_id`: the same id with the same fields never runs
        twice). The fields are checked by the model the server checks them with."""
        body = _checked(
            RunbookRequest,
            {
                "command": command,
                "request_id": request_id,
                "mode": mode,
                "window": window,
                "profile": profile,
                "config": config,
                "enforce": enforce,
                "dry_run": dry_run,
                "reason": reason,
            },
        )
        return await self._transport.request(
            RUNBOOKS, "POST", "/api/ops/runbooks/execute", ExecuteResponse, json=body.model_dump(exclude_none=True)
        )

    async def history(
        self, limit: int = 20, *, cursor: str | None = None, command: RunbookCommand | None = None
    ) -> HistoryPage:
        """Runs newest first; `cursor` is a page's `next_cursor`, for the page after it."""
        query = _checked(HistoryQuery, {"limit": limit, "cursor": cursor, "command": command})
        return await self._transport.request(
            RUNBOOKS, "GET", "/api/ops/runbooks", HistoryPage, params=query_params(query)
        )

    async def run(self, request_id: str, offset: int = 0) -> RunState:
        """One run as it is now, with its log lines from `offset` on (pass `next_offset` back to tail it)."""
        query = _checked(RunQuery, {"offset": offset})
        return await self._transport.request(
            RUNBOOKS, "GET", f"/api/ops/runbooks/{request_id}", RunState, params=query_params(query)
        )

    async def abort(self, request_id: str) -> AbortResponse:
        return await self._transport.request(RUNBOOKS, "POST", f"/api/ops/runbooks/{request_id}/abort", AbortResponse)

    async def commands(self) -> RunbookCommands:
        """The commands the server's runbooks manifest offers, with descriptions and timeouts."""
        return await self._transport.request(RUNBOOKS, "GET", "/api/ops/runbook-commands", RunbookCommands)

    async def feed_health(self) -> HealthReport:
        return await self._transport.request(RUNBOOKS, "GET", "/api/ops/feed/health", HealthReport)

    async def feed_failover(self) -> FeedOperation:
        """For a failover runbook's script, with its own token: any other caller is refused (403)."""
        return await self._transport.request(RUNBOOKS, "POST", "/api/ops/feed/failover", FeedOperation)

    async def feed_failback(self) -> FeedOperation:
        """For a failback runbook's script, with its own token: any other caller is refused (403)."""
        return await self._transport.request(RUNBOOKS, "POST", "/api/ops/feed/failback", FeedOperation)


def _checked(model: type[M], data: dict[str, object]) -> M:
    """`data` as `model`, or InvalidRequest (status None) naming every invalid field, without a round trip."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc.errors(include_url=False, include_context=False, include_input=False))
        detail = "; ".join(str(e) for e in errors)
        raise InvalidRequest(
            f"invalid request: {detail}", code="validation_failed", detail=detail, errors=errors, family=RUNBOOKS.family
        ) from None
