"""Small pure helpers of the screens: ages in the status table, how an audit entry reads (verb, step, outcome,
poll or not), the audit filter's matching, the audit columns per width, the health strip's warning and the
playbook section picked for a component."""

from datetime import UTC, datetime, timedelta

from console.screens.audit import columns_for, row_cells
from console.screens.audit_words import is_poll, last_command, matches, step, verb
from console.screens.status import format_age, section_body
from console.widgets.component_detail import playbook_section
from console.widgets.health_strip import live_warning
from shared.control import AuditEntry, ComponentStatus, StatusSnapshot

SINCE = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
COMPONENTS = ["orchestrator", "connector", "database", "execution_engine", "position_manager", "mt5_bridge"]
SECTIONS = ["Reading status", "Startup order", "Connector down", "Database maintenance", "Position manager down",
            "MT5 bridge flapping", "Going live", "Going dry-run"]  # fmt: skip


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
        "detail": {"command": "stop", "params": {}, "result": "stopped", "state": "stopped"},
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }
    return AuditEntry.model_validate(fields | overrides)


def read(path: str, **overrides: object) -> AuditEntry:
    fields: dict[str, object] = {"method": "GET", "path": path, "action": f"GET {path}", "target": None, "detail": {}}
    return entry(**(fields | overrides))


def snapshot(mode: str = "live", **states: str) -> StatusSnapshot:
    components = [
        ComponentStatus.model_validate(
            {"name": name, "state": states.get(name, "running"), "since": SINCE, "commands": []}
        )
        for name in COMPONENTS
    ]
    vitals = {"execution_engine": True, "position_manager": True, "database": True, "mt5_up": True}
    return StatusSnapshot.model_validate({"mode": mode, **vitals, "open_positions": 3, "components": components})


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
    assert matches(e, "stop connector")  # the verb the table shows
    assert not matches(e, "confirm database")
    assert not matches(entry(principal=None, target=None), "none")


def test_commands_read_as_verb_and_step_not_as_internal_action_names() -> None:
    assert verb(entry(action="command.request", detail={"command": "stop"}, target="database")) == "stop database"
    assert step(entry(action="command.request")) == "ask"
    assert step(entry(action="command.execute")) == "execute"
    assert step(entry()) == "confirm"
    assert verb(entry(detail={"command": "dry-run-on"}, target="orchestrator")) == "dry-run-on orchestrator"


def test_reads_read_as_what_was_read() -> None:
    assert verb(read("/ops/status")) == "read status"
    assert verb(read("/ops/runbook", target="Connector down")) == "read runbook Connector down"
    assert verb(read("/ops/whoami")) == "who am I"
    assert verb(read("/api/ops/metrics/summary")) == "read /api/ops/metrics/summary"
    assert step(read("/ops/status")) == "read"
    assert verb(entry(method="DELETE", path="/webhooks/3", action="DELETE /webhooks/{id}", target=None)) == (
        "delete /webhooks/{id}"
    )


def test_only_the_consoles_timed_reads_count_as_polls() -> None:
    assert is_poll(read("/ops/status"))
    assert is_poll(read("/ops/audit"))
    assert not is_poll(read("/ops/runbook"))
    assert not is_poll(entry())


def test_last_command_says_how_it_ended() -> None:
    assert last_command(entry()) == "stop connector by alice at 2026-01-01 09:00:00 — done: stopped"
    refused = entry(action="command.request", status=409, outcome="command_refused", detail={"command": "stop"})
    assert last_command(refused).endswith("— refused (409 command_refused)")
    asked = entry(action="command.request", detail={"command": "restart", "params": {"reason": "stuck"}})
    assert last_command(asked) == (
        "restart connector by alice at 2026-01-01 09:00:00 ('stuck') — asked for a confirmation, not confirmed"
    )
    restarting = entry(detail={"command": "restart", "result": "restarted", "state": "restarting"})
    assert last_command(restarting).endswith("— done: restarted, then restarting")


def test_audit_columns_fit_80_and_widen_with_the_terminal() -> None:
    def total(width: int) -> int:
        return sum(c.width + 2 for c in columns_for(width)) + 2

    narrow, wide = columns_for(80), columns_for(120)
    assert [c.key for c in narrow] == ["at", "principal", "verb", "step", "outcome"]
    assert [c.key for c in wide] == ["at", "principal", "verb", "step", "outcome", "request_id"]
    for width in (80, 100, 120, 160, 200):
        assert total(width) <= width, width
    verb_width = {w: next(c.width for c in columns_for(w) if c.key == "verb") for w in (80, 120, 160)}
    assert verb_width[80] < verb_width[120] < verb_width[160]
    assert row_cells(entry(), narrow)[:3] == ["01-01 09:00:00", "alice", "stop connector"]
    assert row_cells(entry(), wide)[0] == "2026-01-01 09:00:00"


def test_live_warning_names_what_is_not_running() -> None:
    assert live_warning(snapshot()) == ""
    assert live_warning(snapshot(connector="stopped")) == "LIVE with connector not running"
    assert live_warning(snapshot(connector="stopped", mt5_bridge="restarting")) == (
        "LIVE with connector, mt5_bridge not running"
    )
    assert live_warning(snapshot("dry-run", connector="stopped")) == ""  # dry-run is where maintenance happens
    assert live_warning(snapshot("unknown", orchestrator="stopped")) == "mode unknown: orchestrator not running"


def test_playbook_section_for_each_component() -> None:
    picks = {name: playbook_section(name, "live", SECTIONS) for name in COMPONENTS}
    assert picks == {
        "orchestrator": "Going dry-run",
        "connector": "Connector down",
        "database": "Database maintenance",
        "execution_engine": "Startup order",
        "position_manager": "Position manager down",
        "mt5_bridge": "MT5 bridge flapping",
    }
    assert playbook_section("orchestrator", "dry-run", SECTIONS) == "Going live"
    assert playbook_section("execution_engine", "live", ["Escalation"]) is None
    assert section_body("## Connector down\n\nSymptoms: ...") == "Symptoms: ..."
    assert section_body("Top text") == "Top text"
