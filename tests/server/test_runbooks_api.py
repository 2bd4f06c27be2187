"""The runbooks family's endpoints as clients meet them: scopes (401/403), every 422 listing each invalid field
with its location, history pages, tailing one run's logs, and GET /api/ops/status in the contract's shape."""

from pathlib import Path
from typing import Any

import pytest
from runbooks_support import EXECUTE, Runbooks, write_runbooks

from server.keys import SETTINGS, TOKENS
from server.settings import REPO_ASSETS, Settings

LINES = """
    for n in range(5):
        print(f"INFO line {n}")
"""
HEALTHY = """
    print('HEALTH {"coverage_ratio": 0.999, "generated_at": "2026-01-01T09:00:00+08:00"}')
"""


@pytest.fixture
async def runbooks(ops_with: Any, tmp_path: Path) -> Runbooks:
    directory = write_runbooks(
        tmp_path / "runbooks", {"start": (LINES, 10), "stop": (LINES, 10), "health_check": (HEALTHY, 10)}
    )
    return Runbooks((await ops_with(runbooks_dir=directory)).client)


async def _token(runbooks: Runbooks, name: str, scopes: str) -> str:
    return await runbooks.app[TOKENS].create(name, scopes)


ENDPOINTS = [
    ("GET", "/api/ops/status", "runbooks:read"),
    ("GET", "/api/ops/runbooks", "runbooks:read"),
    ("GET", "/api/ops/runbooks/some-id", "runbooks:read"),
    ("GET", "/api/ops/feed/health", "runbooks:read"),
    ("GET", "/api/ops/runbook-commands", "runbooks:read"),
    ("POST", EXECUTE, "runbooks:execute"),
    ("POST", "/api/ops/runbooks/some-id/abort", "runbooks:execute"),
    ("POST", "/api/ops/feed/failover", "runbooks:execute"),
    ("POST", "/api/ops/feed/failback", "runbooks:execute"),
]


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
async def test_every_endpoint_needs_a_token_with_its_scope(
    runbooks: Runbooks, method: str, path: str, scope: str
) -> None:
    other = "runbooks:read" if scope == "runbooks:execute" else "ops:read"
    lacking = await _token(runbooks, "lacking", f"ops:read,ops:command,{other}")
    body = {"json": {"command": "start"}} if path == EXECUTE else {}

    anonymous = await runbooks.client.request(method, path, **body)
    forbidden = await runbooks.client.request(method, path, headers={"Authorization": f"Bearer {lacking}"}, **body)

    assert anonymous.status == 401 and set(await anonymous.json()) == {"detail"}
    assert forbidden.status == 403
    assert scope in (await forbidden.json())["detail"]


INVALID_BODIES = [
    ({"command": "reboot"}, [["body", "command"]]),
    ({"command": "start", "colour": "red"}, [["body", "colour"]]),
    ({"command": "start", "enforce": "maybe"}, [["body", "enforce"]]),
    ({"command": "start", "dry_run": 3}, [["body", "dry_run"]]),
    ({"command": "start", "mode": "sideways"}, [["body", "mode"]]),
    ({"command": "start", "reason": "x" * 201}, [["body", "reason"]]),
    ({"command": "start", "reason": "two\nlines"}, [["body", "reason"]]),
    ({"command": "start", "request_id": "has space"}, [["body", "request_id"]]),
    ({"command": "start", "request_id": "x" * 65}, [["body", "request_id"]]),
    ({"command": "start", "window": "day; rm -rf /"}, [["body", "window"]]),
    ({"command": "start", "profile": "$(id)"}, [["body", "profile"]]),
    ({"command": "start", "config": ""}, [["body", "config"]]),
    ({}, [["body", "command"]]),
    (
        {"command": "reboot", "enforce": "maybe", "extra": 1},
        [["body", "command"], ["body", "enforce"], ["body", "extra"]],
    ),
]


@pytest.mark.parametrize(("body", "locations"), INVALID_BODIES)
async def test_an_invalid_body_is_422_listing_every_invalid_field(
    runbooks: Runbooks, body: dict[str, Any], locations: list[list[str]]
) -> None:
    response = await runbooks.execute_raw(body)

    assert response.status == 422
    detail = (await response.json())["detail"]
    assert sorted(error["loc"] for error in detail) == sorted(locations)
    assert all(error["msg"] and error["type"] for error in detail)


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]"])
async def test_a_body_that_is_not_a_json_object_is_422(runbooks: Runbooks, raw: bytes) -> None:
    response = await runbooks.client.post(
        EXECUTE, data=raw, headers={"Authorization": "Bearer admin-secret", "Content-Type": "application/json"}
    )

    assert response.status == 422
    assert (await response.json())["detail"][0]["loc"] == ["body"]


async def test_history_is_paged_newest_first_with_a_cursor(runbooks: Runbooks) -> None:
    for n in range(3):
        await runbooks.execute(command="start", request_id=f"page-{n}")
    await runbooks.execute(command="stop", request_id="page-stop")

    first = await (await runbooks.get("/api/ops/runbooks", limit=2)).json()
    second = await (await runbooks.get("/api/ops/runbooks", limit=2, cursor=first["next_cursor"])).json()
    starts = await (await runbooks.get("/api/ops/runbooks", command="start")).json()

    assert [run["request_id"] for run in first["items"]] == ["page-stop", "page-2"]
    assert [run["request_id"] for run in second["items"]] == ["page-1", "page-0"]
    assert second["next_cursor"] is None
    assert [run["request_id"] for run in starts["items"]] == ["page-2", "page-1", "page-0"]
    assert all(run["logs"] == [] for run in first["items"])


@pytest.mark.parametrize(
    ("params", "location"),
    [
        ({"limit": "0"}, ["query", "limit"]),
        ({"limit": "201"}, ["query", "limit"]),
        ({"limit": "many"}, ["query", "limit"]),
        ({"cursor": "abc"}, ["query", "cursor"]),
        ({"command": "reboot"}, ["query", "command"]),
        ({"colour": "red"}, ["query", "colour"]),
    ],
)
async def test_a_bad_history_query_is_422(runbooks: Runbooks, params: dict[str, str], location: list[str]) -> None:
    response = await runbooks.get("/api/ops/runbooks", **params)

    assert response.status == 422
    assert [error["loc"] for error in (await response.json())["detail"]] == [location]


async def test_a_run_is_tailed_from_an_offset(runbooks: Runbooks) -> None:
    await runbooks.execute(command="start", request_id="tail-1")

    whole = await (await runbooks.get("/api/ops/runbooks/tail-1")).json()
    tail = await (await runbooks.get("/api/ops/runbooks/tail-1", offset=3)).json()
    past = await (await runbooks.get("/api/ops/runbooks/tail-1", offset=whole["next_offset"])).json()

    assert whole["runbook"]["status"] == "success"
    assert whole["next_offset"] == len(whole["runbook"]["logs"]) == 6  # the executor's line and five of the script
    assert tail["runbook"]["logs"] == whole["runbook"]["logs"][3:] and tail["next_offset"] == 6
    assert past["runbook"]["logs"] == [] and past["next_offset"] == 6


async def test_reading_an_unknown_run_or_a_bad_offset(runbooks: Runbooks) -> None:
    missing = await runbooks.get("/api/ops/runbooks/unknown-run")
    negative = await runbooks.get("/api/ops/runbooks/unknown-run", offset=-1)
    bad_id = await runbooks.get("/api/ops/runbooks/bad%20id")

    assert missing.status == 404 and "unknown-run" in (await missing.json())["detail"]
    assert negative.status == 422 and (await negative.json())["detail"][0]["loc"] == ["query", "offset"]
    assert bad_id.status == 422 and (await bad_id.json())["detail"][0]["loc"] == ["path", "request_id"]


async def test_status_is_the_contracts_shape(runbooks: Runbooks) -> None:
    empty = await (await runbooks.get("/api/ops/status")).json()
    await runbooks.execute(command="health_check", request_id="req-123", window="day")
    await runbooks.execute(command="start", request_id="req-124")

    status = await (await runbooks.get("/api/ops/status")).json()

    assert set(status) == {
        "environment_mode",
        "active_profile",
        "active_window",
        "last_runbook",
        "runbook_history",
        "health_by_request",
        "last_health",
        "last_exit_codes",
        "last_updated_at",
    }
    assert empty["last_runbook"] is None and empty["runbook_history"] == [] and empty["last_updated_at"] is None
    assert status["environment_mode"] == "live" and status["active_profile"] == "primary"
    assert status["active_window"] == "day"
    assert status["last_runbook"]["command"] == "start" and status["last_runbook"]["exit_code"] == 0
    assert [run["request_id"] for run in status["runbook_history"]] == ["req-124", "req-123"]
    assert status["health_by_request"]["req-123"]["coverage_ratio"] == 0.999
    assert status["last_health"]["generated_at"] == "2026-01-01T09:00:00+08:00"
    assert status["last_exit_codes"] == {"health_check": 0, "start": 0}
    assert status["last_updated_at"].endswith("+00:00")


async def test_the_shipped_manifest_offers_every_command(ops_with: Any) -> None:
    runbooks = Runbooks((await ops_with()).client)

    listed = await (await runbooks.get("/api/ops/runbook-commands")).json()

    assert [c["command"] for c in listed["commands"]] == [
        "start",
        "stop",
        "restart",
        "failover",
        "failback",
        "drill",
        "health_check",
    ]
    assert all(c["description"] and c["timeout_seconds"] > 0 for c in listed["commands"])


async def test_a_broken_manifest_is_500_with_a_detail(runbooks: Runbooks) -> None:
    (runbooks.app[SETTINGS].runbooks_dir / "manifest.toml").write_text("[commands.start\n")

    listed = await runbooks.get("/api/ops/runbook-commands")
    executed = await runbooks.execute_raw({"command": "start"})

    assert listed.status == executed.status == 500
    assert "not valid TOML" in (await listed.json())["detail"]
    assert "not valid TOML" in (await executed.json())["detail"]


def test_a_site_points_ops_runbooks_dir_at_its_own_scripts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings().runbooks_dir == REPO_ASSETS / "runbooks"
    monkeypatch.setenv("OPS_RUNBOOKS_DIR", str(tmp_path))
    monkeypatch.setenv("OPS_RUNBOOKS_MIN_COVERAGE_RATIO", "0.5")

    settings = Settings()

    assert settings.runbooks_dir == tmp_path and settings.runbooks_min_coverage_ratio == 0.5
