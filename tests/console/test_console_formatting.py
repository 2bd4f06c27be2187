"""Small pure helpers of the screens: ages in the status table, the audit filter's matching."""

from datetime import UTC, datetime, timedelta

from console.screens.audit import matches
from console.screens.status import format_age
from shared.control import AuditEntry


def entry(**overrides: object) -> AuditEntry:
    fields: dict[str, object] = {
        "entry_id": 7,
        "at": datetime(2026, 1, 1, 9, 0, tzinfo=UTC),
        "principal": "alice",
        "request_id": "req-0042",
        "method": "POST",
        "path": "/ops/command",
        "action": "command.confirm",
        "target": "connector",
        "outcome": "ok",
        "status": 200,
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }
    return AuditEntry.model_validate(fields | overrides)


def test_format_age_reads_like_an_operator_would_say_it() -> None:
    assert format_age(timedelta(seconds=0)) == "0 s"
    assert format_age(timedelta(seconds=59)) == "59 s"
    assert format_age(timedelta(seconds=61)) == "1 min 1 s"
    assert format_age(timedelta(hours=2, minutes=5, seconds=9)) == "2 h 5 min"
    assert format_age(timedelta(seconds=-3)) == "0 s"  # clocks disagree: never a negative age


def test_filter_needs_every_word_in_any_field_case_insensitively() -> None:
    e = entry()
    assert matches(e, "")
    assert matches(e, "CONFIRM connector")
    assert matches(e, "req-0042")
    assert matches(e, "alice 200")
    assert not matches(e, "confirm database")
    assert not matches(entry(principal=None, target=None), "none")
