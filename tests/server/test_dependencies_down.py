"""Dependencies down (issue 16): each dependency that fails — Prometheus, the LLM endpoint, the remote policy
decision point, a webhook receiver, the SQLite database locked by another connection — is answered with its
family's documented error or stale marker within a bounded time, never a hang or a 500.

Every wait is bounded by `asyncio.wait_for`, so a hang fails the test at once rather than at the suite's timeout;
the timeouts the server has no setting for (Prometheus' 5 s, SQLite's 5 s busy timeout) are shortened through
their module constants, so the bounds stay small.
The dependency is a raw TCP server on loopback that is down in the way a test picks (`Down.mode`): it accepts and
never answers, trickles an answer that never ends (which defeats a per-read timeout), drops the connection, or
answers something that is not the dependency's API.

Covered elsewhere, not repeated here: a Prometheus on a closed port (test_metrics_api,
test_an_unreachable_prometheus_is_stale_values_never_a_500) or answering errors (test_metrics_prometheus); an LLM
slower than its timeout, with retries and resume (test_agent_reasoner); a decision point answering 500 or slower
than its timeout (test_refunds_process); a receiver slower than the webhook timeout, or answering endlessly
(test_webhooks_delivery)."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import pytest
from agent_support import BASE, Agent
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, make_mocked_request
from live_support import add_request, live, refunded
from ops_constants import MakeSettings
from orchestration_support import ask
from server_support import ExclusiveLock, Ops, StartApp
from webhooks_support import AUTH, LOOPBACK, deliveries, emit, settled, subscribe, wake

from server.clock import ManualClock
from server.http.errors import as_ops_error
from server.http.request_id import begin_request
from server.keys import AUDIT, SETTINGS
from server.services.metrics import service as metrics_service
from server.storage import database
from server.storage.audit import AuditRecord
from server.storage.audit_writer import AuditWriteFailed

T = TypeVar("T")

SILENT, TRICKLE, RESET, ANSWER = "silent", "trickle", "reset", "answer"


class Down:
    """A dependency on a loopback port, down as `mode` says: SILENT accepts and reads the request but never answers;
    TRICKLE answers 200 with JSON headers, then one byte of whitespace every 50 ms, forever; RESET closes the
    connection once the request is in; ANSWER sends `answer` (raw HTTP) and closes. `connections` counts callers."""

    def __init__(self) -> None:
        self.mode = SILENT
        self.answer = b""
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def called(self, times: int) -> None:
        """Return once `times` connections have come in."""
        while self.connections < times:
            await asyncio.sleep(0.01)

    def answering(self, status: int, body: bytes) -> None:
        self.mode = ANSWER
        self.answer = (
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode() + body

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.mode == RESET:
                return
            if self.mode == ANSWER:
                writer.write(self.answer)
                await writer.drain()
                return
            if self.mode == TRICKLE:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                while True:
                    writer.write(b"1\r\n \r\n")
                    await writer.drain()
                    await asyncio.sleep(0.05)
            await asyncio.Event().wait()  # SILENT
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the caller gave up (or the test ends): that is the point
        finally:
            writer.close()
            self._tasks.discard(task)

    async def close(self) -> None:
        """Stop listening (the port is closed from now on) and drop every connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def down() -> AsyncIterator[Down]:
    server = Down()
    await server.start()
    yield server
    await server.close()


async def within(seconds: float, awaitable: Awaitable[T]) -> T:
    """`awaitable`'s result, or the test fails after `seconds`: a hang is a failure, not a suite timeout."""
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise AssertionError(f"no answer within {seconds} s: a dependency that is down hangs the server") from None


async def json_of(response: Awaitable[ClientResponse]) -> tuple[int, Any, ClientResponse]:
    answered = await response
    return answered.status, await answered.json(), answered


def timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# --- 1. Prometheus ---


async def test_a_prometheus_that_hangs_trickles_or_drops_gives_stale_values_in_bounded_time(
    ops_with: Callable[..., Awaitable[Ops]], down: Down, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_service, "PROMETHEUS_TIMEOUT_SECONDS", 0.5)
    ops = await ops_with(prometheus_url=down.url)
    notes = {
        SILENT: ("did not answer within 0.5 s", "timed out"),
        # Bytes keep coming, so no single read times out: only a deadline on the whole answer ends it.
        TRICKLE: ("did not answer within 0.5 s",),
        RESET: ("cannot be reached",),
    }
    for mode, expected in notes.items():
        down.mode = mode
        summary = asyncio.ensure_future(json_of(ops.get("/api/ops/metrics/summary")))
        series = asyncio.ensure_future(
            json_of(ops.get("/api/ops/metrics/timeseries", params={"metric": "md_throughput_mps", "minutes": "10"}))
        )
        # The rest of the server does not wait on Prometheus.
        status = await within(2, ops.get("/ops/status"))
        assert status.status == 200
        assert mode == RESET or not summary.done()
        status_code, body, _ = await within(3, summary)
        assert status_code == 200, (mode, body)
        assert body and all(v["value"] is None and v["stale"] is True for v in body.values()), (mode, body)
        note = body["throughput_mps"]["context"]["note"]
        assert note.startswith(f"Prometheus at {down.url}") and any(e in note for e in expected), (mode, note)
        status_code, body, _ = await within(3, series)
        assert status_code == 200 and body["stale"] is True and body["points"] == [], (mode, body)
        assert any(e in body["note"] for e in expected), (mode, body)


# --- 2. LLM endpoint ---


async def test_an_llm_that_hangs_or_trickles_fails_the_investigation_and_the_ask_falls_back(
    start_app: StartApp, make_settings: MakeSettings, down: Down
) -> None:
    client = await start_app(
        make_settings(llm_url=f"{down.url}/v1", llm_model="m", llm_timeout_seconds=0.25, llm_retries=1)
    )
    agent, ops = Agent(client), Ops(client)
    for mode in (SILENT, TRICKLE):
        down.mode = mode
        txn = await agent.add()
        asked = down.connections + 1
        started = await agent.run(txn["transaction_id"])
        await within(3, down.called(asked))
        # While the reasoner is stuck, the family answers at once.
        listing = await within(2, agent.call("GET", f"{BASE}/investigations"))
        assert listing.status == 200
        assert (await within(2, agent.detail(started["investigation_id"])))["status"] == "running"
        failed = await within(5, agent.wait(started["investigation_id"], timeout=4.5))
        assert failed["status"] == "failed" and failed["error"]["code"] == "OPS_AGENT_DEPENDENCY_FAILURE", failed
        assert "timed out" in failed["error"]["message"] and "after 2 attempts" in failed["error"]["message"]
        step = failed["steps"][-1]
        assert step["kind"] == "reasoning" and step["status"] == "error" and step["attempts"] == 2

        health = await within(2, agent.call("GET", "/api/v1/health", token=None))
        reasoner = next(c for c in (await health.json())["checks"] if c["name"] == "reasoner")
        assert health.status == 503 and reasoner["status"] == "failing" and "timed out" in reasoner["detail"]

        # The orchestration ask puts a question no intent matches to the same endpoint: it falls back to the
        # keyword router's reject, saying why, rather than hang or fail.
        connections = down.connections
        data = await within(5, ask(ops, "who touched anything lately?"))
        assert down.connections > connections  # the reasoner was asked
        assert data["trace"]["router"] == "keyword", data
        assert data["meta"]["route"] == "reject" and data["trace"]["plan_output"]["reject_policy"] == "out_of_scope"
        warnings = data["trace"]["stage_outputs"][0]["diagnostics"]["warnings"]
        assert any("the reasoner failed" in w and "timed out" in w for w in warnings), warnings


# --- 3. Policy decision point ---


async def test_a_decision_point_that_is_down_in_any_way_fails_closed_and_refunds_nothing(
    start_app: StartApp, make_settings: MakeSettings, down: Down
) -> None:
    client = await start_app(make_settings(policy_url=down.url, policy_timeout_seconds=0.3))
    failures: list[tuple[str, Callable[[], Any]]] = [
        ("hangs", lambda: setattr(down, "mode", SILENT)),
        ("trickles", lambda: setattr(down, "mode", TRICKLE)),
        ("drops the connection", lambda: setattr(down, "mode", RESET)),
        ("answers 500 in HTML", lambda: down.answering(500, b"<html>oops</html>")),
        ("answers 200 with garbage", lambda: down.answering(200, b"{not json")),
        ("answers a cut-off decision", lambda: down.answering(200, b'{"decision": "ALLOW", "rule": "de')),
        (
            "answers an unknown decision",
            lambda: down.answering(200, b'{"decision": "MAYBE", "rule": "r", "reason": ""}'),
        ),
        ("answers JSON that is no decision", lambda: down.answering(200, b"[1, 2, 3]")),
    ]
    entries = []
    for why, make_it_so in failures:
        make_it_so()
        entry = await add_request(client.app)
        entries.append(entry)
        status, body, _ = await within(
            3, json_of(client.post("/ops/api/refunds/process-once", json={"entry_id": entry}, headers=AUTH))
        )
        assert status == 200, (why, body)
        assert (body["entry_id"], body["status"]) == (entry, "failed_closed"), (why, body)
        evidence = body["evidence"]
        assert evidence["outcome"] == "failed_closed" and evidence["decision"] is None, (why, evidence)
        assert evidence["rule"] == "decision_point.unavailable", (why, evidence)
    await down.close()  # and a closed port
    entry = await add_request(client.app)
    entries.append(entry)
    status, body, _ = await within(3, json_of(client.post("/ops/api/refunds/process-once", json={}, headers=AUTH)))
    assert status == 200 and (body["entry_id"], body["status"]) == (entry, "failed_closed"), body

    assert refunded(client.app) == {}  # no payout, whatever the failure
    rows = Ops(client).table("refund_requests")
    # Every entry closed as failed closed: none left half-way (`processing`), none extra.
    assert [(r["entry_id"], r["status"]) for r in rows] == [(e, "failed_closed") for e in entries]
    for entry in entries:
        assert await live(client.app).refunds.status_of(entry) == "failed_closed"
    agent_status = await (await client.get("/ops/api/refunds/agent/status", headers=AUTH)).json()
    assert agent_status["error_counts"]["failed_closed"] == len(entries)


# --- 4. Webhook receiver ---


async def test_a_receiver_that_never_answers_times_out_backs_off_and_the_api_stays_responsive(
    start_app: StartApp, make_settings: MakeSettings, down: Down, clock: ManualClock
) -> None:
    client = await start_app(
        make_settings(webhook_allowed_networks=LOOPBACK, webhook_timeout_seconds=1, webhook_retry_base_seconds=10)
    )
    hook = await subscribe(client, f"{down.url}/hook")
    await emit(client.app)
    await within(3, down.called(1))

    # The attempt is stuck in the receiver; the API answers meanwhile, reads and writes alike.
    stuck = await within(0.9, deliveries(client, hook["webhook_id"]))
    assert stuck["items"][0]["status"] == "pending" and stuck["items"][0]["attempt_log"] == []
    listed = await within(0.9, client.get("/webhooks", headers=AUTH))
    assert listed.status == 200
    other = await within(
        0.9, client.post("/webhooks", json={"url": f"{down.url}/other", "events": ["trace.completed"]}, headers=AUTH)
    )
    assert other.status == 201

    first = await within(3, settled(client, hook["webhook_id"], 1))
    attempt = first["attempt_log"][0]
    assert attempt["status_code"] is None and attempt["error"] == "no answer within 1 s", attempt
    assert attempt["outcome"] == "retrying" and first["status"] == "pending"
    assert 5 <= timestamp(first["next_attempt_at"]) - clock.timestamp() <= 10  # the base backoff, with jitter
    await asyncio.sleep(0.2)
    assert down.connections == 1  # backed off: not tried again at once

    down.mode = TRICKLE  # the next attempt gets an answer that never ends
    clock.advance(10)
    wake(client.app)
    second = await within(4, settled(client, hook["webhook_id"], 2))
    attempt = second["attempt_log"][1]
    assert attempt["status_code"] is None and attempt["error"] == "no answer within 1 s", attempt
    assert attempt["outcome"] == "retrying" and second["status"] == "pending"
    assert 10 <= timestamp(second["next_attempt_at"]) - clock.timestamp() <= 20  # doubled
    assert down.connections == 2


# --- 5. Database locked ---


QUEUED = 8  # more writes behind the first: one busy timeout each would add up to far more than the bound
BUSY = "the database is busy (locked by another connection); try again shortly"


async def test_a_locked_database_answers_writes_503_in_bounded_time_reads_go_on_and_writes_come_back(
    ops_with: Callable[..., Awaitable[Ops]], monkeypatch: pytest.MonkeyPatch
) -> None:
    busy_seconds = 0.4
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", round(busy_seconds * 1000))
    ops = await ops_with(webhook_allowed_networks=LOOPBACK)
    client: TestClient = ops.client
    entry = await add_request(ops.app)
    before = {
        table: len(ops.table(table)) for table in ("agent_transactions", "webhook_subscriptions", "confirmations")
    }
    hook_body = {"url": "http://127.0.0.1:9/h", "events": ["trace.completed"]}
    command = {"command": "restart", "component": "connector", "params": {}}
    deposit = {"amount": "250.00", "currency": "EUR", "merchant": "venue-web", "channel": "card_web",
               "customer_id": "c", "device_id": "d", "ip_country": "DE", "card_country": "DE"}  # fmt: skip

    def writes() -> dict[str, Awaitable[ClientResponse]]:
        return {
            "control": client.post("/ops/command", json=command, headers=AUTH),
            "agent": client.post(f"{BASE}/transactions", json=deposit, headers=AUTH),
            "webhooks": client.post("/webhooks", json=hook_body, headers=AUTH),
            "refunds": client.post("/ops/api/refunds/process-once", json={}, headers=AUTH),
            **{f"agent {n}": client.post(f"{BASE}/transactions", json=deposit, headers=AUTH) for n in range(QUEUED)},
        }

    async def timed(awaitable: Awaitable[ClientResponse]) -> tuple[float, int, Any, ClientResponse]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        status, body, response = await json_of(awaitable)
        return loop.time() - started, status, body, response

    async with ExclusiveLock(ops.app[SETTINGS].database_path):
        writes_now = writes()
        names = list(writes_now)
        reads = [
            ops.get("/ops/status"),
            ops.get("/ops/api/refunds/ledger"),
            ops.get(f"{BASE}/investigations"),
            ops.get("/webhooks"),
            ops.get("/api/ops/status"),
        ]
        answered = await within(10, asyncio.gather(*map(timed, [*writes_now.values(), *reads])))

        # Reads go on: WAL lets readers past the writer's lock.
        for _took, status, body, _ in answered[len(names) :]:
            assert status == 200, body
        # Each write is refused in its family's envelope, with a Retry-After, not a 500 and not a hang. Writes that
        # queued behind one that found the database locked are refused at once, not after a busy timeout each.
        by_name = dict(zip(names, answered, strict=False))
        for name, (took, status, body, response) in by_name.items():
            assert status == 503, (name, body)
            assert response.headers["Retry-After"] == "5", name
            assert took < 6 * busy_seconds, (name, took)
        assert by_name["control"][2] == {"error": "database_busy", "detail": BUSY}
        assert by_name["agent"][2]["error"]["code"] == "OPS_AGENT_DEPENDENCY_FAILURE"
        assert by_name["agent"][2]["error"]["message"] == BUSY
        assert by_name["webhooks"][2] == {
            "code": 503,
            "message": "Service Unavailable",
            "error": BUSY,
            "details": {"code": "database_busy"},
        }
        assert by_name["refunds"][2] == {"detail": BUSY}

    # Nothing half-written: no row of a refused write, the refund entry untouched (not left `processing`).
    after = {table: len(ops.table(table)) for table in before}
    assert after == before
    assert await live(ops.app).refunds.status_of(entry) == "pending"
    assert refunded(ops.app) == {}

    # With the lock released, the same writes succeed.
    statuses = {}
    for name, awaitable in writes().items():
        statuses[name] = (await within(3, awaitable)).status
    assert statuses == {
        "control": 200,
        "agent": 201,
        "webhooks": 201,
        "refunds": 200,
        **{f"agent {n}": 201 for n in range(QUEUED)},
    }
    assert await live(ops.app).refunds.status_of(entry) == "refunded"
    # The audit trail goes on from where it was: the entries after the lock are in it.
    assert (await ops.audit_rows())[-1]["path"] == f"{BASE}/transactions"


@pytest.mark.parametrize(
    "exc",
    [
        sqlite3.OperationalError("database is locked"),
        # The audit writer's process reports what failed as text; its thread keeps the sqlite3 error as the cause.
        AuditWriteFailed("OperationalError: database is locked"),
        AuditWriteFailed("cannot open the audit log: OperationalError: database is locked"),
    ],
)
def test_busy_as_the_audit_writers_process_or_sqlite3_reports_it_is_a_503(exc: Exception) -> None:
    request = make_mocked_request("POST", "/ops/command")
    begin_request(request)
    error = as_ops_error(request, exc)
    assert (error.status, error.code, error.detail) == (503, "database_busy", BUSY)


def test_other_database_errors_stay_500s() -> None:
    request = make_mocked_request("POST", "/ops/command")
    begin_request(request)
    for exc in (
        sqlite3.OperationalError("disk I/O error"),
        AuditWriteFailed("OperationalError: disk I/O error"),
        RuntimeError("database is locked"),  # not SQLite's: a defect of ours, whatever it says
        # SQLITE_LOCKED: a conflict on one connection, a defect of ours that waiting does not cure.
        sqlite3.OperationalError("database table is locked"),
        AuditWriteFailed("OperationalError: database table is locked"),
        AuditWriteFailed("OperationalError: not a database is locked"),
    ):
        assert as_ops_error(request, exc).status == 500, exc


def test_a_table_locked_on_one_connection_is_no_busy_database() -> None:
    """SQLITE_LOCKED, as SQLite itself raises it (a table dropped under a statement still reading it on the same
    connection), is not SQLITE_BUSY: a 500, not a 503 inviting a retry that meets the same defect."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
    reading = conn.execute("SELECT x FROM t")
    reading.fetchone()
    with pytest.raises(sqlite3.OperationalError) as raised:
        conn.execute("DROP TABLE t")
    conn.close()
    exc = raised.value
    assert exc.sqlite_errorcode == sqlite3.SQLITE_LOCKED, exc
    assert not database.database_busy(exc)
    request = make_mocked_request("POST", "/ops/command")
    begin_request(request)
    assert as_ops_error(request, exc).status == 500
    try:
        raise AuditWriteFailed(f"OperationalError: {exc}") from exc
    except AuditWriteFailed as wrapped:  # as the audit writer's thread raises it: the cause kept
        assert as_ops_error(request, wrapped).status == 500


async def test_a_write_that_failed_for_any_other_reason_never_makes_the_writes_behind_it_fail_busy(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes queued behind a busy failure fail at once — but only behind a busy failure, and a recent one. A write
    that got the lock and then failed otherwise (a constraint, an error raised inside its transaction, its
    cancellation) ends it, and so does time: a stale busy never refuses a write once the lock is free."""
    busy_seconds = 0.2
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", round(busy_seconds * 1000))
    db = database.Database(tmp_path / "x.db")
    await db.open()
    try:
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        await db.execute("INSERT INTO t VALUES (0)")
        ids = iter(range(1, 100))

        async def busy_failure() -> None:
            """One write that fails busy: another connection holds the write lock meanwhile, then lets it go."""
            other = sqlite3.connect(db.path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            try:
                with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                    await within(3, db.execute("INSERT INTO t VALUES (?)", (next(ids),)))
            finally:
                other.execute("ROLLBACK")
                other.close()

        async def queued_write() -> int:
            row = next(ids)
            await db.execute("INSERT INTO t VALUES (?)", (row,))
            return row

        async def duplicate_statement() -> None:
            await db.execute("INSERT INTO t VALUES (0)")

        async def duplicate() -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO t VALUES (0)")

        async def refused() -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO t VALUES (?)", (next(ids),))
                raise ValueError("a domain error inside the transaction")

        inside = asyncio.Event()

        async def cancelled() -> None:
            async with db.transaction():
                inside.set()
                await asyncio.Event().wait()

        # Still locked: a write queued behind the busy failure fails at once (the point of the flag).
        other = sqlite3.connect(db.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        loop = asyncio.get_running_loop()
        first, behind = db.execute("INSERT INTO t VALUES (?)", (next(ids),)), queued_write()
        started = loop.time()
        results = await within(3, asyncio.gather(first, behind, return_exceptions=True))
        assert all(database.database_busy(r) for r in results), results  # type: ignore[arg-type]
        assert loop.time() - started < 1.8 * busy_seconds
        other.execute("ROLLBACK")
        other.close()

        written = []
        failures: tuple[tuple[Callable[[], Awaitable[None]], type[Exception]], ...] = (
            (duplicate_statement, sqlite3.IntegrityError),
            (duplicate, sqlite3.IntegrityError),
            (refused, ValueError),
        )
        for failing, error in failures:
            await busy_failure()
            outcome = await within(3, asyncio.gather(failing(), queued_write(), return_exceptions=True))
            assert isinstance(outcome[0], error), outcome
            assert isinstance(outcome[1], int), (failing.__name__, outcome)
            written.append(outcome[1])

        await busy_failure()
        holder = asyncio.ensure_future(cancelled())
        await within(3, inside.wait())
        behind_task = asyncio.ensure_future(queued_write())
        await asyncio.sleep(0.01)  # queued on the write lock
        holder.cancel()
        written.append(await within(3, behind_task))

        # A busy failure older than the busy timeout is stale: a write queued behind it tries.
        await busy_failure()
        async with db._write_lock:  # something else writing meanwhile, for longer than the busy timeout
            behind_task = asyncio.ensure_future(queued_write())
            await asyncio.sleep(1.5 * busy_seconds)
        written.append(await within(3, behind_task))

        rows = {row[0] for row in await db.fetchall("SELECT id FROM t")}
        assert set(written) <= rows and len(written) == 5
    finally:
        await db.close()


async def test_an_audit_entry_that_fails_busy_after_the_change_is_no_try_again(
    ops_with: Callable[..., Awaitable[Ops]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 503 with Retry-After means "not done, try again": right when the write (or the audit entry made before
    any change) found the database locked, wrong when the change was made and only the audit entry after it
    failed — a retry would repeat a non-idempotent action. That is a 500 saying the change was made. And a refusal
    for a busy database is on record as what the client got (503 database_busy), not as a 500."""
    busy_seconds = 0.3
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", round(busy_seconds * 1000))
    ops = await ops_with(webhook_allowed_networks=LOOPBACK)
    client: TestClient = ops.client
    trail = ops.app[AUDIT]
    real_record_durable = trail.record_durable
    path = ops.app[SETTINGS].database_path
    hook_body = {"url": "http://127.0.0.1:9/h", "events": ["trace.completed"]}

    # 1. The subscription is committed, then another connection takes the lock before its audit entry.
    async def locked_before_the_entry(record: AuditRecord) -> None:
        async with ExclusiveLock(path):
            await real_record_durable(record)

    monkeypatch.setattr(trail, "record_durable", locked_before_the_entry)
    status, body, response = await within(5, json_of(client.post("/webhooks", json=hook_body, headers=AUTH)))
    assert status == 500, body
    assert "Retry-After" not in response.headers
    assert body["details"] == {"code": "change_not_audited"}, body
    assert body["error"].startswith("the change was made, but its audit entry could not be written; do not repeat it")
    assert [r["url"] for r in ops.table("webhook_subscriptions")] == [hook_body["url"]]  # it was made

    # 2. Locked from the start: the write is refused 503; the lock is gone by the time its refusal is recorded.
    lock = ExclusiveLock(path)

    async def released_before_the_entry(record: AuditRecord) -> None:
        await lock.__aexit__()
        await real_record_durable(record)

    monkeypatch.setattr(trail, "record_durable", released_before_the_entry)
    async with lock:
        status, body, response = await within(5, json_of(client.post("/webhooks", json=hook_body, headers=AUTH)))
    assert status == 503 and response.headers["Retry-After"] == "5", body
    assert body["details"] == {"code": "database_busy"}, body
    assert len(ops.table("webhook_subscriptions")) == 1
    monkeypatch.setattr(trail, "record_durable", real_record_durable)
    refusal = (await ops.audit_rows())[-1]
    assert (refusal["request_id"], refusal["path"]) == (response.headers["X-Request-ID"], "/webhooks")
    assert (refusal["status"], refusal["outcome"]) == (503, "database_busy")

    # The database serves writes again, with nothing left over from either failure.
    status, body, _ = await within(3, json_of(client.post("/webhooks", json=hook_body, headers=AUTH)))
    assert status == 201, body


async def test_a_body_declared_past_the_limit_is_refused_and_the_connection_closed(
    ops_with: Callable[..., Awaitable[Ops]],
) -> None:
    """413 before the handler for a Content-Length past max_body_bytes, on a route that reads no body — and the
    answer closes the connection: the client is told not to send the body the server will not read."""
    ops = await ops_with(max_body_bytes=1024)
    server = ops.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(
            b"DELETE /webhooks/wh_x HTTP/1.1\r\nHost: x\r\nAuthorization: " + AUTH["Authorization"].encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n" + b"{" * 100
        )  # fmt: skip
        await writer.drain()
        head = (await within(3, reader.readuntil(b"\r\n\r\n"))).decode().lower()
        assert head.startswith("http/1.1 413"), head
        assert "\r\nconnection: close\r\n" in head, head
    finally:
        writer.close()
