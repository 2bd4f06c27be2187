"""The Investigations screen's two state-changing actions, each through the confirm dialog: run an investigation
of a deposit, and resume an interrupted or failed one. A server running as many investigations as it allows answers
503 `investigations_at_capacity`: that is this request's refusal, not a lost server, so the dialog says so and
offers `r` to ask again, instead of the console's connection banner."""

from typing import TYPE_CHECKING

from console.commanding import Prepared, run_flow
from console.widgets.agent_format import short_id
from console.widgets.confirm_dialog import ConfirmView
from console.widgets.run_picker import RunChoice
from shared.agent import InvestigationSummary
from shared.errors import OpsClientError, ServerUnavailable

if TYPE_CHECKING:
    from console.app import OpsConsole

AT_CAPACITY = "investigations_at_capacity"


def run_view(choice: RunChoice) -> ConfirmView:
    """The confirm dialog of a run: which deposit, how deeply, and what is known of it."""
    rows: list[tuple[str, str]] = [("Transaction", choice.transaction_id), ("Mode", choice.mode)]
    tx = choice.transaction
    if tx is not None:
        rows += [
            ("Deposit", f"{tx.amount} {tx.currency} at {tx.merchant} ({tx.channel})"),
            ("Customer", f"{tx.customer_id}, device {tx.device_id}"),
            ("Countries", f"IP {tx.ip_country}, card {tx.card_country}"),
            ("Pattern", tx.pattern or "-"),
        ]
    rows.append(("Effect", "starts an investigation in the background; its recommendations enter the worklist"))
    return ConfirmView(title=f"Confirm: investigate {short_id(choice.transaction_id, 13)}", rows=tuple(rows))


def resume_view(target: InvestigationSummary) -> ConfirmView:
    return ConfirmView(
        title=f"Confirm: resume {short_id(target.investigation_id)}",
        rows=(
            ("Investigation", target.investigation_id),
            ("Transaction", target.transaction_id),
            ("Status", target.status + (f" ({target.error.message})" if target.error else "")),
            ("Mode", target.mode),
            ("Effect", "continues from its last finished step; finished tool calls are not repeated"),
        ),
    )


def capacity_refusal(exc: OpsClientError) -> OpsClientError | None:
    """`exc` as a plain refusal when it is the server's "as many investigations as I run at once"; else None."""
    if not isinstance(exc, ServerUnavailable) or exc.status != 503:
        return None
    error = exc.body.get("error")
    details = error.get("details") if isinstance(error, dict) else None
    if not isinstance(details, dict) or details.get("code") != AT_CAPACITY:
        return None
    detail = exc.detail or "The server runs as many investigations as it allows; try again shortly."
    return OpsClientError(str(exc), status=exc.status, code=AT_CAPACITY, detail=detail, body=exc.body)


def is_capacity_refusal(exc: OpsClientError) -> bool:
    return exc.code == AT_CAPACITY


async def run_investigation(app: "OpsConsole", choice: RunChoice) -> InvestigationSummary | None:
    """Run `choice` once the operator confirms; the started investigation, or None (cancelled or refused)."""
    agent = app.client.agent

    async def request(_reason: str | None) -> Prepared[RunChoice]:
        return Prepared(run_view(choice), choice)

    async def confirm(ticket: RunChoice) -> InvestigationSummary:
        try:
            return await agent.run(ticket.transaction_id, ticket.mode)
        except ServerUnavailable as exc:
            raise capacity_refusal(exc) or exc from None

    title = f"Investigate {short_id(choice.transaction_id, 13)}"
    return await run_flow(app, title=title, request=request, confirm=confirm, retryable=is_capacity_refusal)


async def resume_investigation(app: "OpsConsole", target: InvestigationSummary) -> InvestigationSummary | None:
    """Resume `target` once the operator confirms; the resumed investigation, or None (cancelled or refused)."""
    agent = app.client.agent

    async def request(_reason: str | None) -> Prepared[str]:
        return Prepared(resume_view(target), target.investigation_id)

    async def confirm(investigation_id: str) -> InvestigationSummary:
        try:
            return await agent.resume(investigation_id)
        except ServerUnavailable as exc:
            raise capacity_refusal(exc) or exc from None

    title = f"Resume {short_id(target.investigation_id)}"
    return await run_flow(app, title=title, request=request, confirm=confirm, retryable=is_capacity_refusal)
