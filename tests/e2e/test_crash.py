"""A real `ops-server serve` killed with SIGKILL (its whole process group, audit writer included) in the middle of a
mixed load — confirmed control commands, runbook executions, investigations, worklist decisions, asks, refund
process-once calls, webhook deliveries to a subscriber — then started again on the same data dir.

What every answer given before the kill promised holds after the restart: each request answered with a success is
durable (read back) and on the audit trail under its request id; the audit chain and the refunds' evidence chain
verify (the checks of `ops-server audit verify` and `evidence verify`), straight after the kill and after the restart;
no runbook is left `running`; investigations the kill caught are `interrupted` and resume to completion; no refund
entry is processed twice and none answered as processed is lost (its Idempotency-Key replays the same answer); every
ask's `trace.completed` event reaches the subscriber, and a message is sent again only if its attempt was in flight
at the kill (same `webhook-id`, so the receiver can drop it)."""

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from crash_support import kill, serve, server_logs, stop, until_serving
from runbooks_support import write_runbooks

from server.embedded import free_port
from server.services.policy.context import PolicyContext
from server.services.policy.engine import PolicyEngine, PolicyRules
from server.services.policy.point import DECIDE_PATH
from server.services.runbooks.service import owner_gone, process_owner
from server.storage.audit_checkpoints import head_file_for
from server.storage.audit_keys import load_audit_key
from server.storage.audit_verify import Verification, verify_file
from server.storage.evidence import head_file_for as evidence_head_file_for
from server.storage.evidence_verify import EvidenceVerification, verify_evidence_file

TOKEN = "crash-test-admin-token"
AGENT = "/api/v1/ops-agent"
ANSWER = {"model": "fake", "choices": [{"message": {"content": "done"}}], "usage": {}}
LOAD_SECONDS = 2.5  # at least; longer (up to MAX_LOAD_SECONDS) until every kind of request has had a success
MAX_LOAD_SECONDS = 15.0
NEEDED = ("command.confirm", "runbook", "investigation", "ack", "ask", "refund.processed")
REASONING_DELAY = 0.8  # while the load runs: investigations started in the last 0.8 s are mid-run at the kill
# A script that takes a while: one run is nearly always under way when the server dies.
SLOW_SCRIPT = """
import time
print("INFO checking")
time.sleep(1.0)
print("INFO done")
"""


@dataclass
class Done:
    """A request the server answered with a success before the kill: what it asked, its request id, the answer."""

    kind: str
    request_id: str
    status: int
    body: Any
    sent: dict[str, Any] = field(default_factory=dict)


@dataclass
class Load:
    done: list[Done] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # answers that were neither a success nor expected

    def of(self, kind: str) -> list[Done]:
        return [d for d in self.done if d.kind == kind]


@dataclass
class FakeLlm:
    """An OpenAI-compatible endpoint that answers after `delay` seconds."""

    delay: float = 0.0

    async def completions(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay)
        return web.json_response(ANSWER)


def slow_policy_app() -> web.Application:
    """The policy engine as a remote decision point that takes its time. The live agents' tick takes new refund
    requests into the ledger, then lets the guardian and signal agents decide (the control load changes the plant's
    mode all the time, so the signal agent comments nearly every tick), then processes one entry itself: their slow
    decisions leave process-once calls the time to take a new entry first. A refund's own decision takes a while
    too, so that the kill may catch one."""
    engine = PolicyEngine(PolicyRules())

    async def decide(request: web.Request) -> web.Response:
        context = PolicyContext.model_validate_json(await request.read())
        await asyncio.sleep(0.1 if context.agent == "refund" else 0.4)
        return web.Response(body=engine.decide(context).model_dump_json(), content_type="application/json")

    app = web.Application()
    app.router.add_post(DECIDE_PATH, decide)
    return app


@dataclass
class Receiver:
    """A webhook subscriber: every delivery by its `webhook-id`, with its body, as it arrives; answered after
    `delay` seconds (while the load runs, so that the kill catches deliveries in flight and queued)."""

    delay: float = 0.0
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append((request.headers["webhook-id"], body))
        await asyncio.sleep(self.delay)
        return web.Response(text="thanks")


def _risky_deposit(n: int) -> dict[str, str]:
    """A deposit whose card country is not its IP's: an investigation recommends a review."""
    return {
        "amount": "120.00",
        "currency": "EUR",
        "merchant": "venue-web",
        "channel": "card_web",
        "customer_id": f"cust-crash-{n}",
        "device_id": f"dev-crash-{n}",
        "ip_country": "BR",
        "card_country": "DE",
    }


class Driver:
    """One kind of request in a loop until the server stops answering; successes are recorded, anything else that
    is not an expected refusal is a failure of the test."""

    def __init__(self, http: httpx.AsyncClient, load: Load, stop: asyncio.Event) -> None:
        self.http = http
        self.load = load
        self.stop = stop

    async def call(
        self,
        kind: str,
        method: str,
        path: str,
        ok: set[int],
        expected: frozenset[int] = frozenset(),
        note: dict[str, Any] | None = None,
        **kw: Any,
    ) -> Any:
        """The answer's body on a success (recorded, with the body sent and `note`), None on an expected refusal;
        raises ConnectionError when the server is gone."""
        request_id = f"crash-{uuid.uuid4().hex}"
        headers = {"X-Request-ID": request_id, **kw.pop("headers", {})}
        try:
            response = await self.http.request(method, path, headers=headers, **kw)
        except httpx.TransportError as exc:
            raise ConnectionError(str(exc)) from exc
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else None
        if response.status_code in ok:
            sent = {**(kw.get("json") or {}), **(note or {})}
            self.load.done.append(Done(kind, request_id, response.status_code, body, sent))
            return body
        if response.status_code not in expected:
            self.load.failures.append(f"{kind} {method} {path}: {response.status_code} {response.text[:300]}")
        return None

    async def forever(self, name: str, step: Callable[[int], Awaitable[None]], pause: float) -> None:
        n = 0
        with contextlib.suppress(ConnectionError):
            while not self.stop.is_set():
                await step(n)
                n += 1
                await asyncio.sleep(pause)

    # --- the kinds of load ---

    async def commands(self, n: int) -> None:
        command = "dry-run-on" if n % 2 == 0 else "dry-run-off"
        body = {"command": command, "component": "orchestrator", "params": {}}
        asked = await self.call("command.request", "POST", "/ops/command", {200}, json=body)
        if asked is not None:
            # 409: a dry-run toggle refused for the mode it found (the previous confirm was lost to the kill race).
            confirmed = {**body, "confirm_token": asked["confirm_token"]}
            await self.call("command.confirm", "POST", "/ops/command", {200}, frozenset({409}), json=confirmed)

    async def runbooks(self, n: int) -> None:
        body = {"command": "health_check", "request_id": f"crash-run-{n}", "reason": "crash test"}
        await self.call("runbook", "POST", "/api/ops/runbooks/execute", {200}, json=body)

    async def investigations(self, n: int) -> None:
        added = await self.call("deposit", "POST", f"{AGENT}/transactions", {201}, json=_risky_deposit(1000 + n))
        if added is not None:
            body = {"mode": "quick", "transaction_id": added["transaction_id"]}
            await self.call("investigation", "POST", f"{AGENT}/investigations/run", {202}, json=body)

    async def acknowledge(self, recommendation_ids: list[str]) -> None:
        for n, rid in enumerate(recommendation_ids):
            if self.stop.is_set():
                return
            body = {"action": "ACKNOWLEDGED" if n % 2 == 0 else "REJECTED", "comment": f"crash test {n}"}
            with contextlib.suppress(ConnectionError):
                await self.call("ack", "POST", f"{AGENT}/worklist/recommendations/{rid}/acknowledge", {200}, json=body)
            await asyncio.sleep(0.15)

    async def asks(self, n: int) -> None:
        body = {"question": "서버 상태를 확인해주세요" if n % 2 == 0 else "show the server status"}
        await self.call("ask", "POST", "/ops/ci/ask", {200}, json=body)

    async def refunds(self, n: int) -> None:
        key = f"crash-refund-{n}"
        path = "/ops/api/refunds/process-once"
        note = {"idempotency_key": key}
        await self.call("refund", "POST", path, {200}, note=note, json={}, headers={"Idempotency-Key": key})


@pytest.mark.timeout(150)
async def test_sigkill_under_load_loses_nothing_answered(tmp_path: Path, aiohttp_server: Any) -> None:
    data = tmp_path / "data"
    data.mkdir()
    runbooks = write_runbooks(tmp_path / "runbooks", {"health_check": (SLOW_SCRIPT, 5.0)})
    llm = FakeLlm()
    fake = web.Application()
    fake.router.add_post("/v1/chat/completions", llm.completions)
    llm_server = await aiohttp_server(fake)
    policy_server = await aiohttp_server(slow_policy_app())
    receiver = Receiver()
    hooks = web.Application()
    hooks.router.add_post("/hook", receiver.hook)
    hook_server = await aiohttp_server(hooks, host="127.0.0.1")

    port = free_port()
    env = {
        "OPS_LLM_URL": str(llm_server.make_url("/v1")),
        "OPS_LLM_RETRIES": "0",
        "OPS_POLICY_URL": str(policy_server.make_url("/")),
        "OPS_RUNBOOKS_DIR": str(runbooks),
        "OPS_RUNBOOKS_KILL_GRACE_SECONDS": "0.5",
        "OPS_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "OPS_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "OPS_WEBHOOK_RETRY_MAX_SECONDS": "1",
        "OPS_RATE_LIMIT_PER_MINUTE": "100000",
        # Reads' audit entries wait up to a second for their batch: an answered change whose entry waited with
        # them (not committed before its answer) would be lost to the kill, and missed below.
        "OPS_AUDIT_BATCH_MS": "1000",
        "OPS_PLANT_TICK_SECONDS": "0.2",
        "OPS_LIVE_TICK_SECONDS": "0.1",
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    load = Load()
    halt = asyncio.Event()
    workers: list[asyncio.Task[None]] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=20) as http:
        first = serve(data, port, TOKEN, env)
        try:
            await until_serving(http, first)
            # Before the load: a subscriber of every ask, and recommendations for the worklist to decide on.
            created = await http.post(
                "/webhooks", json={"url": str(hook_server.make_url("/hook")), "events": ["trace.completed"]}
            )
            assert created.status_code == 201, created.text
            webhook_id = created.json()["data"]["webhook_id"]
            recommendation_ids = await _recommendations(http, 6)

            llm.delay, receiver.delay = REASONING_DELAY, 1.0
            driver = Driver(http, load, halt)
            workers += [
                asyncio.create_task(driver.forever("commands", driver.commands, 0.05)),
                asyncio.create_task(driver.forever("runbooks", driver.runbooks, 0.0)),
                asyncio.create_task(driver.forever("investigations", driver.investigations, 0.15)),
                asyncio.create_task(driver.acknowledge(recommendation_ids)),
                asyncio.create_task(driver.forever("asks", driver.asks, 0.05)),
                asyncio.create_task(driver.forever("refunds", driver.refunds, 0.05)),
            ]
            await _until_loaded(load)
            caught_run = await _runbook_under_way(http)
        finally:
            kill(first)
        halt.set()
        await asyncio.gather(*workers)
        received_before_kill = len(receiver.received)
        with contextlib.closing(sqlite3.connect(data / "ops.sqlite3")) as conn:
            recorded_before_kill = {
                row[0] for row in conn.execute("SELECT message_id FROM webhook_deliveries WHERE status = 'succeeded'")
            }

        # Straight after the kill: both chains hold as the crash left them, every signature checked (the checks
        # of `ops-server audit verify` and `evidence verify`, run in-process: an interpreter per check costs
        # seconds on a busy machine; tests/server/test_cli.py runs the commands themselves).
        audit, evidence = _verify_chains(data)
        assert audit.broken is None and audit.signatures_checked and audit.checked > len(load.done), audit
        assert evidence.broken is None and evidence.signatures_checked and evidence.checked > 0, evidence

        llm.delay = receiver.delay = 0.0
        second = serve(data, port, TOKEN, env)
        try:
            await until_serving(http, second)
            await _check_after_restart(http, load, receiver, webhook_id, caught_run)
            # A message is sent again only if its attempt was in flight at the kill: none whose success was on
            # record is, and each goes with the same webhook-id, so the receiver can tell.
            times = Counter(message_id for message_id, _ in receiver.received)
            twice = {m for m, c in times.items() if c > 1}
            assert max(times.values()) <= 2 and not twice & recorded_before_kill, times.most_common(3)
            assert len(twice) <= 8  # the worker's deliveries in flight at once
        finally:
            code = stop(second)
    logs = server_logs(data)
    assert code == 0, logs
    assert not load.failures, (load.failures, logs)

    # After the restart and the second server's own writes: both chains still hold, and reach further.
    audit_after, evidence_after = _verify_chains(data)
    assert audit_after.broken is None and audit_after.signatures_checked, audit_after
    assert audit_after.checked > audit.checked and audit_after.checkpoints > 0, (audit, audit_after)
    assert evidence_after.broken is None and evidence_after.signatures_checked, evidence_after
    assert evidence_after.checked >= evidence.checked, (evidence, evidence_after)

    # No refund entry was processed twice: one refund evidence record per ledger entry, the one the entry names.
    with contextlib.closing(sqlite3.connect(data / "ops.sqlite3")) as conn:
        records = list(conn.execute("SELECT entry_id, evidence_id FROM agent_evidence WHERE action = 'refund.create'"))
        named = dict(conn.execute("SELECT entry_id, evidence_id FROM refund_requests WHERE evidence_id IS NOT NULL"))
    per_entry = Counter(entry_id for entry_id, _ in records)
    assert per_entry and max(per_entry.values()) == 1, [e for e, c in per_entry.items() if c > 1]
    assert dict(records) == named
    assert 0 < received_before_kill < len(receiver.received)  # deliveries on both sides of the kill


def _verify_chains(data: Path) -> tuple[Verification, EvidenceVerification]:
    """What `ops-server audit verify` and `ops-server evidence verify` check (server/cli.py), with the key from the
    data dir."""
    database = data / "ops.sqlite3"
    key = load_audit_key(None, data, create=False)
    assert key is not None
    return (
        verify_file(database, key, head_file_for(database)),
        verify_evidence_file(database, key, evidence_head_file_for(database)),
    )


async def _runbook_under_way(http: httpx.AsyncClient) -> str:
    """The request id of the runbook run under way now (waiting for the next to start if need be): the kill must
    catch one."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        newest = (await http.get("/api/ops/runbooks", params={"limit": 1})).json()["items"]
        if newest and newest[0]["status"] == "running":
            return str(newest[0]["request_id"])
        assert asyncio.get_running_loop().time() < deadline, "no runbook run got under way"
        await asyncio.sleep(0.05)


async def _until_loaded(load: Load) -> None:
    """LOAD_SECONDS of load, and on until each kind of request has been answered with a success (a loaded machine
    is slow): the kill must catch every kind with something done before it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        await asyncio.sleep(0.1)
        seen = {d.kind for d in load.done} | {"refund.processed" for d in load.of("refund") if d.body["processed"]}
        elapsed = loop.time() - started
        if (elapsed >= LOAD_SECONDS and set(NEEDED) <= seen) or elapsed > MAX_LOAD_SECONDS:
            return


async def _recommendations(http: httpx.AsyncClient, count: int) -> list[str]:
    """Investigate `count` risky deposits to completion; the worklist's pending recommendations of them."""
    started = []
    for n in range(count):
        added = await http.post(f"{AGENT}/transactions", json=_risky_deposit(n))
        assert added.status_code == 201, added.text
        run = await http.post(
            f"{AGENT}/investigations/run", json={"mode": "quick", "transaction_id": added.json()["transaction_id"]}
        )
        assert run.status_code == 202, run.text
        started.append(run.json()["investigation_id"])
    for investigation_id in started:
        assert (await _until_ended(http, investigation_id))["status"] == "completed"
    page = (await http.get(f"{AGENT}/worklist/recommendations", params={"limit": 200})).json()
    ids = [item["recommendation_id"] for item in page["items"] if item["status"] == "PENDING"]
    assert len(ids) >= count, page
    return ids


async def _until_ended(http: httpx.AsyncClient, investigation_id: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = (await http.get(f"{AGENT}/investigations/{investigation_id}")).json()
        if found["status"] != "running":
            return found
        assert asyncio.get_running_loop().time() < deadline, f"investigation {investigation_id} still running"
        await asyncio.sleep(0.05)


async def _runbook_history_settled(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The runbook history once no run is marked running: the run the kill caught is ended as the server starts
    (its first sweep), not only when its token expires half a minute later."""
    deadline = asyncio.get_running_loop().time() + 3
    while True:
        history = (await http.get("/api/ops/runbooks", params={"limit": 200})).json()["items"]
        running = [run for run in history if run["status"] == "running"]
        if not running:
            return history
        assert asyncio.get_running_loop().time() < deadline, f"still running after the restart: {running}"
        await asyncio.sleep(0.1)


async def _worklist(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every recommendation on the worklist, page by page."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200}
    while True:
        response = await http.get(f"{AGENT}/worklist/recommendations", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        params["cursor"] = page["next_cursor"]


async def _audit_entries(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every change on the audit trail (reads left out), newest first, page by page."""
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500, "changes_only": "true"}
        if cursor is not None:
            params["cursor"] = cursor
        response = await http.get("/ops/audit", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        entries += page["results"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


async def _check_after_restart(
    http: httpx.AsyncClient, load: Load, receiver: Receiver, webhook_id: str, caught_run: str
) -> None:
    # The load ran: every kind of request was answered with a success at least once before the kill.
    kinds = Counter(d.kind for d in load.done) + Counter(
        "refund.processed" for d in load.of("refund") if d.body["processed"]
    )
    for kind in NEEDED:
        assert kinds[kind] > 0, kinds

    # Every success is on the audit trail under its request id, with the status it was answered with.
    entries = await _audit_entries(http)
    by_request: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_request.setdefault(entry["request_id"], []).append(entry)
    missing = [
        (d.kind, d.request_id)
        for d in load.done
        if not any(e["status"] == d.status and e["outcome"] == "ok" for e in by_request.get(d.request_id, []))
    ]
    assert not missing, missing

    # A confirmation redeemed before the kill stays redeemed: confirming with it again is refused as used.
    confirmed = load.of("command.confirm")[-1]
    again = await http.post("/ops/command", json=confirmed.sent)
    assert again.status_code == 409 and "confirm_token_used" in again.text, again.text

    # Runbooks: none is left running; every answered run reads back as answered, and its request id replays it.
    history = await _runbook_history_settled(http)
    caught = (await http.get(f"/api/ops/runbooks/{caught_run}")).json()["runbook"]
    assert caught["status"] == "failed" and "stopped before it ended" in caught["logs"][-1]["message"], caught
    statuses = {run["request_id"]: run["status"] for run in history}
    for d in load.of("runbook"):
        assert statuses[d.sent["request_id"]] == d.body["runbook"]["status"] == "success"
    last = load.of("runbook")[-1]
    replayed = await http.post("/api/ops/runbooks/execute", json=last.sent)
    assert replayed.status_code == 200 and replayed.json() == last.body
    fresh = await http.post(
        "/api/ops/runbooks/execute", json={"command": "health_check", "request_id": "after-restart"}
    )
    assert fresh.status_code == 200, fresh.text  # the environment is not held by a run that died with the server

    # Investigations: each answered one exists; those the kill caught are interrupted and resume to completion.
    interrupted = []
    for d in load.of("investigation"):
        found = (await http.get(f"{AGENT}/investigations/{d.body['investigation_id']}")).json()
        assert found["status"] in ("completed", "interrupted"), found
        if found["status"] == "interrupted":
            interrupted.append(d.body["investigation_id"])
    assert interrupted, "no investigation was running at the kill"
    for investigation_id in interrupted:
        resumed = await http.post(f"{AGENT}/investigations/{investigation_id}/resume")
        assert resumed.status_code == 202, resumed.text
    for investigation_id in interrupted:
        done = await _until_ended(http, investigation_id)
        assert done["status"] == "completed" and done["resumed_count"] == 1, done

    # Worklist decisions: each answered one is recorded as answered.
    worklist = {item["recommendation_id"]: item for item in await _worklist(http)}
    for d in load.of("ack"):
        stored = worklist[d.body["recommendation_id"]]
        assert stored["status"] == d.body["status"] == d.sent["action"], stored
        assert stored["decided_by"] == d.body["decided_by"] and stored["comment"] == d.sent["comment"], stored

    # Refunds: each entry answered as processed is, as answered; its key replays the answer and processes nothing.
    processed = [d for d in load.of("refund") if d.body["processed"]]
    for d in processed:
        entry = (await http.get(f"/ops/api/refunds/ledger/{d.body['entry_id']}")).json()
        assert (entry["status"], entry["evidence_id"]) == (d.body["status"], d.body["evidence"]["evidence_id"]), entry
    for d in load.of("refund"):
        again = await http.post(
            "/ops/api/refunds/process-once", json={}, headers={"Idempotency-Key": d.sent["idempotency_key"]}
        )
        assert again.status_code == 200 and again.json() == d.body, again.text

    # Webhooks: every answered ask's trace.completed reaches the subscriber once the queue drains.
    asked = {d.body["data"]["meta"]["trace_id"] for d in load.of("ask")}
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        delivered = {body["data"]["trace_id"] for _, body in receiver.received}
        pending = (await http.get(f"/webhooks/{webhook_id}/deliveries", params={"status": "pending"})).json()["data"]
        if asked <= delivered and not pending["items"]:
            break
        assert asyncio.get_running_loop().time() < deadline, (len(asked - delivered), pending["items"][:2])
        await asyncio.sleep(0.1)
    by_message = {m: body for m, body in receiver.received}
    assert len({body["data"]["trace_id"] for body in by_message.values()}) == len(by_message)  # one message an event


def test_a_runs_owner_is_gone_only_when_this_host_can_tell() -> None:
    me = process_owner()
    host, pid, _ = me.rsplit(":", 2)
    with subprocess.Popen([sys.executable, "-c", "pass"]) as ended:
        ended.wait()
    assert owner_gone(f"{host}:{ended.pid}:0123456789abcdef", me)  # no process has its pid any more
    assert owner_gone(f"{host}:{pid}:0123456789abcdef", me)  # this process has its pid: it was an earlier one
    assert not owner_gone(me, me)
    assert not owner_gone(f"{host}:{os.getppid()}:0123456789abcdef", me)  # a live process
    assert not owner_gone(f"elsewhere:{ended.pid}:0123456789abcdef", me)  # another host: its token expiry ends it
    assert not owner_gone("not an owner", me)
