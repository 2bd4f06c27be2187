"""The audit repository on its own: the exact text each hash covers, and a chain that stays whole when another
writer (a second server process on the same file) appends between this one's batches."""

import itertools
import sqlite3
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from server.storage.audit import (
    AuditRecord,
    AuditRepository,
    canonical_entry,
    chain_hash,
    format_timestamp,
)
from server.storage.audit_appender import AuditAppender
from server.storage.audit_keys import AuditKey


def test_an_entry_hashes_exactly_as_the_earlier_hand_written_encoder_hashed_it():
    # Text and hash written by the hand-written encoder this json.dumps replaced (escapes, nesting, null and
    # non-ASCII included): a database it wrote verifies unchanged, with no format version or migration.
    record = AuditRecord(
        at=1796032199.25,
        principal="opérateur",
        request_id='req-"1"',
        method="POST",
        path="/ops/command",
        action="command.confirm",
        target="connector",
        outcome="ok",
        status=200,
        detail={"params": {"reason": "café \u2603 \\n"}, "result": "stopped", "n": [1, None, True]},
    )

    text = canonical_entry(7, record)

    assert text == (
        '{"action":"command.confirm","at":"2026-11-30T09:49:59.250000+00:00","detail":{"n":[1,null,true],'
        '"params":{"reason":"caf\\u00e9 \\u2603 \\\\n"},"result":"stopped"},"entry_id":7,"method":"POST",'
        '"outcome":"ok","path":"/ops/command","principal":"op\\u00e9rateur","request_id":"req-\\"1\\"",'
        '"status":200,"target":"connector"}'
    )
    assert chain_hash("ab" * 32, text) == "a91707f1576143b6df840167ec4a1203ac61bc593110b16c5a9a0b116b569333"


@pytest.mark.parametrize("status", [200.0, "200"])
def test_an_entry_whose_status_is_not_an_int_has_no_canonical_text(status):
    with pytest.raises(TypeError, match="status"):
        canonical_entry(1, _record(1)._replace(status=status))


_EARLIEST = datetime(1, 1, 1, tzinfo=UTC).timestamp()
_LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


@settings(max_examples=300, deadline=None)
@given(at=st.floats(min_value=_EARLIEST, max_value=_LATEST))
@example(at=1796032199.9999995)  # rounds up into the next second
@example(at=0.0)
def test_a_stored_timestamp_is_the_moment_to_the_microsecond(at):
    assert format_timestamp(at) == datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds")


def _record(n: int, **changes) -> AuditRecord:
    fields = {
        "at": datetime(2026, 11, 23, 8, 0, tzinfo=UTC).timestamp() + n,
        "principal": "admin",
        "request_id": f"req-{n}",
        "method": "GET",
        "path": "/ops/status",
        "action": "GET /ops/status",
        "target": None,
        "outcome": "ok",
        "status": 200,
        "detail": {"n": n},
    }
    return AuditRecord(**{**fields, **changes})


@pytest.fixture
def appender(db):
    appender = AuditAppender(db.path)
    yield appender
    appender.close()


@pytest.fixture
def another_appender(db):
    """Another process's appender on the same file."""
    appender = AuditAppender(db.path)
    yield appender
    appender.close()


async def test_a_batch_links_each_entry_on_the_one_before(db, appender):
    appender.append([_record(1), _record(2)])
    appender.append([_record(3)])

    rows = await db.fetchall("SELECT * FROM audit_log ORDER BY entry_id")
    assert [row["request_id"] for row in rows] == ["req-1", "req-2", "req-3"]
    assert rows[0]["prev_hash"] == "0" * 64
    for before, after in itertools.pairwise(rows):
        assert after["prev_hash"] == before["hash"]
    assert rows[2]["hash"] == chain_hash(rows[1]["hash"], canonical_entry(3, _record(3)))


async def test_appends_by_another_writer_in_between_are_linked_onto_not_overwritten(db, appender, another_appender):
    ours, theirs = appender, another_appender
    ours.append([_record(1)])
    theirs.append([_record(2), _record(3)])

    ours.append([_record(4)])  # its remembered head (entry 1) is out of date
    theirs.append([_record(5)])

    rows = await db.fetchall("SELECT request_id FROM audit_log ORDER BY entry_id")
    assert [row["request_id"] for row in rows] == [f"req-{n}" for n in range(1, 6)]
    assert await AuditRepository(db).verify() == (5, None)


async def test_a_batch_the_table_refuses_is_reported_and_leaves_nothing_behind(db, appender):
    appender.append([_record(1)])
    await db.execute(
        "CREATE TRIGGER refuse_req_3 BEFORE INSERT ON audit_log WHEN NEW.request_id = 'req-3' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )

    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        appender.append([_record(2), _record(3)])

    appender.append([_record(4)])
    rows = await db.fetchall("SELECT request_id FROM audit_log ORDER BY entry_id")
    assert [row["request_id"] for row in rows] == ["req-1", "req-4"]
    assert await AuditRepository(db).verify() == (2, None)


async def test_a_batch_larger_than_one_statement_takes_is_written_whole_and_linked(db, appender, monkeypatch):
    monkeypatch.setattr("server.storage.audit_appender.ROWS_PER_STATEMENT", 2)

    appender.append([_record(n) for n in range(1, 6)])

    rows = await db.fetchall("SELECT request_id FROM audit_log ORDER BY entry_id")
    assert [row["request_id"] for row in rows] == [f"req-{n}" for n in range(1, 6)]
    assert await AuditRepository(db).verify() == (5, None)


async def test_a_moved_head_is_found_even_while_a_long_read_is_open(db, appender, another_appender):
    appender.append([_record(1)])
    async with db.reading() as conn:  # a verify walking the log holds an old snapshot on the reader
        await (await conn.execute("SELECT count(*) FROM audit_log")).fetchone()
        another_appender.append([_record(2)])

        appender.append([_record(3)])

    assert await AuditRepository(db).verify() == (3, None)


async def test_reads_are_signed_once_the_checkpoint_interval_has_passed(db, monkeypatch):
    key = AuditKey(b"k" * 32)
    now = [1000.0]
    monkeypatch.setattr("server.storage.audit_appender.time.monotonic", lambda: now[0])
    appender = AuditAppender(db.path, key, checkpoint_seconds=10)
    try:
        appender.append([_record(1)])
        appender.checkpoint_if_due()
        assert await db.fetchall("SELECT entry_id FROM audit_checkpoints") == []

        now[0] += 10
        appender.append([_record(2)])
        appender.checkpoint_if_due()
    finally:
        appender.close()

    assert [row[0] for row in await db.fetchall("SELECT entry_id FROM audit_checkpoints")] == [2]
