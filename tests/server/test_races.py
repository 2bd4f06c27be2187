"""Races (issue 16): each exactly-once promise hammered by fifty concurrent racers on a real server, then checked
where it lands — the plant, the database rows, the spawned processes, the payouts, the audit trail and the evidence
chain — not only in the answers.

1. One confirm token of POST /ops/command confirmed fifty times: one execution, 49 times 409 confirm_token_used; and
   fifty different tokens issued against one state: one execution, the rest 409 confirm_token_stale.
2. One runbook request id sent fifty times, half of them with another body: one run and one process; the same body
   answers 200 (the stored bytes) or 409 while it runs, the other body 422. Fifty different ids: never two runs
   at once in one environment, and every refused id left unclaimed.
3. One recommendation acknowledged fifty times by five principals with both decisions: one decision on record
   (the winner's), the others 409 naming it; fifty racers over ten recommendations decide each once.
4. process-once: fifty racers naming one entry, fifty with one Idempotency-Key, and fifty mixed: each entry
   processed (and paid) at most once, one evidence record each, the evidence and audit chains verify.
5. Asset publish: fifty racers publishing one version, and fifty over ten versions of one asset: one version
   published at the end; one version's publish archives its predecessor once and is stamped once, the rest find
   it done (all 200: the contract names no refusal); over ten versions every publish archived the version
   published just before it, so no two publishes acted on one state.
"""

import asyncio
import json
import sqlite3
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from agent_support import BASE, Agent
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from live_support import add_requests, live, refunded
from ops_constants import ADMIN_TOKEN
from orchestration_support import draft
from runbooks_support import Runbooks, write_runbooks
from server_support import ADMIN_PRINCIPAL, Ops, bearer

from server.cli import main
from server.clock import ManualClock
from server.keys import SETTINGS, TOKENS
from server.plant.plant import Plant

RACERS = 50
WORKLIST = f"{BASE}/worklist/recommendations"
PROCESS = "/ops/api/refunds/process-once"


async def _answers(responses: list[ClientResponse]) -> list[tuple[int, Any]]:
    return [(r.status, await r.json()) for r in responses]


def _detail(row: sqlite3.Row) -> dict[str, Any]:
    return json.loads(row["detail"])


async def _verify(capsys: pytest.CaptureFixture[str], chain: str, data_dir: Path) -> str:
    """`ops-server <chain> verify` on the running server's data dir; asserts it holds and returns what it said."""
    code = await asyncio.to_thread(main, [chain, "verify", "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    return out


def _count_executions(plant: Plant, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every command the plant executes from now on, as (command, component)."""
    executed: list[tuple[str, str]] = []
    execute = plant.execute

    def counted(command: Any, name: str, params: Any) -> Any:
        result = execute(command, name, params)
        executed.append((command, name))
        return result

    monkeypatch.setattr(plant, "execute", counted)
    return executed


# --- 1. control confirm tokens ---


async def test_fifty_confirms_of_one_token_execute_it_once(
    ops: Ops, plant: Plant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    params = {"reason": "race"}
    token = await ops.request("stop", "connector", params)
    before = plant.fingerprint("connector")
    executed = _count_executions(plant, monkeypatch)

    answers = await _answers(
        await asyncio.gather(*(ops.confirm("stop", "connector", token, params) for _ in range(RACERS)))
    )

    assert sorted(status for status, _ in answers) == [200] + [409] * (RACERS - 1)
    assert {body["error"] for status, body in answers if status == 409} == {"confirm_token_used"}
    [winner] = [body for status, body in answers if status == 200]
    assert winner["result"]["action"] == "stopped"
    # The plant changed once: one execution, one version step.
    assert executed == [("stop", "connector")]
    assert before.endswith("running#0|live") and plant.fingerprint("connector").endswith("stopped#1|live")
    [confirmation] = ops.table("confirmations")
    assert confirmation["used_at"] is not None
    rows = await ops.audit_rows()
    assert [(r["outcome"], r["status"]) for r in rows if r["action"] == "command.execute"] == [("executing", 0)]
    confirms = Counter((r["outcome"], r["status"]) for r in rows if r["action"] == "command.confirm")
    assert confirms == {("ok", 200): 1, ("confirm_token_used", 409): RACERS - 1}
    assert f"{len(rows)} entries verified" in await _verify(capsys, "audit", ops.app[SETTINGS].data_dir)


async def test_fifty_tokens_issued_against_one_state_execute_one_command(
    ops: Ops, plant: Plant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each token is valid on its own: all were issued against the same state of the connector. The first to
    # execute changes that state, so every other one must be refused as stale, never run on top of it.
    commands = ["stop" if n % 2 else "restart" for n in range(RACERS)]
    tokens = [await ops.request(command, "connector") for command in commands]
    executed = _count_executions(plant, monkeypatch)

    answers = await _answers(
        await asyncio.gather(*(ops.confirm(c, "connector", t) for c, t in zip(commands, tokens, strict=True)))
    )

    assert sorted(status for status, _ in answers) == [200] + [409] * (RACERS - 1)
    assert {body["error"] for status, body in answers if status == 409} == {"confirm_token_stale"}
    [winner] = [n for n, (status, _) in enumerate(answers) if status == 200]
    assert executed == [(commands[winner], "connector")]
    assert (
        plant.fingerprint("connector")
        .split(":", 1)[1]
        .startswith("stopped#1|" if commands[winner] == "stop" else "restarting#1|")
    )
    rows = await ops.audit_rows()
    execute = Counter(r["outcome"] for r in rows if r["action"] == "command.execute")
    # Some losers were refused before their intent was on record, some after (and then say they did not run):
    # either way one execution stands on record.
    assert execute["executing"] - execute["not_executed"] == 1
    assert set(execute) <= {"executing", "not_executed"}
    confirms = Counter((r["outcome"], r["status"]) for r in rows if r["action"] == "command.confirm")
    assert confirms == {("ok", 200): 1, ("confirm_token_stale", 409): RACERS - 1}


# --- 2. runbook request ids ---

# Records each run (its request id) in `runs` under the folder named by its reason, and `overlap` if another run
# held the folder's `busy` marker when it started; then takes `RUNBOOK_WINDOW` seconds.
EXCLUSIVE = """
    import os, time
    folder = os.environ["RUNBOOK_REASON"]
    busy = os.path.join(folder, "busy")
    try:
        marker = os.open(busy, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        marker = None
        with open(os.path.join(folder, "overlaps"), "a") as out:
            out.write("overlap\\n")
    with open(os.path.join(folder, "runs"), "a") as out:
        out.write(os.environ["RUNBOOK_REQUEST_ID"] + "\\n")
    print("INFO counted", flush=True)
    time.sleep(float(os.environ.get("RUNBOOK_WINDOW", "0").replace("s", ".")))
    if marker is not None:
        os.close(marker)
        os.unlink(busy)
"""


@pytest.fixture
async def runbooks(ops_with: Any, tmp_path: Path) -> Runbooks:
    directory = write_runbooks(tmp_path / "runbooks", {"start": (EXCLUSIVE, 20), "stop": (EXCLUSIVE, 20)})
    ops = await ops_with(runbooks_dir=directory)
    return Runbooks(ops.client)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def test_fifty_racers_with_one_request_id_and_two_bodies_run_it_once(runbooks: Runbooks, tmp_path: Path) -> None:
    folder = tmp_path / "race"
    folder.mkdir()
    start = {"command": "start", "request_id": "race-50", "reason": str(folder), "window": "0s4"}
    stop = {**start, "command": "stop"}
    bodies = [start if n % 2 else stop for n in range(RACERS)]

    responses = await asyncio.gather(*(runbooks.execute_raw(body) for body in bodies))
    answers = [(r.status, await r.read()) for r in responses]

    # One run, one process, one row.
    assert _lines(folder / "runs") == ["race-50"]
    assert not (folder / "overlaps").exists()
    ops = Ops(runbooks.client)
    [run] = ops.table("runbook_runs")
    assert run["request_id"] == "race-50" and run["status"] == "success"
    won = start if run["command"] == "start" else stop
    same = [answer for body, answer in zip(bodies, answers, strict=True) if body is won]
    other = [answer for body, answer in zip(bodies, answers, strict=True) if body is not won]
    # The winner's body: the stored answer, byte for byte, or 409 while it still ran.
    executed = {payload for status, payload in same if status == 200}
    assert len(executed) == 1 and {status for status, _ in same} <= {200, 409}
    assert all("still running" in json.loads(payload)["detail"] for status, payload in same if status == 409)
    # The other body, whenever it came: the id is taken by another request.
    assert {status for status, _ in other} == {422}
    assert {json.loads(payload)["detail"][0]["type"] for _, payload in other} == {"idempotency_key_reused"}
    rows = await ops.audit_rows()
    assert [r["outcome"] for r in rows if r["action"] == "runbook.run"] == ["executing"]
    ran = [_detail(r) for r in rows if r["action"] == "runbook.execute" and r["status"] == 200]
    assert [d["replayed"] for d in ran].count(False) == 1
    # Once it ended, both bodies get their answer again without running anything.
    again = await runbooks.execute_raw(won)
    assert again.status == 200 and await again.read() == executed.pop()
    assert (await runbooks.execute_raw(stop if won is start else start)).status == 422
    assert _lines(folder / "runs") == ["race-50"] and len(ops.table("runbook_runs")) == 1


async def test_fifty_racers_with_their_own_request_ids_never_run_two_at_once(
    runbooks: Runbooks, tmp_path: Path
) -> None:
    folder = tmp_path / "race"
    folder.mkdir()
    ids = [f"own-{n:02d}" for n in range(RACERS)]

    responses = await asyncio.gather(
        *(
            runbooks.execute_raw({"command": "start", "request_id": rid, "reason": str(folder), "window": "0s5"})
            for rid in ids
        )
    )
    answers = [(rid, r.status, await r.json()) for rid, r in zip(ids, responses, strict=True)]

    assert not (folder / "overlaps").exists()
    ran = sorted(rid for rid, status, _ in answers if status == 200)
    refused = [body for _, status, body in answers if status == 409]
    assert ran and len(ran) + len(refused) == RACERS
    # Every id that answered 200 ran once, every refused one never ran nor claimed its id.
    assert sorted(_lines(folder / "runs")) == ran
    rows = Ops(runbooks.client).table("runbook_runs")
    assert sorted(r["request_id"] for r in rows) == ran
    assert {body["running"]["request_id"] for body in refused} <= set(ran)


# --- 3. worklist acknowledge ---


@pytest.fixture
def agent(client: TestClient) -> Agent:
    return Agent(client)


async def test_fifty_decisions_on_one_recommendation_record_exactly_one(agent: Agent) -> None:
    (rec,) = await agent.add_recommendations(["critical"])
    principals = [f"operator-{n}" for n in range(5)]
    tokens = [await agent.app[TOKENS].create(name, "ops_agent:ack,ops_agent:read") for name in principals]
    racers = [
        (principals[n % 5], tokens[n % 5], "ACKNOWLEDGED" if n % 2 else "REJECTED", f"racer {n}") for n in range(RACERS)
    ]

    responses = await asyncio.gather(
        *(
            agent.call(
                "POST", f"{WORKLIST}/{rec}/acknowledge", json={"action": action, "comment": comment}, token=token
            )
            for _, token, action, comment in racers
        )
    )
    answers = await _answers(list(responses))

    assert sorted(status for status, _ in answers) == [200] + [409] * (RACERS - 1)
    [n] = [n for n, (status, _) in enumerate(answers) if status == 200]
    by, _, action, comment = racers[n]
    decided = answers[n][1]
    assert (decided["status"], decided["decided_by"], decided["comment"]) == (action, by, comment)
    # Every loser is told the one decision that stands.
    for status, body in answers:
        if status == 409:
            assert body["error"]["code"] == "OPS_AGENT_CONFLICT"
            assert (body["error"]["details"]["status"], body["error"]["details"]["decided_by"]) == (action, by)
    ops = Ops(agent.client)
    [row] = ops.table("agent_recommendations")
    assert (row["status"], row["decided_by"], row["comment"]) == (action, by, comment)
    listed = (await agent.ok("GET", WORKLIST))["items"]
    assert [(r["recommendation_id"], r["status"], r["decided_by"]) for r in listed] == [(rec, action, by)]
    decisions = [r for r in await ops.audit_rows() if r["action"] == "agent.recommendation.decide"]
    assert len(decisions) == RACERS
    [ok] = [r for r in decisions if r["status"] == 200]
    assert (ok["principal"], _detail(ok)["decision"]) == (by, action)
    assert Counter(r["status"] for r in decisions) == {200: 1, 409: RACERS - 1}


async def test_fifty_racers_over_ten_recommendations_decide_each_once(agent: Agent) -> None:
    recs = await agent.add_recommendations(["high", "low", "medium", "critical", "high"] * 2)

    responses = await asyncio.gather(
        *(
            agent.call(
                "POST",
                f"{WORKLIST}/{recs[n % len(recs)]}/acknowledge",
                json={"action": "REJECTED" if n % 3 else "ACKNOWLEDGED", "comment": f"racer {n}"},
            )
            for n in range(RACERS)
        )
    )

    won: Counter[str] = Counter()
    comments = {}
    for n, response in enumerate(responses):
        if response.status == 200:
            won[recs[n % len(recs)]] += 1
            comments[recs[n % len(recs)]] = f"racer {n}"
        else:
            assert response.status == 409
    assert won == dict.fromkeys(recs, 1)
    rows = {r["recommendation_id"]: r["comment"] for r in Ops(agent.client).table("agent_recommendations")}
    assert rows == comments


# --- 4. refunds process-once ---


async def _process(client: TestClient, body: Any = None, *, key: str | None = None) -> ClientResponse:
    headers = bearer(ADMIN_TOKEN) | ({"Idempotency-Key": key} if key is not None else {})
    if body is None:
        return await client.post(PROCESS, headers=headers)
    return await client.post(PROCESS, json=body, headers=headers)


def _refund_evidence(ops: Ops) -> list[sqlite3.Row]:
    return [r for r in ops.table("agent_evidence") if r["agent"] == "refund"]


async def test_fifty_racers_naming_one_entry_process_it_once(client: TestClient) -> None:
    first, target, last = await add_requests(client.app, 3)

    answers = await _answers(
        list(await asyncio.gather(*(_process(client, {"entry_id": target}) for _ in range(RACERS))))
    )

    assert sorted(status for status, _ in answers) == [200] + [409] * (RACERS - 1)
    [done] = [body for status, body in answers if status == 200]
    assert done["entry_id"] == target and done["status"] == "refunded"
    assert {body["detail"] for status, body in answers if status == 409} <= {
        f"ledger entry {target} is processing, not pending",
        f"ledger entry {target} is refunded, not pending",
    }
    ops = Ops(client)
    assert [r["entry_id"] for r in _refund_evidence(ops)] == [target]
    assert [len(payouts) for payouts in refunded(client.app).values()] == [1]
    assert await live(client.app).refunds.counts() == {"refunded": 1, "pending": 2}
    assert (await live(client.app).refunds.status_of(first), await live(client.app).refunds.status_of(last)) == (
        "pending",
        "pending",
    )


async def test_fifty_racers_with_one_idempotency_key_process_one_entry(client: TestClient) -> None:
    await add_requests(client.app, 2)

    responses = await asyncio.gather(*(_process(client, {}, key="race-key") for _ in range(RACERS)))
    answers = [(r.status, await r.read()) for r in responses]

    # The first call's answer (byte for byte for every replay), or 409 while it still ran.
    assert {status for status, _ in answers} <= {200, 409}
    done = {payload for status, payload in answers if status == 200}
    assert len(done) == 1
    assert all(b"still being processed" in payload for status, payload in answers if status == 409)
    ops = Ops(client)
    entry = json.loads(done.pop())["entry_id"]
    assert [r["entry_id"] for r in _refund_evidence(ops)] == [entry]
    assert await live(client.app).refunds.counts() == {"refunded": 1, "pending": 1}
    assert [len(payouts) for payouts in refunded(client.app).values()] == [1]
    [key] = ops.table("refund_idempotency")
    assert key["state"] == "done"
    # On record: one call processed the entry, every other 200 replayed its answer.
    calls = [r for r in await ops.audit_rows() if r["action"] == "refunds.process_once"]
    assert len(calls) == RACERS
    answered = [_detail(r) for r in calls if r["status"] == 200]
    assert [d.get("entry_id") for d in answered if not d.get("replayed")] == [entry]
    assert len(answered) == sum(status == 200 for status, _ in answers)


async def test_fifty_mixed_racers_process_each_entry_at_most_once_and_the_chains_verify(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = await add_requests(client.app, 30)
    named = entries[-10:]  # the newest ten, also what keyless racers reach last
    calls = (
        [_process(client, {"entry_id": e}) for e in named]
        + [_process(client, {}, key="mixed-key") for _ in range(10)]
        + [_process(client) for _ in range(RACERS - 20)]
    )

    answers = await _answers(list(await asyncio.gather(*calls)))

    assert {status for status, _ in answers} <= {200, 409}
    processed = [body["entry_id"] for status, body in answers if status == 200 and body["processed"]]
    # A replay repeats its first call's entry; apart from those, no entry was answered as processed twice.
    keyed = [body["entry_id"] for status, body in answers[10:20] if status == 200 and body["processed"]]
    assert len(set(keyed)) <= 1
    distinct = [e for e in processed if e not in keyed] + sorted(set(keyed))
    assert len(distinct) == len(set(distinct))
    ops = Ops(client)
    evidence = Counter(r["entry_id"] for r in _refund_evidence(ops))
    assert set(evidence.values()) == {1} and set(evidence) == set(distinct)
    # 31 racers (30 keyless, the keyed one) take the oldest pending entry each, more than there are entries
    # besides any one: so all thirty were taken, whoever took the named ones.
    assert await live(client.app).refunds.counts() == {"refunded": 30}
    assert all(len(payouts) == 1 for payouts in refunded(client.app).values()) and len(refunded(client.app)) == 30
    ledger = [r["entry_id"] for r in ops.table("refund_requests")]
    assert sorted(ledger) == entries
    data_dir = client.app[SETTINGS].data_dir
    assert "evidence chain holds: 30 records verified" in await _verify(capsys, "evidence", data_dir)
    await ops.audit_rows()
    await _verify(capsys, "audit", data_dir)


# --- 5. asset publish ---


def _publish(ops: Ops, asset_id: str, version: str) -> Any:
    return ops.client.post(f"/assets/query/{asset_id}/{version}/publish", headers=bearer(ADMIN_TOKEN))


def _asset_rows(ops: Ops, asset_id: str) -> dict[str, str]:
    return {r["version"]: r["status"] for r in ops.table("orch_assets") if r["asset_id"] == asset_id}


async def test_fifty_racers_publishing_one_version_publish_it_once(ops: Ops, clock: ManualClock) -> None:
    await draft(ops, "query", "ci-queries", "1.1.0", lambda c: None)

    async def tick() -> None:  # time moves during the race: a second publish would stamp another published_at
        while True:
            clock.advance(0.001)
            await asyncio.sleep(0)

    ticking = asyncio.create_task(tick())
    try:
        answers = await _answers(
            list(await asyncio.gather(*(_publish(ops, "ci-queries", "1.1.0") for _ in range(RACERS))))
        )
    finally:
        ticking.cancel()

    # Publishing what is published already is idempotent (the registry answers it as it is): all 200.
    assert {status for status, _ in answers} == {200}
    [row] = [r for r in ops.table("orch_assets") if r["version"] == "1.1.0" and r["asset_id"] == "ci-queries"]
    stamped = datetime.fromisoformat(row["published_at"])
    assert {(body["data"]["status"], datetime.fromisoformat(body["data"]["published_at"])) for _, body in answers} == {
        ("published", stamped)
    }
    assert _asset_rows(ops, "ci-queries") == {"1.0.0": "archived", "1.1.0": "published"}
    listed = (await (await ops.get("/assets/query", params={"status": "published"})).json())["data"]
    assert [(a["asset_id"], a["version"]) for a in listed["assets"]] == [("ci-queries", "1.1.0")]
    publishes = [r for r in await ops.audit_rows() if r["action"] == "asset.publish"]
    assert Counter(r["outcome"] for r in publishes) == {"executing": RACERS, "ok": RACERS}
    # The transition (1.0.0 archived by 1.1.0) happened once: one racer archived, the others found it done.
    archived = [_detail(r).get("archived") for r in publishes if r["outcome"] == "ok"]
    assert archived.count("1.0.0") == 1 and archived.count(None) == RACERS - 1
    assert {r["principal"] for r in publishes} == {ADMIN_PRINCIPAL}


async def test_fifty_racers_over_ten_versions_leave_one_published_and_each_transition_once(ops: Ops) -> None:
    versions = [f"1.{n}.0" for n in range(1, 11)]
    for version in versions:
        await draft(ops, "query", "ci-queries", version, lambda c: None)

    answers = await _answers(
        list(await asyncio.gather(*(_publish(ops, "ci-queries", versions[n % 10]) for n in range(RACERS))))
    )

    assert {status for status, _ in answers} == {200}
    statuses = _asset_rows(ops, "ci-queries")
    [final] = [version for version, status in statuses.items() if status == "published"]
    assert Counter(statuses.values()) == {"published": 1, "archived": len(versions)}
    # Publishing an archived version again rolls back to it, so versions go in and out of "published" many times
    # here. Each publish that changed anything archived the version published just before it, so the transitions
    # balance: into each version as often as out of it, but for 1.0.0 (published at the start) and the final one.
    # Two racers archiving the same predecessor (two publishes on one state) would break the balance.
    publishes = [r for r in await ops.audit_rows() if r["action"] == "asset.publish" and r["outcome"] == "ok"]
    assert len(publishes) == RACERS
    steps = [(_detail(r)["archived"], r["target"].rsplit(":", 1)[1]) for r in publishes if _detail(r)["archived"]]
    into = Counter(new for _, new in steps) + Counter({"1.0.0": 1})
    out = Counter(old for old, _ in steps) + Counter({final: 1})
    assert into == out
    assert all(old != new for old, new in steps)
