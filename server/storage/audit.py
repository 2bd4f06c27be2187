"""AuditRepository: the append-only, hash-chained audit log."""

import functools
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# The json module's own C string escaper (what json.dumps uses with ensure_ascii): not in its documented API, but
# present since Python 2.6 and the fastest exact way to write a JSON string.
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from server.errors import DataCorrupted
from server.storage.database import Database

GENESIS_HASH = "0" * 64
_COLUMNS = 13
# SQLite before 3.32 binds at most 999 variables to a statement, later ones 32766: a batch larger than one
# statement takes (a full batch of the default 200 rows never does).
ROWS_PER_STATEMENT = (32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999) // _COLUMNS
# What a text search of the log looks in.
_SEARCHABLE = (
    "lower(coalesce(principal, '') || ' ' || action || ' ' || coalesce(target, '') || ' ' || outcome || ' ' "
    "|| request_id || ' ' || path || ' ' || detail)"
)


class AuditRecord(NamedTuple):
    """One ops interaction, before it has a place in the chain. (A NamedTuple: immutable, and cheap to make on
    every request.)"""

    at: float  # seconds since the epoch: cheaper to take on every request, and to send, than a datetime
    principal: str | None
    request_id: str
    method: str
    path: str
    action: str
    target: str | None
    outcome: str
    status: int
    detail: dict[str, Any]


# An AuditRecord from its fields in order, for the request path: tuple.__new__ bound to the class is a C call,
# where the NamedTuple's own constructor runs Python code with keyword handling.
new_record = functools.partial(tuple.__new__, AuditRecord)


@dataclass(frozen=True)
class AuditRow:
    entry_id: int
    at: datetime  # as stored, to the microsecond (record.at is the same moment as a float)
    record: AuditRecord
    prev_hash: str
    hash: str


def detail_json(detail: dict[str, Any]) -> str:
    # Most entries (reads) have no detail: skip the encoder for them.
    return json.dumps(detail, sort_keys=True, separators=(",", ":")) if detail else "{}"


def canonical_entry(entry_id: int, record: AuditRecord, detail: str, at: str | None = None) -> str:
    """The text an entry's hash covers: the entry as compact JSON with sorted keys (what
    `json.dumps(..., sort_keys=True, separators=(",", ":"))` gives), written out directly because every read
    request makes an entry and the generic encoder costs several times more. `detail` is `detail_json()`, `at` the
    record's timestamp as stored, when the caller has it already."""
    enc = encode_basestring_ascii
    principal, target = record.principal, record.target
    # `:d` refuses anything but an int (a status of 401.5 or "401" read back from a tampered row is an error, not
    # a number quietly rounded into a matching hash).
    return (
        f'{{"action":{enc(record.action)},"at":{enc(at or format_timestamp(record.at))},"detail":{detail},'
        f'"entry_id":{entry_id:d},"method":{enc(record.method)},"outcome":{enc(record.outcome)},'
        f'"path":{enc(record.path)},"principal":{"null" if principal is None else enc(principal)},'
        f'"request_id":{enc(record.request_id)},"status":{record.status:d},'
        f'"target":{"null" if target is None else enc(target)}}}'
    )


class EntryTemplates:
    """canonical_entry() for the write path, where the parts of entries repeat: a console polling status makes
    the same action, path, outcome and caller by the thousand. Those parts are encoded once per distinct
    combination; each row then costs only its time, id and request id. Produces exactly canonical_entry()'s text
    (a property test holds them together); `at` must come from format_timestamp(), which writes nothing JSON
    would escape."""

    def __init__(self, max_shapes: int = 1024) -> None:
        self._max_shapes = max_shapes  # paths are the caller's to choose: keep a bounded number
        self._parts: dict[tuple[Any, ...], tuple[str, str, str, str]] = {}

    def canonical(self, entry_id: int, record: AuditRecord, detail: str, at: str) -> str:
        if type(record.status) is not int:  # 200.0 would find 200's parts: refuse it as canonical_entry does
            raise TypeError(f"an audit status must be an int, not {record.status!r}")
        shape = (
            record.action,
            record.method,
            record.outcome,
            record.path,
            record.principal,
            record.status,
            record.target,
            detail,
        )
        parts = self._parts.get(shape)
        if parts is None:
            parts = self._remember(shape)
        before_at, before_entry_id, before_request_id, after_request_id = parts
        return (
            f'{before_at}"{at}"{before_entry_id}{entry_id:d}{before_request_id}'
            f"{encode_basestring_ascii(record.request_id)}{after_request_id}"
        )

    def _remember(self, shape: tuple[Any, ...]) -> tuple[str, str, str, str]:
        action, method, outcome, path, principal, status, target, detail = shape
        enc = encode_basestring_ascii
        parts = (
            f'{{"action":{enc(action)},"at":',
            f',"detail":{detail},"entry_id":',
            f',"method":{enc(method)},"outcome":{enc(outcome)},"path":{enc(path)},'
            f'"principal":{"null" if principal is None else enc(principal)},"request_id":',
            f',"status":{status:d},"target":{"null" if target is None else enc(target)}}}',
        )
        if len(self._parts) >= self._max_shapes:
            self._parts.clear()
        self._parts[shape] = parts
        return parts


def format_timestamp(at: float) -> str:
    """How an entry's time is stored: `datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds")`."""
    return format_datetime(datetime.fromtimestamp(at, UTC))


def format_datetime(at: datetime) -> str:
    """`at.isoformat(timespec="microseconds")`. For UTC times (every entry the server makes) the text up to the
    second is reused from the previous call: most entries of a batch share their second, and isoformat is slow."""
    global _current_second
    if at.tzinfo is not UTC:
        return at.isoformat(timespec="microseconds")
    start, end, prefix = _current_second  # one read: the triple is replaced whole, never half
    if not start <= at < end:
        start = at.replace(microsecond=0)
        prefix = start.isoformat()[:-6]  # without the "+00:00"
        if start < _LAST_SECOND:  # the very last second has no end to cache
            _current_second = (start, start + _ONE_SECOND, prefix)
    return f"{prefix}.{at.microsecond:06d}+00:00"


_ONE_SECOND = timedelta(seconds=1)
_LAST_SECOND = datetime.max.replace(microsecond=0, tzinfo=UTC)
_current_second: tuple[datetime, datetime, str] = (_LAST_SECOND, _LAST_SECOND, "")  # an empty range


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _from_row(row) -> AuditRow:
    at = datetime.fromisoformat(row["at"])
    record = AuditRecord(
        at=at.timestamp(),
        principal=row["principal"],
        request_id=row["request_id"],
        method=row["method"],
        path=row["path"],
        action=row["action"],
        target=row["target"],
        outcome=row["outcome"],
        status=row["status"],
        detail=json.loads(row["detail"]),
    )
    return AuditRow(entry_id=row["entry_id"], at=at, record=record, prev_hash=row["prev_hash"], hash=row["hash"])


@dataclass(frozen=True)
class ChainBreak:
    entry_id: int
    reason: str


def link(records: Sequence[AuditRecord], head: tuple[int, str]) -> tuple[list[Any], tuple[int, str]]:
    """The insert parameters of `records` chained onto `head`, and the head after them."""
    last_id, prev_hash = head
    values: list[Any] = []
    canonical = _TEMPLATES.canonical
    for record in records:
        last_id += 1
        detail, at = detail_json(record.detail), format_timestamp(record.at)
        digest = chain_hash(prev_hash, canonical(last_id, record, detail, at))
        values += (
            last_id,
            at,
            record.principal,
            record.request_id,
            record.method,
            record.path,
            record.action,
            record.target,
            record.outcome,
            record.status,
            detail,
            prev_hash,
            digest,
        )
        prev_hash = digest
    return values, (last_id, prev_hash)


_TEMPLATES = EntryTemplates()


@functools.cache
def insert_sql(rows: int) -> str:
    # One multi-row INSERT rather than executemany: the database thread then takes the GIL once per batch.
    return (
        "INSERT INTO audit_log (entry_id, at, principal, request_id, method, path, action, target, outcome, "
        "status, detail, prev_hash, hash) VALUES " + ", ".join(["(" + ", ".join("?" * _COLUMNS) + ")"] * rows)
    )


class AuditRepository:
    """Reads the log: the newest entries and the walk that verifies the chain. Appending is the AuditAppender's."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def recent(self, limit: int, *, words: list[str] | None = None, changes_only: bool = False) -> list[AuditRow]:
        """Newest first. `words` must each occur (case-insensitively) in the principal, action, target, outcome,
        request id, path or detail (where a command's name, params and result are); `changes_only` leaves out
        reads (GET, HEAD, OPTIONS)."""
        where, params = [], []
        for word in words or []:
            where.append(f"instr({_SEARCHABLE}, ?) > 0")
            params.append(word.lower())
        if changes_only:
            where.append("method NOT IN ('GET', 'HEAD', 'OPTIONS')")
        sql = "SELECT * FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self._db.fetchall(sql + " ORDER BY entry_id DESC LIMIT ?", (*params, limit))
        result = []
        for row in rows:
            try:
                result.append(_from_row(row))
            except (TypeError, ValueError):
                raise DataCorrupted(
                    f"audit entry {row['entry_id']} cannot be read; run 'ops-server audit verify'"
                ) from None
        return result

    async def verify(self) -> tuple[int, ChainBreak | None]:
        """Walk the chain from the start. Returns how many entries hold and the first broken link, if any."""
        prev_hash = GENESIS_HASH
        expected_id = 1
        checked = 0
        async with self._db.reading() as conn, conn.execute("SELECT * FROM audit_log ORDER BY entry_id") as cur:
            async for raw in cur:
                if raw["entry_id"] != expected_id:
                    return checked, ChainBreak(expected_id, f"entry {expected_id} is missing")
                if raw["prev_hash"] != prev_hash:
                    return checked, ChainBreak(expected_id, "prev_hash does not match the previous entry's hash")
                try:
                    # A tampered `at` or `detail` may not even parse: that is a broken entry, not a crash.
                    row = _from_row(raw)
                    # The stored texts of `at` and `detail` are what the writer hashed: hash them as they are, so
                    # no edit hides behind a value that reads back the same.
                    digest = chain_hash(prev_hash, canonical_entry(row.entry_id, row.record, raw["detail"], raw["at"]))
                except (TypeError, ValueError) as exc:
                    return checked, ChainBreak(expected_id, f"entry cannot be read: {exc}")
                if digest != row.hash:
                    return checked, ChainBreak(row.entry_id, "contents do not match the entry's hash")
                prev_hash = row.hash
                expected_id += 1
                checked += 1
        return checked, None
