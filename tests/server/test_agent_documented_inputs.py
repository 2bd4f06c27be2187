"""The ops agent's inputs take exactly what the OpenAPI document says of them (shared/agent.py,
server/http/agent.py), through the real HTTP stack: a deposit's amount is a decimal string of at most two places or
a whole number (never a JSON fraction or another spelling Decimal would read), its time an RFC 3339 date-time in
1970-2999 (a far year was a 500 when stored), and `/investigations/run` is POST's alone (GET there was the detail
of an investigation "run", and OPTIONS advertised GET)."""

from typing import Any

import pytest
from agent_support import BASE, Agent, deposit

from shared.agent import NewTransaction


@pytest.fixture
def agent(client: Any) -> Agent:
    return Agent(client)


REFUSED_AMOUNTS = [12.5, 0.57, "1e2", " 5", ".5", "5.", "0005", "0.00", "1000000.01", True, None, 0, 1_000_001]
REFUSED_TIMES = [
    0,  # Unix time: pydantic reads it, the document says a date-time string
    "1654619320",
    "2026-01-01T08:00Z",  # no seconds
    "2026-01-01T08:00:00",  # no offset
    "2026-01-01T08:00:00.1234567Z",  # past microseconds
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: was a 500 (OverflowError storing it)
    "9999-12-31T23:59:59-01:00",  # past year 9999 in UTC: was a 500
    "1969-12-31T23:59:59Z",
]


async def test_a_deposit_takes_the_amounts_and_times_the_document_allows_and_no_other(agent: Agent) -> None:
    whole = await agent.add(amount=250)
    whole_float = await agent.add(amount=250.0)  # a whole number to JSON schema too
    cents = await agent.add(amount="0.05", occurred_at="2026-01-01t08:00:00.123456z")
    top = await agent.add(amount="1000000.00", occurred_at="2999-12-31T23:59:59+05:30")
    refused = [
        await agent.call("POST", f"{BASE}/transactions", json=deposit(amount=amount)) for amount in REFUSED_AMOUNTS
    ] + [await agent.call("POST", f"{BASE}/transactions", json=deposit(occurred_at=at)) for at in REFUSED_TIMES]

    assert whole["amount"] == whole_float["amount"] == "250.00"
    assert cents["amount"] == "0.05" and cents["occurred_at"] == "2026-01-01T08:00:00.123456+00:00"
    assert top["amount"] == "1000000.00" and top["occurred_at"] == "2999-12-31T18:29:59+00:00"
    for response, value in zip(refused, REFUSED_AMOUNTS + REFUSED_TIMES, strict=True):
        body = await response.json()
        assert response.status == 400, (value, body)
        assert body["error"]["code"] == "OPS_AGENT_INVALID_REQUEST", (value, body)
        assert body["error"]["details"]["errors"][0]["loc"][0:1] == ["body"], (value, body)


def test_the_document_says_what_the_model_takes() -> None:
    schema = NewTransaction.model_json_schema()["properties"]

    amount = schema["amount"]["anyOf"]
    occurred_at = schema["occurred_at"]["anyOf"]
    assert {"type": "integer", "minimum": 1, "maximum": 1_000_000} in amount
    assert [branch["type"] for branch in amount] == ["string", "integer"] and "pattern" in amount[0]
    assert occurred_at[0]["format"] == "date-time" and "pattern" in occurred_at[0]
    assert occurred_at[1] == {"type": "null"}


async def test_investigations_run_is_posts_alone(agent: Agent) -> None:
    get = await agent.call("GET", f"{BASE}/investigations/run")
    options = await agent.call("OPTIONS", f"{BASE}/investigations/run")
    run = await agent.call("POST", f"{BASE}/investigations/run", json={"transaction_id": "no-such"})
    runs = await agent.call("GET", f"{BASE}/investigations/runs")  # an id that only starts so is an id

    assert get.status == options.status == 405
    assert get.headers["Allow"] == options.headers["Allow"] == "POST"
    assert (await get.json())["error"]["code"] == "OPS_AGENT_METHOD_NOT_ALLOWED"
    assert run.status == 404 and runs.status == 404
    assert (await runs.json())["error"]["details"]["code"] == "investigation_not_found"
