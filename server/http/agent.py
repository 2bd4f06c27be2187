"""The ops agent family (contract 3-ops-agent-api.md): deposits, investigations and their traces, insights, rule
drafts, the recommendation worklist, and the health probes. Errors in `{"error": {"code": "OPS_AGENT_...",
"message", "details"}}`.

| method | path | access |
|---|---|---|
| GET  | /api/v1/ops-agent/transactions?limit=&cursor=&suspicious= | ops_agent:read |
| POST | /api/v1/ops-agent/transactions | ops_agent:run |
| GET  | /api/v1/ops-agent/investigations?limit=&offset=&status=&transaction_id= | ops_agent:read |
| POST | /api/v1/ops-agent/investigations/run | ops_agent:run |
| GET  | /api/v1/ops-agent/investigations/{investigation_id} | ops_agent:read |
| GET  | /api/v1/ops-agent/investigations/{investigation_id}/trace | ops_agent:read (HTML) |
| POST | /api/v1/ops-agent/investigations/{investigation_id}/resume | ops_agent:run |
| GET  | /api/v1/ops-agent/investigations/{investigation_id}/rule-draft | ops_agent:read |
| GET  | /api/v1/ops-agent/transactions/{transaction_id}/insights | ops_agent:read |
| GET  | /api/v1/ops-agent/worklist/recommendations?limit=&cursor=&severity= | ops_agent:read |
| POST | /api/v1/ops-agent/worklist/recommendations/{recommendation_id}/acknowledge | ops_agent:ack |
| GET  | /api/v1/health, /api/v1/health/ready, /api/v1/health/live | public, counted not audited |
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.errors import DependencyFailure
from server.http.access import PUBLIC, Bearer
from server.http.audit import note_audit
from server.http.context import principal_of
from server.http.envelopes import respond
from server.http.families import Family
from server.http.parsing import parse_body, parse_path, parse_query
from server.http.request_metrics import METRICS_REGISTRY
from server.http.routes import FamilyRoutes, Text
from server.keys import AUDIT, CLOCK, DB, PLANT, SETTINGS
from server.services.agent.deposits import DepositFeed
from server.services.agent.engine import InvestigationEngine
from server.services.agent.health import health_report, pending_migrations
from server.services.agent.metrics import AgentMetrics
from server.services.agent.service import AgentService
from server.services.agent.tools import Tools
from server.services.agent.trace_html import content_security_policy, new_nonce, render_trace
from server.services.reasoning import reasoner_for
from server.storage.agent_investigations import InvestigationRepository
from server.storage.agent_transactions import TransactionRepository
from server.storage.agent_worklist import WorklistRepository
from server.storage.audit_keys import load_audit_key
from shared.agent import (
    ID_PATTERN,
    Acknowledge,
    HealthReport,
    InvestigationDetail,
    InvestigationPage,
    InvestigationQuery,
    InvestigationSummary,
    NewTransaction,
    Probe,
    Recommendation,
    RuleDraft,
    RunInvestigation,
    Transaction,
    TransactionInsights,
    TransactionPage,
    TransactionQuery,
    WorklistPage,
    WorklistQuery,
)
from shared.scopes import Scope

routes = FamilyRoutes(Family.AGENT)
AGENT = web.AppKey("agent", AgentService)
AGENT_ENGINE = web.AppKey("agent_engine", InvestigationEngine)
DEPOSITS = web.AppKey("agent_deposits", DepositFeed)
TRANSACTIONS = web.AppKey("agent_transactions", TransactionRepository)  # the refunds family links deposits by it

READ = Bearer(Scope.OPS_AGENT_READ)
RUN = Bearer(Scope.OPS_AGENT_RUN)
ACK = Bearer(Scope.OPS_AGENT_ACK)
BASE = "/api/v1/ops-agent"
DETAIL_ID = r"{investigation_id:(?!run\Z)[^{}/]+}"  # the router's variable: see InvestigationDetailPath
DETAIL_ID_PATTERN = ID_PATTERN.replace("^", "^(?!run$)", 1)  # the document's (ECMA-262 has no \Z)


class InvestigationPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    investigation_id: str = Field(pattern=ID_PATTERN)


class InvestigationDetailPath(InvestigationPath):
    """The detail route's id: any investigation id but `run`, which `POST /investigations/run` has (no id is: they
    are UUIDs). The router refuses it (DETAIL_ID), so `GET /investigations/run` is a 405 naming POST, not a 404 of an
    investigation "run", and OPTIONS there advertises only POST; the document says so by the pattern."""

    investigation_id: str = Field(pattern=ID_PATTERN, json_schema_extra={"pattern": DETAIL_ID_PATTERN})


class TransactionPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transaction_id: str = Field(pattern=ID_PATTERN)


class RecommendationPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recommendation_id: str = Field(pattern=ID_PATTERN)


def setup(app: web.Application) -> None:
    """The agent routes and their services (a cleanup context after the shared ones: it needs the database, the
    clock, the plant's seed and the metrics registry)."""
    routes.add_to(app)
    app.cleanup_ctx.append(_agent)


async def _agent(app: web.Application) -> AsyncIterator[None]:
    settings, db, clock = app[SETTINGS], app[DB], app[CLOCK]
    transactions = TransactionRepository(db)
    investigations = InvestigationRepository(db)
    reasoner = reasoner_for(
        settings.llm_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
        timeout_seconds=settings.llm_timeout_seconds,
        retries=settings.llm_retries,
    )
    metrics = AgentMetrics(app[METRICS_REGISTRY])
    engine = InvestigationEngine(
        transactions,
        investigations,
        Tools(transactions, investigations),
        reasoner,
        clock,
        on_status=metrics.moved,
        max_running=settings.agent_max_concurrent,
    )
    await engine.interrupt_left_running()
    metrics.load(await investigations.counts())
    feed = DepositFeed(transactions, clock, seed=settings.plant_seed)
    await feed.start()
    # Cursors are signed with a key derived from the audit key: outside the database, shared by replicas.
    key = load_audit_key(
        settings.audit_key.get_secret_value() if settings.audit_key else None, settings.data_dir, create=True
    )
    assert key is not None  # create=True makes one
    app[AGENT] = AgentService(transactions, investigations, WorklistRepository(db), clock, cursor_secret=key.secret)
    app[AGENT_ENGINE] = engine
    app[DEPOSITS] = feed
    app[TRANSACTIONS] = transactions
    ticking = asyncio.create_task(feed.run(settings.plant_tick_seconds), name="agent-deposits")
    yield
    ticking.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticking
    await engine.close()
    await reasoner.aclose()


# --- transactions ---


@routes.get(
    f"{BASE}/transactions",
    access=READ,
    summary="Card deposits, newest first, a page at a time",
    description="`cursor` is the `next_cursor` of the page before, read with the same `suspicious` filter; any other "
    "cursor (not signed by this server, edited, or of another filter) is a 400.",
    query=TransactionQuery,
    responses={200: TransactionPage},
)
async def transactions(request: web.Request) -> web.Response:
    query = parse_query(request, TransactionQuery)
    return respond(request, await request.app[AGENT].transactions(query))


@routes.post(
    f"{BASE}/transactions",
    access=RUN,
    summary="Add a card deposit (screened as the plant's are)",
    description="The server gives the deposit its id and, when `occurred_at` is left out, the time of now.",
    body=NewTransaction,
    responses={201: Transaction},
)
async def add_transaction(request: web.Request) -> web.Response:
    body = await parse_body(request, NewTransaction)
    note_audit(request, action="agent.transaction.add", target=body.customer_id)
    added = await request.app[DEPOSITS].add(body)
    note_audit(request, transaction_id=added.transaction_id, suspicious=added.suspicious)
    return respond(request, added, status=201)


@routes.get(
    f"{BASE}/transactions/{{transaction_id}}/insights",
    access=READ,
    summary="The insights every investigation of a transaction found",
    path_params=TransactionPath,
    responses={200: TransactionInsights},
    errors=(404,),
)
async def insights(request: web.Request) -> web.Response:
    path = parse_path(request, TransactionPath)
    return respond(request, await request.app[AGENT].insights(path.transaction_id))


# --- investigations ---


@routes.get(
    f"{BASE}/investigations",
    access=READ,
    summary="Investigation summaries, newest first, by offset",
    query=InvestigationQuery,
    responses={200: InvestigationPage},
)
async def investigations(request: web.Request) -> web.Response:
    query = parse_query(request, InvestigationQuery)
    return respond(request, await request.app[AGENT].investigations(query))


@routes.post(
    f"{BASE}/investigations/run",
    access=RUN,
    summary="Start an investigation of a transaction; it runs in the background",
    description="Answers the investigation as it starts (`running`); poll its detail for the outcome. 404 for a "
    "transaction there is not, 409 while an investigation of it runs already, 503 (with Retry-After) when as many "
    "investigations run as the server allows.",
    body=RunInvestigation,
    responses={202: InvestigationSummary},
    errors=(404, 409, 503),
)
async def run(request: web.Request) -> web.Response:
    body = await parse_body(request, RunInvestigation)
    note_audit(request, action="agent.investigation.run", target=body.transaction_id, mode=body.mode)
    engine = request.app[AGENT_ENGINE]
    started = await engine.run(body.mode, body.transaction_id, requested_by=principal_of(request).name)
    note_audit(request, investigation_id=started.investigation_id)
    return respond(request, started, status=202)


@routes.get(
    f"{BASE}/investigations/{DETAIL_ID}",
    access=READ,
    summary="An investigation in full: its steps, insights, recommendations and rule draft",
    path_params=InvestigationDetailPath,
    responses={200: InvestigationDetail},
    errors=(404,),
)
async def detail(request: web.Request) -> web.Response:
    path = parse_path(request, InvestigationDetailPath)
    return respond(request, await request.app[AGENT].detail(path.investigation_id))


@routes.get(
    f"{BASE}/investigations/{{investigation_id}}/trace",
    access=READ,
    summary="An investigation's trace as a self-contained HTML page",
    description="Its steps, the planner's decisions, tool calls, reasoner prompts and answers, evidence and "
    "recommendations; no external resources (a strict Content-Security-Policy with a per-answer nonce).",
    path_params=InvestigationPath,
    responses={200: Text("text/html")},
    errors=(404,),
)
async def trace(request: web.Request) -> web.Response:
    path = parse_path(request, InvestigationPath)
    found = await request.app[AGENT].detail(path.investigation_id)
    transaction = await request.app[TRANSACTIONS].get(found.transaction_id)
    nonce = new_nonce()
    return web.Response(
        text=render_trace(found, transaction, nonce=nonce),
        content_type="text/html",
        headers={"Content-Security-Policy": content_security_policy(nonce), "Referrer-Policy": "no-referrer"},
    )


@routes.post(
    f"{BASE}/investigations/{{investigation_id}}/resume",
    access=RUN,
    summary="Resume an interrupted or failed investigation",
    description="409 for an investigation that is running or completed (or while another investigation of its "
    "transaction runs); 503 (with Retry-After) when as many investigations run as the server allows.",
    path_params=InvestigationPath,
    responses={202: InvestigationSummary},
    errors=(404, 409, 503),
)
async def resume(request: web.Request) -> web.Response:
    path = parse_path(request, InvestigationPath)
    note_audit(request, action="agent.investigation.resume", target=path.investigation_id)
    return respond(request, await request.app[AGENT_ENGINE].resume(path.investigation_id), status=202)


@routes.get(
    f"{BASE}/investigations/{{investigation_id}}/rule-draft",
    access=READ,
    summary="The rule an investigation's findings generalise to",
    description="404 for an investigation there is not, and for one whose findings did not generalise to a rule.",
    path_params=InvestigationPath,
    responses={200: RuleDraft},
    errors=(404,),
)
async def rule_draft(request: web.Request) -> web.Response:
    path = parse_path(request, InvestigationPath)
    return respond(request, await request.app[AGENT].rule_draft(path.investigation_id))


# --- worklist ---


@routes.get(
    f"{BASE}/worklist/recommendations",
    access=READ,
    summary="Recommendations, most severe first, a page at a time",
    description="`cursor` is the `next_cursor` of the page before, read with the same `severity` filter; any other "
    "cursor (not signed by this server, edited, or of another filter) is a 400.",
    query=WorklistQuery,
    responses={200: WorklistPage},
)
async def worklist(request: web.Request) -> web.Response:
    query = parse_query(request, WorklistQuery)
    return respond(request, await request.app[AGENT].worklist(query))


@routes.post(
    f"{BASE}/worklist/recommendations/{{recommendation_id}}/acknowledge",
    access=ACK,
    summary="Acknowledge or reject a recommendation",
    description="A recommendation is decided once: 409 for one decided already.",
    path_params=RecommendationPath,
    body=Acknowledge,
    responses={200: Recommendation},
    errors=(404, 409),
)
async def acknowledge(request: web.Request) -> web.Response:
    path = parse_path(request, RecommendationPath)
    body = await parse_body(request, Acknowledge)
    note_audit(request, action="agent.recommendation.decide", target=path.recommendation_id, decision=body.action)
    decided = await request.app[AGENT].acknowledge(path.recommendation_id, body, by=principal_of(request).name)
    return respond(request, decided)


# --- health ---


@routes.get(
    "/api/v1/health",
    access=PUBLIC,
    summary="The server's dependencies, each checked",
    description="200 when every check is ok, 503 (the same report) when one is failing.",
    responses={200: HealthReport, 503: HealthReport},
)
async def health(request: web.Request) -> web.Response:
    app = request.app
    report = await health_report(app[DB], app[AUDIT], app[PLANT], app[AGENT_ENGINE].reasoner)
    return respond(request, report, status=200 if report.status == "ok" else 503)


@routes.get(
    "/api/v1/health/ready",
    access=PUBLIC,
    summary="Readiness: the database answers and its migrations are applied",
    responses={200: Probe},
    errors=(503,),
)
async def ready(request: web.Request) -> web.Response:
    db = request.app.get(DB)
    if db is None:
        raise DependencyFailure("the database is not open yet", code="not_ready")
    try:
        pending = await asyncio.wait_for(pending_migrations(db), 2.0)
    except Exception as exc:  # any failure to answer is "not ready", said with its reason
        raise DependencyFailure(f"the database does not answer: {type(exc).__name__}", code="not_ready") from None
    if pending:
        raise DependencyFailure(f"migrations not applied yet: {sorted(pending)}", code="not_ready")
    return respond(request, Probe(status="ok"))


@routes.get(
    "/api/v1/health/live",
    access=PUBLIC,
    summary="Liveness: the server answers",
    responses={200: Probe},
)
async def live(request: web.Request) -> web.Response:
    return respond(request, Probe(status="ok"))
