"""ControlService: the control family's domain — status, playbook excerpts, audit, two-step commands."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from server.errors import ControllerUnavailable
from server.plant.plant import Plant
from server.services.audit import AuditTrail
from server.services.confirmations import ConfirmationService, ConfirmTokenStale
from server.services.playbook import Playbook
from server.services.tokens import Principal
from shared.control import (
    AuditEntry,
    AuditQuery,
    AuditResponse,
    CommandExecuted,
    CommandRequest,
    ConfirmationPlan,
    ConfirmationRequired,
    RunbookResponse,
    StatusSnapshot,
)


@dataclass
class ControlService:
    plant: Plant
    playbook: Playbook
    audit: AuditTrail
    confirmations: ConfirmationService
    # False when the server runs with --no-controller: reads work, commands answer 501.
    controller_enabled: bool = True

    def status(self) -> StatusSnapshot:
        return self.plant.snapshot()

    def runbook(self, name: str | None) -> RunbookResponse:
        section = self.playbook.excerpt(name)
        return RunbookResponse(runbook_excerpt=section.body, section=section.title, sections=self.playbook.titles)

    async def recent_audit(self, query: AuditQuery) -> AuditResponse:
        """A page of the audit log, newest first: from query.cursor, narrowed by q and changes_only."""
        page = await self.audit.page(
            query.limit, cursor=query.cursor, words=(query.q or "").split(), changes_only=query.changes_only
        )
        entries = [
            AuditEntry(entry_id=r.entry_id, prev_hash=r.prev_hash, hash=r.hash, **{**r.record._asdict(), "at": r.at})
            for r in page.rows
        ]
        return AuditResponse(limit=query.limit, results=entries, next_cursor=page.next_cursor)

    async def command(
        self,
        principal: Principal,
        request: CommandRequest,
        *,
        before_execute: Callable[[], Awaitable[None]] | None = None,
    ) -> ConfirmationRequired | CommandExecuted:
        """Step one issues a confirm token; step two redeems it, awaits `before_execute` (the durable audit of
        the intent: if that fails, nothing runs), then executes."""
        if not self.controller_enabled:
            raise ControllerUnavailable("no OpsController is bound to this server; commands are disabled")
        plant = self.plant
        if request.confirm_token is None:
            # Refuse early: a token for a command that cannot run would only waste the operator's confirmation.
            plant.check(request.command, request.component)
            # Read everything the plan shows before awaiting, so it describes the state the token is bound to.
            fingerprint = plant.fingerprint(request.component)
            state, mode = plant.state_of(request.component), plant.mode
            token = await self.confirmations.issue(
                principal, request.command, request.component, request.params, fingerprint
            )
            return ConfirmationRequired(
                confirm_token=token,
                expires_in=self.confirmations.ttl_seconds,
                plan=ConfirmationPlan(
                    command=request.command,
                    component=request.component,
                    params=request.params,
                    current_state=state,
                    mode=mode,
                    summary=f"{request.command} {request.component} (now {state}, mode {mode})",
                ),
            )
        fingerprint = plant.fingerprint(request.component)
        await self.confirmations.redeem(
            request.confirm_token, principal, request.command, request.component, request.params, fingerprint
        )
        if before_execute is not None:
            await before_execute()
        # Another command may have run while the token was redeemed: re-read, then act with no await between.
        if plant.fingerprint(request.component) != fingerprint:
            raise ConfirmTokenStale(
                f"{request.component} changed while the confirmation was redeemed; request a new confirmation"
            )
        return CommandExecuted(result=plant.execute(request.command, request.component, request.params))
