"""The recommendation worklist: keyset pages in a stable order (most severe first, oldest first within one) with
opaque signed cursors that cannot be forged, edited or reused with another filter; decisions recorded once with
who and when, and exactly one of concurrent decisions wins. Also the family's scopes on every endpoint."""

import asyncio
import base64
import json
import sqlite3
from importlib import resources
from typing import Any

import pytest
from agent_support import BASE, Agent

from server.keys import AUDIT, TOKENS

WORKLIST = f"{BASE}/worklist/recommendations"


@pytest.fixture
def agent(client: Any) -> Agent:
    return Agent(client)


async def _walk(agent: Agent, params: dict[str, Any], between: Any = None) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = await agent.ok("GET", WORKLIST, params={**params, **({"cursor": cursor} if cursor else {})})
        seen.extend(r["recommendation_id"] for r in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        if between is not None:
            await between()


async def test_pages_go_most_severe_first_then_oldest_first(agent: Agent) -> None:
    ids = await agent.add_recommendations(["low", "critical", "medium", "high", "critical", "low", "high"])

    walked = await _walk(agent, {"limit": 2})
    high = await _walk(agent, {"limit": 1, "severity": "high"})

    order = [ids[1], ids[4], ids[3], ids[6], ids[2], ids[0], ids[5]]
    assert walked == order and high == [ids[3], ids[6]]


async def test_no_row_is_skipped_or_repeated_under_concurrent_inserts(agent: Agent) -> None:
    ids = await agent.add_recommendations(["medium", "high", "low"] * 10)
    added: list[str] = []

    async def insert_more() -> None:
        added.extend(await agent.add_recommendations(["critical", "medium", "low"]))

    walked = await _walk(agent, {"limit": 4}, between=insert_more)

    assert len(walked) == len(set(walked))  # nothing repeated
    assert set(ids) <= set(walked)  # nothing that was there at the start skipped
    # Rows inserted behind the walk's position appear; those before it are for the next walk.
    assert set(walked) <= set(ids) | set(added)


def _edited(cursor: str, change: Any) -> str:
    body, _, mac = cursor.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    change(payload)
    edited = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{edited}.{mac}"


async def test_cursors_cannot_be_forged_edited_or_reused_with_another_filter(agent: Agent) -> None:
    await agent.add_recommendations(["high"] * 5)
    cursor = (await agent.ok("GET", WORKLIST, params={"limit": 2}))["next_cursor"]
    assert cursor is not None and "seq" not in cursor  # opaque

    def skip_ahead(payload: dict[str, Any]) -> None:
        payload["p"]["seq"] += 2

    bad = [
        _edited(cursor, skip_ahead),
        cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"),
        "not-a-cursor",
        "e30.e30",
        "%%%.###",
    ]
    answers = [await agent.call("GET", WORKLIST, params={"cursor": c}) for c in bad]
    other_filter = await agent.call("GET", WORKLIST, params={"cursor": cursor, "severity": "high"})

    for response in [*answers, other_filter]:
        body = await response.json()
        assert response.status == 400 and body["error"]["code"] == "OPS_AGENT_INVALID_REQUEST", body
    assert (await agent.call("GET", WORKLIST, params={"cursor": cursor})).status == 200


async def test_acknowledge_records_who_and_when_once(agent: Agent) -> None:
    rec, other = await agent.add_recommendations(["high", "low"])
    alice = await agent.app[TOKENS].create("alice", "ops_agent:ack,ops_agent:read")

    decided = await agent.ok(
        "POST", f"{WORKLIST}/{rec}/acknowledge", json={"action": "ACKNOWLEDGED", "comment": "held"}, token=alice
    )
    again = await agent.call("POST", f"{WORKLIST}/{rec}/acknowledge", json={"action": "REJECTED", "comment": "no"})
    rejected = await agent.ok("POST", f"{WORKLIST}/{other}/acknowledge", json={"action": "REJECTED", "comment": "ok"})

    assert decided["status"] == "ACKNOWLEDGED" and decided["decided_by"] == "alice" and decided["comment"] == "held"
    assert decided["decided_at"] == agent.now.isoformat()
    body = await again.json()
    assert again.status == 409 and body["error"]["code"] == "OPS_AGENT_CONFLICT"
    assert body["error"]["details"]["status"] == "ACKNOWLEDGED" and body["error"]["details"]["decided_by"] == "alice"
    assert rejected["status"] == "REJECTED"
    page = await agent.ok("GET", WORKLIST)
    assert {r["recommendation_id"]: r["status"] for r in page["items"]} == {rec: "ACKNOWLEDGED", other: "REJECTED"}
    await agent.app[AUDIT].flush()


async def test_investigating_a_deposit_again_adds_no_open_recommendation_twice(agent: Agent) -> None:
    deposits = await agent.shared_device("dev-again", customers=5)
    target = deposits[-1]["transaction_id"]

    first = await agent.investigate(target, mode="deep")
    await agent.investigate(target, mode="deep")
    open_ = (await agent.ok("GET", WORKLIST, params={"limit": 200}))["items"]

    actions = [r["action"] for r in open_ if r["transaction_id"] == target]
    assert "block_device_pending_review" in actions and len(actions) == len(set(actions))
    assert {r["recommendation_id"] for r in open_} == {r["recommendation_id"] for r in first["recommendations"]}

    # A decided recommendation no longer blocks: the next investigation puts the advice back on the worklist.
    block = next(r for r in open_ if r["action"] == "block_device_pending_review")
    await agent.ok(
        "POST",
        f"{WORKLIST}/{block['recommendation_id']}/acknowledge",
        json={"action": "ACKNOWLEDGED", "comment": "held"},
    )
    third = await agent.investigate(target, mode="deep")
    items = (await agent.ok("GET", WORKLIST, params={"limit": 200}))["items"]

    blocks = sorted((r["status"], r["investigation_id"]) for r in items if r["action"] == "block_device_pending_review")
    assert blocks == [("ACKNOWLEDGED", first["investigation_id"]), ("PENDING", third["investigation_id"])]
    await agent.app[AUDIT].flush()


def test_the_unique_open_index_migration_keeps_the_oldest_of_open_duplicates() -> None:
    migrations = resources.files("server.storage.migrations")
    db = sqlite3.connect(":memory:")
    db.executescript(migrations.joinpath("0020_agent.sql").read_text(encoding="utf-8"))
    rows = [("r1", "PENDING"), ("r2", "ACKNOWLEDGED"), ("r3", "PENDING"), ("r4", "PENDING")]
    db.executemany(
        "INSERT INTO agent_recommendations (recommendation_id, investigation_id, transaction_id, severity, "
        "severity_rank, action, rationale, created_at, status) VALUES (?, 'inv', 'txn', 'high', 3, 'review', 'why', "
        "'2026-01-01T09:00:00+00:00', ?)",
        rows,
    )

    db.executescript(migrations.joinpath("0021_agent_open_recommendation_unique.sql").read_text(encoding="utf-8"))

    kept = db.execute("SELECT recommendation_id, status FROM agent_recommendations ORDER BY seq").fetchall()
    assert kept == [("r1", "PENDING"), ("r2", "ACKNOWLEDGED")]
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(
            "INSERT INTO agent_recommendations (recommendation_id, investigation_id, transaction_id, severity, "
            "severity_rank, action, rationale, created_at) VALUES ('r5', 'inv', 'txn', 'high', 3, 'review', 'why', "
            "'2026-01-01T09:00:00+00:00')"
        )


async def test_exactly_one_of_concurrent_decisions_wins(agent: Agent) -> None:
    (rec,) = await agent.add_recommendations(["critical"])

    answers = await asyncio.gather(
        *(
            agent.call(
                "POST",
                f"{WORKLIST}/{rec}/acknowledge",
                json={"action": "ACKNOWLEDGED" if n % 2 else "REJECTED", "comment": f"operator {n}"},
            )
            for n in range(12)
        )
    )

    statuses = sorted(a.status for a in answers)
    assert statuses == [200] + [409] * 11
    winner = next(a for a in answers if a.status == 200)
    final = (await agent.ok("GET", WORKLIST))["items"][0]
    assert final["comment"] == (await winner.json())["comment"]


@pytest.mark.parametrize(
    "body",
    [
        {"action": "MAYBE", "comment": "x"},
        {"action": "ACKNOWLEDGED"},
        {"action": "ACKNOWLEDGED", "comment": ""},
        {"action": "ACKNOWLEDGED", "comment": "x", "by": "mallory"},
    ],
)
async def test_bad_decisions_are_invalid_requests(agent: Agent, body: dict[str, Any]) -> None:
    (rec,) = await agent.add_recommendations(["low"])

    response = await agent.call("POST", f"{WORKLIST}/{rec}/acknowledge", json=body)

    assert response.status == 400 and (await response.json())["error"]["code"] == "OPS_AGENT_INVALID_REQUEST"


async def test_unknown_recommendation_and_bad_filters(agent: Agent) -> None:
    unknown = await agent.call("POST", f"{WORKLIST}/nope/acknowledge", json={"action": "REJECTED", "comment": "x"})
    severity = await agent.call("GET", WORKLIST, params={"severity": "urgent"})
    limit = await agent.call("GET", WORKLIST, params={"limit": "500"})

    assert unknown.status == 404 and (await unknown.json())["error"]["code"] == "OPS_AGENT_NOT_FOUND"
    assert severity.status == 400 and limit.status == 400


ENDPOINTS = [
    ("GET", f"{BASE}/transactions", "ops_agent:read"),
    ("POST", f"{BASE}/transactions", "ops_agent:run"),
    ("GET", f"{BASE}/transactions/t1/insights", "ops_agent:read"),
    ("GET", f"{BASE}/investigations", "ops_agent:read"),
    ("POST", f"{BASE}/investigations/run", "ops_agent:run"),
    ("GET", f"{BASE}/investigations/i1", "ops_agent:read"),
    ("GET", f"{BASE}/investigations/i1/trace", "ops_agent:read"),
    ("POST", f"{BASE}/investigations/i1/resume", "ops_agent:run"),
    ("GET", f"{BASE}/investigations/i1/rule-draft", "ops_agent:read"),
    ("GET", WORKLIST, "ops_agent:read"),
    ("POST", f"{WORKLIST}/r1/acknowledge", "ops_agent:ack"),
]


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
async def test_every_endpoint_needs_its_scope(agent: Agent, method: str, path: str, scope: str) -> None:
    others = ",".join(s for s in ("ops_agent:read", "ops_agent:run", "ops_agent:ack", "ops:read") if s != scope)
    lacking = await agent.app[TOKENS].create("lacking", others)
    holding = await agent.app[TOKENS].create("holding", scope)

    anonymous = await agent.call(method, path, token=None)
    forbidden = await agent.call(method, path, token=lacking)
    allowed = await agent.call(method, path, token=holding)

    assert anonymous.status == 401 and (await anonymous.json())["error"]["code"] == "OPS_AGENT_UNAUTHORIZED"
    body = await forbidden.json()
    assert forbidden.status == 403 and body["error"]["code"] == "OPS_AGENT_SCOPE_FORBIDDEN"
    assert scope in body["error"]["message"]
    assert allowed.status not in (401, 403)
