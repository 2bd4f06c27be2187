"""The audit repository on its own: the exact text each hash covers, and a chain that stays whole when another
writer (a second server process on the same file) appends between this one's batches."""

import itertools
import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from server.storage.audit import (
    AuditRecord,
    AuditRepository,
    EntryTemplates,
    canonical_entry,
    chain_hash,
    detail_json,
    format_datetime,
    format_timestamp,
)
from server.storage.audit_appender import AuditAppender


def _reference_canonical(entry_id: int, record: AuditRecord) -> str:
    """The definition the fast writer must match: the entry as json.dumps with sorted keys, compact."""
    return json.dumps(
        {
            "entry_id": entry_id,
            "at": datetime.fromtimestamp(record.at, UTC).isoformat(timespec="microseconds"),
            "principal": record.principal,
            "request_id": record.request_id,
            "method": record.method,
            "path": record.path,
            "action": record.action,
            "target": record.target,
            "outcome": record.outcome,
            "status": record.status,
            "detail": record.detail,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


_EARLIEST = datetime(1, 1, 1, tzinfo=UTC).timestamp()
_LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=8,
)
_records = st.builds(
    AuditRecord,
    # Any moment a datetime can hold, as seconds since the epoch.
    at=st.floats(min_value=_EARLIEST, max_value=_LATEST),
    principal=st.none() | st.text(),
    request_id=st.text(),
    method=st.sampled_from(["GET", "POST", "HEAD"]),
    path=st.text(),
    action=st.text(),
    target=st.none() | st.text(),
    outcome=st.text(),
    status=st.integers(min_value=0, max_value=599),
    detail=st.dictionaries(st.text(), _json_values, max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(entry_id=st.integers(min_value=1, max_value=2**62), record=_records)
def test_the_hashed_text_is_the_sorted_compact_json_of_the_entry(entry_id, record):
    assert canonical_entry(entry_id, record, detail_json(record.detail)) == _reference_canonical(entry_id, record)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(min_value=1, max_value=2**62), _records), min_size=1, max_size=6))
def test_the_write_path_templates_write_exactly_the_canonical_text(rows):
    # Two shapes at most, so the cache is refilled while rows repeat and differ.
    templates = EntryTemplates(max_shapes=2)
    for entry_id, record in rows * 2:
        detail, at = detail_json(record.detail), format_timestamp(record.at)
        assert templates.canonical(entry_id, record, detail, at) == canonical_entry(entry_id, record, detail, at)


@pytest.mark.parametrize("status", [200.0, "200", True])
def test_the_templates_refuse_a_status_that_is_not_an_int_even_when_it_equals_one(status):
    templates = EntryTemplates()
    record = _record(1)
    templates.canonical(1, record, "{}", format_timestamp(record.at))  # 200's parts are cached now

    with pytest.raises(TypeError, match="status"):
        templates.canonical(2, record._replace(status=status), "{}", format_timestamp(record.at))


_zones = st.just(UTC) | st.builds(
    timezone,
    st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(
        lambda d: timedelta(minutes=d // timedelta(minutes=1))
    ),
)


_NOON = datetime(2026, 11, 23, 12, 0, 0, 500, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(times=st.lists(st.datetimes(timezones=_zones), min_size=1, max_size=4))
# Times that differ in one field only: each must miss the cache of the time before it.
@example(times=[_NOON, _NOON.replace(year=2025)])
@example(times=[_NOON, _NOON.replace(month=10)])
@example(times=[_NOON, _NOON.replace(day=22)])
@example(times=[_NOON, _NOON.replace(hour=11)])
@example(times=[_NOON, _NOON.replace(minute=1)])
@example(times=[_NOON, _NOON.replace(second=1)])
@example(times=[_NOON, _NOON.replace(microsecond=0)])
# The edges of a cached second, and the first and last second there are.
@example(times=[_NOON.replace(microsecond=999_999), _NOON.replace(second=1, microsecond=0)])
@example(times=[datetime.max.replace(tzinfo=UTC), datetime.max.replace(microsecond=0, tzinfo=UTC)])
@example(times=[datetime.min.replace(tzinfo=UTC), datetime.min.replace(microsecond=1, tzinfo=UTC)])
def test_stored_datetimes_are_isoformat_to_the_microsecond(times):
    # The writer reuses the text up to the second between calls: any sequence of times must still come out exact.
    assert [format_datetime(at) for at in times] == [at.isoformat(timespec="microseconds") for at in times]


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
    assert rows[2]["hash"] == chain_hash(rows[1]["hash"], _reference_canonical(3, _record(3)))


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
