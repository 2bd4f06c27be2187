"""The runbook's two steps through the shared flow: a dry run whose plan and log the ConfirmDialog shows, then —
only on an explicit confirm — the real run with a fresh request_id, followed while it runs. And the abort of a run
in flight, confirmed the same way."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from console.commanding import Prepared
from console.widgets.confirm_dialog import ConfirmView
from console.widgets.runbook_form import RunFields
from console.widgets.runbook_run import log_line
from shared.client import OpsClient
from shared.errors import NotFound, OpsClientError, ServerUnavailable
from shared.runbooks import (
    FINAL_STATUSES,
    AbortResponse,
    ExecuteResponse,
    LogLine,
    RunbookCommand,
    RunbookRun,
    RunState,
)

PREVIEW_LINES = 40
"""A dry run's log lines the dialog shows (it scrolls); the rest is in the run's record."""


# How long a run whose execute request timed out may stay unknown to the server before the console gives up on it.
UNREGISTERED_GRACE_SECONDS = 10.0


def new_request_id() -> str:
    return f"console-{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True)
class RunTicket:
    """What the dry run was asked with: the real run is asked with exactly these fields."""

    command: RunbookCommand
    fields: RunFields
    dry_run_id: str


def dry_run_view(
    command: RunbookCommand, fields: RunFields, answer: ExecuteResponse, description: str = ""
) -> ConfirmView:
    """The dialog after the dry run: what will run, how the dry run ended, and its plan and log. `description`
    (a row of its own) only where the terminal has room for it: at 80x24 the dialog must fit as it is."""
    run = answer.runbook
    outcome = f"{run.status}, exit {run.exit_code}" if run.exit_code is not None else run.status
    preview = [log_line(line) for line in run.logs[-PREVIEW_LINES:]] or ["(the dry run printed nothing)"]
    if answer.health is not None:
        health = answer.health
        coverage = "unknown" if health.coverage_ratio is None else f"{health.coverage_ratio:.4f}"
        preview.append(f"health: coverage {coverage}, throughput {health.throughput_mps} msg/s")
        preview += [f"below threshold: {v}" for v in health.violations]
    what = (("What", description),) if description else ()
    return ConfirmView(
        title=f"Run runbook for real: {command}",
        rows=(
            ("Command", command),
            *what,
            ("Params", fields.params()),
            ("Dry run", f"{outcome} ({run.request_id})"),
            ("On confirm", "runs it for real, new request id"),
        ),
        asks_reason=True,
        reason=fields.reason,
        preview="\n".join(preview),
    )


def abort_view(state: RunState) -> ConfirmView:
    run = state.runbook
    return ConfirmView(
        title=f"Abort runbook: {run.command}",
        rows=(
            ("Command", run.command),
            ("Request", run.request_id),
            ("Status", run.status),
            ("Started", f"{run.started_at:%H:%M:%S} UTC"),
            ("Abort", "stops the script and its process group"),
        ),
    )


def timed_out(exc: OpsClientError) -> bool:
    """The execute request outlived the client's timeout: the run itself goes on on the server."""
    return isinstance(exc, ServerUnavailable) and exc.detail == "timed out"


def never_retry(_exc: OpsClientError) -> bool:
    """A runbook answer is not a confirmation that may expire: a refusal is final."""
    return False


class RunbookSteps:
    """The two callables of `run_flow` for one runbook, and the run follower. `started` and `progress` tell the
    screen what happened (the worker calls them; they must not touch the network)."""

    def __init__(
        self,
        client: OpsClient,
        *,
        description: str,
        started: Callable[[RunbookCommand, str], object],
        progress: Callable[[RunbookRun, list[LogLine]], object],
        tail_seconds: float,
    ) -> None:
        self._runbooks = client.runbooks
        self._description = description
        self._started = started
        self._progress = progress
        self._tail_seconds = tail_seconds
        self.started_id: str | None = None
        """The request id of the real run, once sent."""

    def requester(
        self, command: RunbookCommand, fields: RunFields
    ) -> Callable[[str | None], Awaitable[Prepared[RunTicket]]]:
        async def request(reason: str | None) -> Prepared[RunTicket]:
            asked = replace(fields, reason=reason)
            dry_run_id = new_request_id()
            answer = await self._execute(command, asked, request_id=dry_run_id, dry_run=True)
            return Prepared(
                dry_run_view(command, asked, answer, self._description), RunTicket(command, asked, dry_run_id)
            )

        return request

    async def run_for_real(self, ticket: RunTicket) -> RunbookRun | None:
        """Run the ticket's command for real and follow it to its end; returns the run as it ended."""
        request_id = self.started_id = new_request_id()
        self._started(ticket.command, request_id)
        execute = asyncio.create_task(
            self._execute(ticket.command, ticket.fields, request_id=request_id, dry_run=False)
        )
        try:
            return await self._follow(request_id, execute)
        finally:
            if not execute.done():
                execute.cancel()  # the request only: the run itself goes on on the server
            elif not execute.cancelled():
                execute.exception()  # seen: an answer that came after the run's end needs no report

    async def _follow(self, request_id: str, execute: "asyncio.Task[ExecuteResponse]") -> RunbookRun | None:
        offset = 0
        run: RunbookRun | None = None
        unregistered_until: float | None = None
        while True:
            answered = execute.done()  # read before the tail: a run answered before it is read in whole
            try:
                state = await self._runbooks.run(request_id, offset=offset)
            except NotFound:  # the server has not registered the run yet
                state = None
            if state is not None:
                run, offset = state.runbook, state.next_offset
                self._progress(run, state.runbook.logs)
                if run.status in FINAL_STATUSES:
                    return run
            if answered:
                exc = execute.exception()
                if exc is None:
                    return execute.result().runbook
                if not (isinstance(exc, OpsClientError) and timed_out(exc)):
                    raise exc
                # The request timed out, the run may go on: follow it. One the server has not registered yet is
                # waited for a while (a slow start), then the timeout stands.
                if run is None:
                    loop = asyncio.get_running_loop()
                    unregistered_until = unregistered_until or loop.time() + UNREGISTERED_GRACE_SECONDS
                    if loop.time() > unregistered_until:
                        raise exc
                await asyncio.sleep(self._tail_seconds)
            else:
                await asyncio.wait({execute}, timeout=self._tail_seconds)

    async def request_abort(self, request_id: str) -> Prepared[str]:
        return Prepared(abort_view(await self._runbooks.run(request_id)), request_id)

    async def abort(self, request_id: str) -> AbortResponse:
        return await self._runbooks.abort(request_id)

    async def _execute(
        self, command: RunbookCommand, fields: RunFields, *, request_id: str, dry_run: bool
    ) -> ExecuteResponse:
        return await self._runbooks.execute(
            command,
            request_id=request_id,
            mode=fields.mode,
            window=fields.window,
            profile=fields.profile,
            config=fields.config,
            enforce=fields.enforce,
            dry_run=dry_run,
            reason=fields.reason,
        )
