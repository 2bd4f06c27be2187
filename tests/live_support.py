"""Helpers of the live + refunds tests: refund requests as the plant sends them (with customer data to leak) for
deposits stored as the agent family stores them, put straight into a running app's ledger; and a decision point
that fails on purpose."""

import asyncio
import itertools
from typing import Any

from aiohttp import web

from server.http.live import LIVE, LiveServices
from server.keys import CLOCK, DB
from server.plant.refund_requests import PlantRefundRequest
from server.plant.transactions import Deposit
from server.services.refunds.deposits import LinkedDeposits
from server.storage.agent_investigations import InvestigationRepository
from server.storage.agent_transactions import TransactionRepository
from shared.agent import InvestigationSummary

_numbers = itertools.count(1)


def live(app: web.Application) -> LiveServices:
    return app[LIVE]


def deposits_of(app: web.Application) -> LinkedDeposits:
    return live(app).deposits


def refunded(app: web.Application) -> dict[str, list[str]]:
    """The payouts made, by deposit id."""
    return deposits_of(app).refunds


async def plant_request(app: web.Application, **overrides: Any) -> PlantRefundRequest:
    """A request for a fresh deposit, stored as the agent family stores deposits; `suspicious=True` flags it,
    `under_investigation=True` starts an investigation of it."""
    n = next(_numbers)
    suspicious = overrides.pop("suspicious", False)
    under_investigation = overrides.pop("under_investigation", False)
    now = app[CLOCK].now()
    values: dict[str, Any] = {
        "deposit_id": f"txn-t{n:06d}",
        "customer_id": f"cust-t{n:05d}",
        "customer_name": "Ada Lovelace",
        "customer_email": "ada.lovelace@example.com",
        "card_number": "4111111111111111",
        "card_expiry": "12/29",
        "amount_minor": 1_000,
        "currency": "EUR",
        "order_payload": {"order": f"o-{n}", "note": "please refund Ada"},
        "requested_at": now,
    }
    values.update(overrides)
    request = PlantRefundRequest(**values)
    deposit = Deposit(
        transaction_id=request.deposit_id,
        occurred_at=now,
        amount_minor=request.amount_minor,
        currency=request.currency,
        merchant="venue-web",
        channel="card_web",
        customer_id=request.customer_id,
        device_id="dev-00000001",
        ip_country="DE",
        card_country="DE",
    )
    await TransactionRepository(app[DB]).add([deposit], source="api", suspicious=[suspicious])
    if under_investigation:
        await InvestigationRepository(app[DB]).create(
            InvestigationSummary(
                investigation_id=f"inv-t{n:06d}",
                transaction_id=request.deposit_id,
                mode="quick",
                status="running",
                requested_by="test",
                reasoner="built-in deterministic reasoner",
                model="none",
                started_at=now,
            )
        )
    return request


async def add_request(app: web.Application, **overrides: Any) -> int:
    """Put a request in the ledger as the plant's intake would; returns its entry id."""
    return await live(app).agents.intake.receive(await plant_request(app, **overrides))


async def add_requests(app: web.Application, count: int, **overrides: Any) -> list[int]:
    return [await add_request(app, **overrides) for _ in range(count)]


def policy_server_app(*, status: int = 200, delay: float = 0.0, body: bytes | None = None) -> web.Application:
    """A decision point on loopback that answers `status` with `body` after `delay` seconds."""

    async def decide(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        return web.Response(status=status, body=body or b'{"detail":"broken"}', content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/decide", decide)
    return app
