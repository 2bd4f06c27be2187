"""The AuditWriter: batches reach the chain through a writer process (the server's default) or a thread, a batch
the table refuses is reported to its waiters, and a writer process that dies costs the batch in flight and no
more. Spawning a process costs a tenth of a second or more, so only the tests that need one use that kind."""

import pickle
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.keys import AUDIT, DB
from server.services.audit import AuditTrail
from server.storage.audit import AuditRecord, AuditRepository
from server.storage.audit_checkpoints import _SELECT, Checkpoint
from server.storage.audit_keys import AuditKey
from server.storage.audit_writer import AuditWriteFailed, AuditWriter, WriterKind, frame
from server.storage.database import Database

KINDS = [WriterKind.PROCESS, WriterKind.THREAD]


def _record(n: int) -> AuditRecord:
    return AuditRecord(
        at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC).timestamp() + n,
        principal="admin",
        request_id=f"req-{n}",
        method="GET",
        path="/ops/status",
        action="GET /ops/status",
        target=None,
        outcome="ok",
        status=200,
        detail={"n": n},
    )


@pytest.fixture
async def make_writer(db):
    """`await make_writer(kind)`: a started writer on `db`, stopped at the end of the test."""
    writers: list[AuditWriter] = []

    async def make(kind: WriterKind) -> AuditWriter:
        writer = AuditWriter(db.path, kind)
        writers.append(writer)
        await writer.start()
        return writer

    yield make
    for writer in writers:
        await writer.stop()


async def _request_ids(db: Database) -> list[str]:
    return [row["request_id"] for row in await db.fetchall("SELECT request_id FROM audit_log ORDER BY entry_id")]


async def _refuse_request_id(db: Database, request_id: str) -> None:
    await db.execute(
        f"CREATE TRIGGER refuse BEFORE INSERT ON audit_log WHEN NEW.request_id = '{request_id}' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_batches_are_committed_in_order_on_an_unbroken_chain(db, make_writer, kind):
    writer = await make_writer(kind)

    await writer.append([_record(1), _record(2)])
    await writer.append([_record(3)])

    assert await _request_ids(db) == ["req-1", "req-2", "req-3"]
    assert await AuditRepository(db).verify() == (3, None)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_batch_the_table_refuses_fails_with_the_reason_and_the_next_batch_is_written(db, make_writer, kind):
    writer = await make_writer(kind)
    await writer.append([_record(1)])
    await _refuse_request_id(db, "req-3")

    with pytest.raises(AuditWriteFailed, match=r"^IntegrityError: refused$"):
        await writer.append([_record(2), _record(3)])
    await writer.append([_record(4)])

    assert await _request_ids(db) == ["req-1", "req-4"]  # nothing of the refused batch, req-2 included
    assert await AuditRepository(db).verify() == (2, None)


async def test_a_refused_batch_does_not_cost_the_writer_process(db, make_writer):
    writer = await make_writer(WriterKind.PROCESS)
    child = writer._process
    await _refuse_request_id(db, "req-1")

    with pytest.raises(AuditWriteFailed):
        await writer.append([_record(1)])
    await writer.append([_record(2)])

    assert writer._process is child
    assert child is not None and child.returncode is None


async def test_a_writer_process_that_died_between_batches_is_replaced_before_the_next(db, make_writer):
    writer = await make_writer(WriterKind.PROCESS)
    await writer.append([_record(1)])
    dead = writer._process
    assert dead is not None
    dead.kill()
    await dead.wait()

    await writer.append([_record(2)])  # not lost to the dead one: a new process links it onto the file's head

    assert writer._process is not None and writer._process is not dead
    assert await _request_ids(db) == ["req-1", "req-2"]
    assert await AuditRepository(db).verify() == (2, None)


async def test_a_batch_whose_writer_process_dies_under_it_fails_and_the_next_goes_to_a_new_one(
    db, make_writer, monkeypatch
):
    writer = await make_writer(WriterKind.PROCESS)
    await writer.append([_record(1)])
    dying = writer._process
    assert dying is not None
    answer = AuditWriter._answer

    async def die_before_answering(self):
        dying.kill()
        await answer(self)

    monkeypatch.setattr(AuditWriter, "_answer", die_before_answering)
    with pytest.raises(AuditWriteFailed, match=r"audit writer process exited"):
        await writer.append([_record(2)])  # committed or not, nobody can say: it counts as failed
    monkeypatch.setattr(AuditWriter, "_answer", answer)

    await writer.append([_record(3)])

    assert writer._process is not None and writer._process is not dying
    assert (await _request_ids(db))[-1] == "req-3"
    assert (await AuditRepository(db).verify())[1] is None


@pytest.mark.parametrize("kind", KINDS)
async def test_a_writer_that_cannot_open_the_database_fails_start_and_leaves_nothing_running(tmp_path, kind):
    writer = AuditWriter(tmp_path / "no-such-dir" / "ops.db", kind)

    with pytest.raises(AuditWriteFailed, match=r"^cannot open the audit log: OperationalError: unable to open"):
        await writer.start()

    assert writer._process is None and writer._thread is None
    with pytest.raises(AuditWriteFailed, match="not running"):
        await writer.append([_record(1)])
    assert writer._process is None  # a batch never starts a writer that failed to start


@pytest.mark.parametrize("kind", KINDS)
async def test_a_stopped_writer_refuses_batches_and_starts_nothing(db, make_writer, kind):
    writer = await make_writer(kind)
    await writer.append([_record(1)])
    await writer.stop()

    with pytest.raises(AuditWriteFailed, match="not running"):
        await writer.append([_record(2)])

    assert writer._process is None and writer._thread is None
    assert await _request_ids(db) == ["req-1"]


async def test_an_app_with_a_writer_process_records_reads_and_commands_and_stops_it_on_close(ops_with):
    ops = await ops_with(audit_writer="process")
    writer = ops.app[AUDIT]._writer
    child = writer._process
    assert child is not None and child.returncode is None

    response = await ops.get("/ops/status", headers={"X-Request-ID": "read-1"})
    assert response.status == 200
    await ops.run("stop", "connector", {"reason": "maintenance window"})

    rows = await ops.audit_rows()
    assert (rows[0]["request_id"], rows[0]["action"], rows[0]["outcome"]) == ("read-1", "GET /ops/status", "ok")
    assert [(r["action"], r["target"], r["outcome"]) for r in rows[1:]] == [
        ("command.request", "connector", "ok"),
        ("command.execute", "connector", "executing"),
        ("command.confirm", "connector", "ok"),
    ]
    assert await AuditRepository(ops.app[DB]).verify() == (4, None)
    assert writer._process is child  # all of it went through the one process

    await ops.client.close()

    assert child.returncode == 0


async def test_the_writer_process_is_not_handed_the_servers_secrets(db, make_writer, monkeypatch):
    monkeypatch.setenv("OPS_API_TOKEN", "secret-admin-token")
    writer = await make_writer(WriterKind.PROCESS)
    assert writer._process is not None

    environment = Path(f"/proc/{writer._process.pid}/environ").read_bytes()

    assert b"secret-admin-token" not in environment
    assert b"OPS_" not in environment


async def test_the_writer_process_imports_the_servers_code_not_the_working_directorys(
    db, make_writer, tmp_path, monkeypatch
):
    decoy = tmp_path / "cwd" / "server" / "storage"
    decoy.mkdir(parents=True)
    for package in (decoy.parent, decoy):
        (package / "__init__.py").write_text("")
    (decoy / "audit_process.py").write_text("raise SystemExit(3)\n")  # what `-m` would run from here
    monkeypatch.chdir(tmp_path / "cwd")

    writer = await make_writer(WriterKind.PROCESS)
    await writer.append([_record(1)])

    assert await _request_ids(db) == ["req-1"]


async def test_stopping_the_trail_stops_the_writer_even_when_the_last_batch_fails(db):
    writer = AuditWriter(db.path, WriterKind.PROCESS)
    trail = AuditTrail(writer, AuditRepository(db), batch_ms=60_000)
    await trail.start()
    await _refuse_request_id(db, "req-1")
    trail.record(_record(1))

    with pytest.raises(AuditWriteFailed, match="refused"):
        await trail.stop()

    assert writer._process is None
    with pytest.raises(AuditWriteFailed, match="not running"):
        await writer.append([_record(2)])


def _frame_pickle(value: object) -> bytes:
    return frame(pickle.dumps(value))


def test_the_writer_process_exits_quietly_when_the_server_dies_mid_answer(db):
    # The server's end of the pipes goes away (it died) while the process still has an answer to give.
    process = subprocess.Popen(
        [sys.executable, "-m", "server.storage.audit_process", str(db.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(_frame_pickle((None, 10.0)))
    process.stdin.flush()
    process.stdout.read(4)  # the start of its first answer: it opened the database
    process.stdout.close()  # the server is gone: nobody reads its answers any more

    process.stdin.write(_frame_pickle(("append", [tuple(_record(1))])))
    process.stdin.close()
    process.wait(timeout=30)
    assert process.stderr is not None
    stderr = process.stderr.read()

    assert process.returncode == 0
    assert b"BrokenPipeError" not in stderr
    assert b"Traceback" not in stderr


@pytest.mark.parametrize("kind", KINDS)
async def test_the_writer_signs_checkpoints_with_the_key_it_was_handed(db, kind):
    key = AuditKey(b"k" * 32)
    writer = AuditWriter(db.path, kind, key=key)
    await writer.start()
    try:
        await writer.append([_record(1), _record(2)])
        await writer.checkpoint()
    finally:
        await writer.stop()

    (checkpoint,) = await _checkpoints(db)
    assert (checkpoint.entry_id, checkpoint.entry_count) == (2, 2)
    assert checkpoint.signed_by(key)
    assert not checkpoint.signed_by(AuditKey(b"x" * 32))


async def _checkpoints(db: Database) -> list[Checkpoint]:
    return [Checkpoint(*row) for row in await db.fetchall(f"{_SELECT} ORDER BY checkpoint_id")]
