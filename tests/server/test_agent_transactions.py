"""The plant's deposit stream (seeded, with its share of planted patterns), its storage and the transactions
endpoints: keyset pages newest first, the suspicious filter, signed cursors, adding deposits through the API."""

import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from agent_support import BASE, Agent, deposit

from server.http.agent import DEPOSITS, TRANSACTIONS
from server.plant.transactions import DEPOSIT_LIMIT_MINOR, HIGH_RISK_CHANNELS, DepositStream

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def agent(client: Any) -> Agent:
    return Agent(client)


def test_the_same_seed_makes_the_same_deposits() -> None:
    first = DepositStream(random.Random("s")).backfill(NOW)
    again = DepositStream(random.Random("s")).backfill(NOW)
    other = DepositStream(random.Random("t")).backfill(NOW)

    assert first == again and first != other


def test_the_stream_plants_every_pattern_among_ordinary_deposits() -> None:
    deposits = DepositStream(random.Random(7)).backfill(NOW, count=2000)

    patterns = Counter(d.pattern for d in deposits)
    share = 1 - patterns[None] / len(deposits)
    assert set(patterns) == {
        None,
        "velocity_burst",
        "country_mismatch",
        "shared_device",
        "high_risk_channel",
        "amount_under_limit",
    }
    assert 0.1 < share < 0.5  # mostly ordinary, a realistic minority suspicious
    for d in deposits:
        if d.pattern == "country_mismatch":
            assert d.ip_country != d.card_country
        elif d.pattern == "high_risk_channel":
            assert d.channel in HIGH_RISK_CHANNELS
        elif d.pattern == "amount_under_limit":
            assert DEPOSIT_LIMIT_MINOR * 0.98 <= d.amount_minor < DEPOSIT_LIMIT_MINOR
        elif d.pattern is None:
            assert d.ip_country == d.card_country and d.channel not in HIGH_RISK_CHANNELS
    devices = Counter(d.device_id for d in deposits if d.pattern == "shared_device")
    assert max(devices.values()) >= 4


async def test_a_day_of_history_is_stored_at_first_start_and_ticks_add_more(agent: Agent) -> None:
    repository = agent.app[TRANSACTIONS]
    before = await repository.count(source="plant")

    added = await agent.app[DEPOSITS].tick()

    assert before >= 240 and await repository.count(source="plant") == before + added and added >= 1


async def test_pages_walk_every_transaction_newest_first_once(agent: Agent) -> None:
    total = await agent.app[TRANSACTIONS].count()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 97, **({"cursor": cursor} if cursor else {})}
        page = await agent.ok("GET", f"{BASE}/transactions", params=params)
        seen.extend(t["transaction_id"] for t in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == total == len(set(seen))
    latest = await agent.add()
    first = await agent.ok("GET", f"{BASE}/transactions", params={"limit": 1})
    assert first["items"][0]["transaction_id"] == latest["transaction_id"]


async def test_the_suspicious_filter_and_its_cursor(agent: Agent) -> None:
    page = await agent.ok("GET", f"{BASE}/transactions", params={"suspicious": "true", "limit": 5})
    cursor = page["next_cursor"]

    assert page["items"] and all(t["suspicious"] and t["pattern"] for t in page["items"])
    reused = await agent.call("GET", f"{BASE}/transactions", params={"cursor": cursor, "suspicious": "false"})
    forged = await agent.call("GET", f"{BASE}/transactions", params={"cursor": cursor[::-1]})
    assert reused.status == 400 and (await reused.json())["error"]["code"] == "OPS_AGENT_INVALID_REQUEST"
    assert forged.status == 400 and (await forged.json())["error"]["code"] == "OPS_AGENT_INVALID_REQUEST"


async def test_posted_deposits_are_stored_and_screened(agent: Agent) -> None:
    ordinary = await agent.add()
    mismatch = await agent.add(ip_country="NG")
    channel = await agent.add(channel="crypto_voucher")
    under = await agent.add(amount="9950.00", occurred_at="2026-01-01T08:00:00+00:00")

    stored = await agent.app[TRANSACTIONS].get(ordinary["transaction_id"])

    assert stored is not None and stored.model_dump(mode="json") == ordinary
    assert ordinary["source"] == "api" and ordinary["pattern"] is None and not ordinary["suspicious"]
    assert ordinary["occurred_at"] == "2026-01-01T09:00:00+00:00" and ordinary["amount"] == "250.00"
    assert mismatch["suspicious"] and channel["suspicious"] and under["suspicious"]
    assert under["occurred_at"] == "2026-01-01T08:00:00+00:00"


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": "0"},
        {"amount": "12.345"},
        {"currency": "euro"},
        {"ip_country": "DEU"},
        {"channel": "Card Web"},
        {"customer_id": ""},
        {"occurred_at": "2026-01-01T08:00:00"},  # no offset: ambiguous
        {"surprise": 1},
    ],
)
async def test_bad_deposits_are_refused_naming_the_field(agent: Agent, changes: dict[str, Any]) -> None:
    response = await agent.call("POST", f"{BASE}/transactions", json=deposit(**changes))

    body = await response.json()
    assert response.status == 400 and body["error"]["code"] == "OPS_AGENT_INVALID_REQUEST"
    assert body["error"]["details"]["errors"][0]["loc"] == ["body", next(iter(changes))]


async def test_repository_api_for_other_families(agent: Agent) -> None:
    added = await agent.add()
    repository = agent.app[TRANSACTIONS]

    found = await repository.get(added["transaction_id"])
    missing = await repository.get("no-such")
    items, next_seq = await repository.page(limit=2)
    more, _ = await repository.page(limit=2, before_seq=next_seq)

    assert found is not None and found.transaction_id == added["transaction_id"] and missing is None
    assert items[0].transaction_id == added["transaction_id"] and next_seq is not None
    assert not {t.transaction_id for t in items} & {t.transaction_id for t in more}
