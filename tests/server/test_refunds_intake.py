"""Intake and the link to the agent family's deposits: requests arrive for stored deposits, with the customer's
data in the protected columns; a deposit the plant or an investigation flagged, or one under investigation, is a
risk flag the policy decides on."""

import contextlib
import sqlite3
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient
from live_support import add_request, live, plant_request

from server.keys import DB, SETTINGS
from server.services.refunds.deposits import UnknownDeposit
from server.storage.agent_transactions import TransactionRepository


async def test_a_tick_turns_one_of_the_newest_stored_deposits_into_a_pending_request(client: TestClient) -> None:
    agents = live(client.app).agents
    requests = []
    for _ in range(60):  # a tick brings a request now and then
        requests = await agents.source.tick()
        if requests:
            break
    assert len(requests) == 1
    request = requests[0]
    deposit = await TransactionRepository(client.app[DB]).get(request.deposit_id)
    assert deposit is not None  # the agent family's deposit, by its transaction id
    assert request.amount_minor == int(deposit.amount * 100) and request.currency == deposit.currency
    entry_id = await agents.intake.receive(request)
    rows = {row["entry_id"]: row for row in _rows(client, "refund_customer_data")}
    assert rows[entry_id]["customer_email"] == request.customer_email
    ledger = {row["entry_id"]: row for row in _rows(client, "refund_requests")}
    assert ledger[entry_id]["status"] == "pending"
    assert ledger[entry_id]["deposit_id"] == request.deposit_id
    assert ledger[entry_id]["deposit_ref"].startswith("dep_")
    assert request.customer_email not in str(dict(ledger[entry_id]))


async def test_a_deposit_under_investigation_needs_approval(client: TestClient) -> None:
    entry = await add_request(client.app, under_investigation=True)
    processed = await live(client.app).agents.worker.process_once()
    assert processed is not None and processed.entry_id == entry
    assert (processed.status, processed.evidence.rule) == ("awaiting_approval", "risk.under_investigation")


async def test_a_deposit_an_investigation_found_fraudulent_is_denied(client: TestClient) -> None:
    request = await plant_request(client.app, under_investigation=True)
    await client.app[DB].execute(
        "UPDATE agent_investigations SET status = 'completed', verdict = 'fraudulent' WHERE transaction_id = ?",
        (request.deposit_id,),
    )
    await live(client.app).agents.intake.receive(request)
    processed = await live(client.app).agents.worker.process_once()
    assert processed is not None
    assert (processed.status, processed.evidence.rule) == ("denied", "risk.deposit_suspicious")


async def test_a_request_for_a_deposit_the_business_does_not_have_is_refused(client: TestClient) -> None:
    request = await plant_request(client.app)
    stray = replace(request, deposit_id="no-such-deposit")
    with pytest.raises(UnknownDeposit):
        await live(client.app).agents.intake.receive(stray)


def _rows(client: TestClient, table: str) -> list[sqlite3.Row]:
    """A table as another reader of the database file sees it."""
    with contextlib.closing(sqlite3.connect(client.app[SETTINGS].database_path)) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(f"SELECT * FROM {table}"))
