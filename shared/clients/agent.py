"""AgentClient: the ops agent family (contract 3-ops-agent-api.md), `client.agent.*`: deposits, investigations,
insights, rule drafts, the worklist and the health probes. Errors in `{"error": {"code": "OPS_AGENT_...", ...}}`
become the typed errors (`NotFound`, `Conflict`, `Forbidden`, `InvalidRequest`, `ServerUnavailable`); arguments are
checked with the server's own models before any request goes out."""

from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from shared.agent import (
    Acknowledge,
    Decision,
    HealthReport,
    InvestigationDetail,
    InvestigationPage,
    InvestigationQuery,
    InvestigationStatus,
    InvestigationSummary,
    Mode,
    NewTransaction,
    Probe,
    Recommendation,
    RuleDraft,
    RunInvestigation,
    Severity,
    Transaction,
    TransactionInsights,
    TransactionPage,
    TransactionQuery,
    WorklistPage,
    WorklistQuery,
)
from shared.clients.envelopes import AGENT, field_errors
from shared.clients.transport import Transport, query_params
from shared.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)
BASE = "/api/v1/ops-agent"


class AgentClient:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    # --- deposits ---

    async def transactions(
        self, limit: int = 50, *, cursor: str | None = None, suspicious: bool | None = None
    ) -> TransactionPage:
        """Newest first; pass a page's `next_cursor` for the next."""
        query = _checked(TransactionQuery, {"limit": limit, "cursor": cursor, "suspicious": suspicious})
        params = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in query_params(query).items()}
        return await self._transport.request(AGENT, "GET", f"{BASE}/transactions", TransactionPage, params=params)

    async def add_transaction(
        self,
        *,
        amount: Decimal | str,
        currency: str,
        merchant: str,
        channel: str,
        customer_id: str,
        device_id: str,
        ip_country: str,
        card_country: str,
        occurred_at: datetime | None = None,
    ) -> Transaction:
        body = _checked(
            NewTransaction,
            {
                "amount": amount,
                "currency": currency,
                "merchant": merchant,
                "channel": channel,
                "customer_id": customer_id,
                "device_id": device_id,
                "ip_country": ip_country,
                "card_country": card_country,
                "occurred_at": occurred_at,
            },
        )
        return await self._transport.request(
            AGENT, "POST", f"{BASE}/transactions", Transaction, json=body.model_dump(mode="json", exclude_none=True)
        )

    async def insights(self, transaction_id: str) -> TransactionInsights:
        """Every investigation's insights about the transaction, newest first."""
        return await self._transport.request(
            AGENT, "GET", f"{BASE}/transactions/{transaction_id}/insights", TransactionInsights
        )

    # --- investigations ---

    async def investigations(
        self,
        limit: int = 50,
        offset: int = 0,
        *,
        status: InvestigationStatus | None = None,
        transaction_id: str | None = None,
    ) -> InvestigationPage:
        query = _checked(
            InvestigationQuery, {"limit": limit, "offset": offset, "status": status, "transaction_id": transaction_id}
        )
        return await self._transport.request(
            AGENT, "GET", f"{BASE}/investigations", InvestigationPage, params=query_params(query)
        )

    async def run(self, transaction_id: str, mode: Mode = "quick") -> InvestigationSummary:
        """Start an investigation; it runs in the background (poll `investigation()` until it is not running)."""
        body = _checked(RunInvestigation, {"transaction_id": transaction_id, "mode": mode})
        return await self._transport.request(
            AGENT, "POST", f"{BASE}/investigations/run", InvestigationSummary, json=body.model_dump()
        )

    async def investigation(self, investigation_id: str) -> InvestigationDetail:
        return await self._transport.request(
            AGENT, "GET", f"{BASE}/investigations/{investigation_id}", InvestigationDetail
        )

    async def resume(self, investigation_id: str) -> InvestigationSummary:
        """Continue an interrupted or failed investigation from its last finished step (Conflict for others)."""
        return await self._transport.request(
            AGENT, "POST", f"{BASE}/investigations/{investigation_id}/resume", InvestigationSummary
        )

    async def trace_html(self, investigation_id: str) -> str:
        """The investigation's trace as one self-contained HTML page, to save and open in a browser."""
        return await self._transport.request_text(AGENT, "GET", f"{BASE}/investigations/{investigation_id}/trace")

    async def rule_draft(self, investigation_id: str) -> RuleDraft:
        """NotFound when the investigation's findings did not generalise to a rule."""
        return await self._transport.request(
            AGENT, "GET", f"{BASE}/investigations/{investigation_id}/rule-draft", RuleDraft
        )

    # --- worklist ---

    async def worklist(
        self, limit: int = 50, *, cursor: str | None = None, severity: Severity | None = None
    ) -> WorklistPage:
        """Most severe first; `next_cursor` is opaque (only this server's own cursors are accepted)."""
        query = _checked(WorklistQuery, {"limit": limit, "cursor": cursor, "severity": severity})
        return await self._transport.request(
            AGENT, "GET", f"{BASE}/worklist/recommendations", WorklistPage, params=query_params(query)
        )

    async def acknowledge(self, recommendation_id: str, action: Decision, comment: str) -> Recommendation:
        """Record the decision; Conflict if the recommendation was decided already."""
        body = _checked(Acknowledge, {"action": action, "comment": comment})
        return await self._transport.request(
            AGENT,
            "POST",
            f"{BASE}/worklist/recommendations/{recommendation_id}/acknowledge",
            Recommendation,
            json=body.model_dump(),
        )

    # --- health ---

    async def health(self) -> HealthReport:
        """The server's health, each check; a failing one is ServerUnavailable with the report in `body`."""
        return await self._transport.request(AGENT, "GET", "/api/v1/health", HealthReport)

    async def ready(self) -> Probe:
        return await self._transport.request(AGENT, "GET", "/api/v1/health/ready", Probe)

    async def live(self) -> Probe:
        return await self._transport.request(AGENT, "GET", "/api/v1/health/live", Probe)


def _checked(model: type[M], data: dict[str, object]) -> M:
    """`data` as `model`, or InvalidRequest (status None) naming every invalid field, without a round trip."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc.errors(include_url=False, include_context=False, include_input=False))
        detail = "; ".join(str(e) for e in errors)
        raise InvalidRequest(
            f"invalid request: {detail}", code="validation_failed", detail=detail, errors=errors, family=AGENT.family
        ) from None
