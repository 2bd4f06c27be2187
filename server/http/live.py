"""The live + refunds family (contract 5-live-refunds-api.md): the public, sanitized live board and feed, and the
operator's refund tools. Errors are `{"detail": ...}`; a missing or invalid token is always
`401 {"detail": "Invalid or missing credentials"}` (the family's envelope, server/http/envelopes.py).

| method | path | access |
|---|---|---|
| GET  | /ops/api/live/status | public, sanitized, not audited, cacheable 1 s |
| GET  | /ops/api/live/feed?limit= | public, sanitized, not audited, cacheable 1 s |
| GET  | /ops/api/refunds/agent/status | refunds:operator |
| GET  | /ops/api/refunds/ledger?limit=&cursor=&status=&decision=&since=&until=&masked= | refunds:operator (1) |
| GET  | /ops/api/refunds/ledger/{entry_id}?masked= | refunds:operator (1) |
| GET  | /ops/api/refunds/evidence/{evidence_id} | refunds:operator |
| POST | /ops/api/refunds/process-once (Idempotency-Key) | refunds:operator |

(1) with refunds:pii too, customer fields unmasked (unless `masked=true`), and the read audited as such.
Public routes are rate-limited by the pipeline per address, or per token for a caller that sends one.
The evidence read is what the console's evidence view shows: the record with its hash and the previous one's."""

import asyncio
import contextlib
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from server.errors import InvalidRequest, OpsError
from server.http.access import Bearer, Public
from server.http.audit import Intent, note_audit
from server.http.context import principal_of
from server.http.envelopes import Payload, respond
from server.http.families import Family
from server.http.parsing import parse_body, parse_path, parse_query
from server.http.routes import FamilyRoutes, Header
from server.keys import CLOCK, DB, PLANT, SETTINGS
from server.plant.refund_requests import RefundRequestSource
from server.services.live.agents import GuardianAgent, SignalAgent
from server.services.live.redaction import public_event
from server.services.live.runner import LiveAgents
from server.services.live.status import live_status, refund_agent_status
from server.services.policy.engine import PolicyEngine, PolicyRules
from server.services.policy.point import DecisionPoint, LocalDecisionPoint, RemoteDecisionPoint
from server.services.refunds.deposits import LinkedDeposits, SafeRefs
from server.services.refunds.evidence import evidence_record
from server.services.refunds.intake import RefundIntake
from server.services.refunds.ledger import ledger_entry, ledger_page
from server.services.refunds.process import ProcessOnce
from server.services.refunds.worker import RefundWorker, WorkerConfig
from server.settings import Settings
from server.storage.agent_investigations import InvestigationRepository
from server.storage.agent_transactions import TransactionRepository
from server.storage.audit_keys import load_audit_key
from server.storage.evidence import EvidenceRepository, head_file_for
from server.storage.refunds import IdempotencyRepository, RefundRepository
from shared.live import (
    IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    EntryPath,
    EntryQuery,
    Evidence,
    EvidencePath,
    FeedQuery,
    LedgerEntry,
    LedgerPage,
    LedgerQuery,
    LiveFeed,
    LiveStatus,
    ProcessOnceRequest,
    ProcessOnceResult,
    RefundAgentStatus,
)
from shared.scopes import Scope

routes = FamilyRoutes(Family.LIVE)
PUBLIC_READ = Public(audit_reads=False)  # a witness feed polled every second: counted, not audited
OPERATOR = Bearer(Scope.REFUNDS_OPERATOR)
PUBLIC_CACHE = "public, max-age=1"
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


@dataclass(frozen=True)
class LiveServices:
    agents: LiveAgents
    deposits: LinkedDeposits
    refunds: RefundRepository
    evidence: EvidenceRepository
    process_once: ProcessOnce


LIVE = web.AppKey("live", LiveServices)


def setup(app: web.Application) -> None:
    routes.add_to(app)
    app.cleanup_ctx.append(_live_services)


def decision_point(settings: Settings, engine: PolicyEngine) -> DecisionPoint:
    if settings.policy_url:
        return RemoteDecisionPoint(settings.policy_url, timeout=settings.policy_timeout_seconds)
    return LocalDecisionPoint(engine)


async def _live_services(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = PolicyEngine(PolicyRules())
    async with contextlib.AsyncExitStack() as resources:
        point = decision_point(settings, engine)
        # Closed however start-up goes from here: a remote point's HTTP client never outlives the app.
        resources.push_async_callback(point.aclose)
        live = app[LIVE] = await _start(app, engine, point)
        interval = settings.live_tick_seconds or settings.plant_tick_seconds
        task = asyncio.create_task(live.agents.run(interval), name="live-agents")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _start(app: web.Application, engine: PolicyEngine, point: DecisionPoint) -> LiveServices:
    """The family's services, wired: calls and entries a stopped server left mid-way are closed first."""
    settings, db, clock, plant = app[SETTINGS], app[DB], app[CLOCK], app[PLANT]
    configured = settings.audit_key.get_secret_value() if settings.audit_key else None
    key = load_audit_key(configured, settings.data_dir, create=True)
    assert key is not None  # create=True always gives one
    refs = SafeRefs(key)
    evidence = EvidenceRepository(db, key, head_file_for(settings.database_path))
    refunds = RefundRepository(db)
    keys = IdempotencyRepository(db)
    await keys.forget_running()
    timeout = settings.policy_timeout_seconds
    # The deposits are the agent family's transactions, read from the same database (its tables, its repositories).
    transactions = TransactionRepository(db)
    deposits = LinkedDeposits(transactions, InvestigationRepository(db))
    worker = RefundWorker(
        refunds,
        evidence,
        deposits,
        point,
        clock,
        WorkerConfig(decision_timeout=timeout, velocity_window=timedelta(hours=engine.rules.velocity_window_hours)),
    )
    await worker.recover()
    agents = LiveAgents(
        plant,
        RefundRequestSource(transactions, clock, random.Random(f"refunds:{settings.plant_seed}")),
        RefundIntake(refunds, refs, deposits),
        GuardianAgent(evidence, point, refs, clock, decision_timeout=timeout),
        SignalAgent(evidence, point, refs, clock, decision_timeout=timeout),
        worker,
    )
    process_once = ProcessOnce(
        worker, refunds, keys, evidence.signed_head, clock, timedelta(hours=settings.refunds_idempotency_hours)
    )
    return LiveServices(agents, deposits, refunds, evidence, process_once)


def _public(request: web.Request, payload: Payload) -> web.Response:
    response = respond(request, payload)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


@routes.get(
    "/ops/api/live/status",
    access=PUBLIC_READ,
    summary="The public live board: each agent's state and last action and decision (sanitized)",
    description="Public and sanitized: closed sets only, nothing about a customer. Answered with "
    f"`Cache-Control: {PUBLIC_CACHE}`.",
    responses={200: LiveStatus},
)
async def status(request: web.Request) -> web.Response:
    live = request.app[LIVE]
    board = await live_status(request.app[SETTINGS].live_tenant, live.evidence, live.agents)
    return _public(request, board)


@routes.get(
    "/ops/api/live/feed",
    access=PUBLIC_READ,
    summary="The public feed: the latest governed actions, newest first (sanitized)",
    description="Public and sanitized: agent, action, decision, outcome, time and the kind of subject, never a "
    f"reference, rule or customer. Answered with `Cache-Control: {PUBLIC_CACHE}`.",
    query=FeedQuery,
    responses={200: LiveFeed},
)
async def feed(request: web.Request) -> web.Response:
    query = parse_query(request, FeedQuery)
    rows = await request.app[LIVE].evidence.recent(query.limit)
    events = [event for event in map(public_event, rows) if event is not None]
    return _public(request, LiveFeed(items=events))


@routes.get(
    "/ops/api/refunds/agent/status",
    access=OPERATOR,
    summary="The refund worker's health and runtime state",
    responses={200: RefundAgentStatus},
)
async def agent_status(request: web.Request) -> web.Response:
    live = request.app[LIVE]
    return respond(request, await refund_agent_status(live.agents, live.refunds, live.evidence))


def _reveals(request: web.Request, masked: bool) -> bool:
    return Scope.REFUNDS_PII in principal_of(request).scopes and not masked


def _audit_unmasked(request: web.Request, entry_ids: list[int]) -> None:
    # Every read of customer data is on record with what it showed.
    note_audit(request, action="refunds.ledger.unmasked", target="refund_ledger", entry_ids=entry_ids)


@routes.get(
    "/ops/api/refunds/ledger",
    access=OPERATOR,
    summary="Ledger entries, newest first, a keyset page at a time",
    description="Customer fields are masked (`customer.masked` true, `order_payload` null) unless the token also "
    "has refunds:pii and the query does not ask `masked=true`; an unmasked read is audited with the entries it showed.",
    query=LedgerQuery,
    responses={200: LedgerPage},
)
async def ledger(request: web.Request) -> web.Response:
    query = parse_query(request, LedgerQuery)
    reveal = _reveals(request, query.masked)
    page = await ledger_page(request.app[LIVE].refunds, query, reveal=reveal)
    if reveal:
        _audit_unmasked(request, [item.entry_id for item in page.items])
    return respond(request, page)


@routes.get(
    "/ops/api/refunds/ledger/{entry_id}",
    access=OPERATOR,
    summary="One ledger entry, masked as the ledger is",
    description="Customer fields are masked unless the token also has refunds:pii and the query does not ask "
    "`masked=true`; an unmasked read is audited.",
    path_params=EntryPath,
    query=EntryQuery,
    responses={200: LedgerEntry},
    errors=(404,),
)
async def ledger_item(request: web.Request) -> web.Response:
    entry_id = parse_path(request, EntryPath).entry_id
    reveal = _reveals(request, parse_query(request, EntryQuery).masked)
    entry = await ledger_entry(request.app[LIVE].refunds, entry_id, reveal=reveal)
    if reveal:
        _audit_unmasked(request, [entry.entry_id])
    return respond(request, entry)


@routes.get(
    "/ops/api/refunds/evidence/{evidence_id}",
    access=OPERATOR,
    summary="One evidence record, with its hash and the previous record's",
    path_params=EvidencePath,
    responses={200: Evidence},
    errors=(404,),
)
async def evidence(request: web.Request) -> web.Response:
    evidence_id = parse_path(request, EvidencePath).evidence_id
    return respond(request, await evidence_record(request.app[LIVE].evidence, evidence_id))


@routes.post(
    "/ops/api/refunds/process-once",
    access=OPERATOR,
    summary="Process the oldest pending ledger entry (or `entry_id`) and answer its evidence",
    description="With nothing pending the answer is 200 with `processed` false. The body may be empty (as `{}`). "
    f"With an `{IDEMPOTENCY_KEY_HEADER}`, a retry answers the first call's bytes; 409 while the first still runs, "
    "422 when the key was used with another body (keys are per token, kept OPS_REFUNDS_IDEMPOTENCY_HOURS, 24 h by "
    "default). 404 for an `entry_id` not in the ledger, 409 for one no longer pending.",
    body=ProcessOnceRequest,
    body_required=False,
    responses={200: ProcessOnceResult},
    errors=(404, 409, 422),
    headers={
        IDEMPOTENCY_KEY_HEADER: Header(
            "1 to 255 printable ASCII characters, no spaces: a retry with it answers the first call's answer instead "
            "of processing another entry (400 when malformed)",
            pattern=IDEMPOTENCY_KEY_PATTERN,
        )
    },
)
async def process_once(request: web.Request) -> web.Response:
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is not None and not _KEY.fullmatch(key):
        raise InvalidRequest(
            f"{IDEMPOTENCY_KEY_HEADER} must be 1 to 255 printable ASCII characters", code="invalid_idempotency_key"
        )
    raw = await request.read()
    body = await parse_body(request, ProcessOnceRequest) if raw.strip() else ProcessOnceRequest()
    note_audit(request, action="refunds.process_once", target="refund_ledger", idempotency_key=key)
    intent = Intent(request, "refund.process")
    await intent.record()
    try:
        answer = await request.app[LIVE].process_once.run(principal_of(request).name, body, key)
    except OpsError as error:  # refused after its intent was on record (not pending, a key in use): it did not run
        await intent.not_run(error)
        raise
    result = answer.result
    if result is not None:
        note_audit(request, entry_id=result.entry_id, processed=result.processed, status=result.status)
    else:
        note_audit(request, replayed=True)
    return respond(request, answer.body, status=answer.status)
