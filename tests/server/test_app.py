"""create_app: what every family shares starts first, the audit trail in a cleanup context of its own, so that
whatever fails to start after it, its writer process is stopped; then each family's setup."""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from server.app import create_app
from server.http.control import CONTROL, STATUS_BODY
from server.http.request_metrics import METRICS_REGISTRY, REQUEST_COUNTER


def _audit_writer_processes() -> list[int]:
    """Live children of this process running the audit writer."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        # The fields after the command's name (which may hold spaces) in parentheses: state, then the parent.
        state, ppid = stat.rpartition(")")[2].split()[:2]
        if int(ppid) == os.getpid() and state != "Z" and b"server.storage.audit_process" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture
def failing_family():
    """A cleanup context that fails to start, noting the audit writer processes running at that moment."""
    seen: dict[str, list[int]] = {}

    async def failing(app: web.Application) -> AsyncIterator[None]:
        seen["writers"] = _audit_writer_processes()
        raise RuntimeError("a family failed to start")
        yield

    return failing, seen


async def test_a_cleanup_context_failing_after_the_audit_trail_started_still_stops_its_writer(
    make_settings, clock, start_app_failing, failing_family
):
    failing, seen = failing_family
    app = create_app(make_settings(audit_writer="process"), clock=clock)
    app.cleanup_ctx.append(failing)

    error = await start_app_failing(app)

    assert str(error) == "a family failed to start"
    assert len(seen["writers"]) == 1  # it was running when the later context failed
    assert _audit_writer_processes() == []


async def test_a_family_refusing_to_start_stops_the_audit_writer(make_settings, clock, start_app_failing, tmp_path):
    app = create_app(make_settings(audit_writer="process", playbook_path=tmp_path / "missing.md"), clock=clock)

    error = await start_app_failing(app)

    assert "operator playbook not found" in str(error)
    assert _audit_writer_processes() == []


async def test_the_control_familys_setup_provides_its_keys(client):
    app = client.app

    assert app[CONTROL].status() is not None
    assert app[STATUS_BODY] is not None
    assert app[REQUEST_COUNTER] is not None
    assert app[METRICS_REGISTRY] is not None
