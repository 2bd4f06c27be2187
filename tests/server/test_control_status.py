"""The read endpoints of the control family: /ops/status, /ops/runbook, /ops/audit, /ops/whoami."""

import re

import pytest

from server.plant.plant import Plant
from shared.control import AuditResponse, RunbookResponse, StatusResponse
from shared.scopes import ALL_SCOPES

CONTRACT_STATUS_KEYS = {"mode", "execution_engine", "position_manager", "database", "mt5_up", "open_positions"}


class TestStatus:
    async def test_status_has_the_contract_shape(self, ops):
        response = await ops.get("/ops/status")

        assert response.status == 200
        assert response.content_type == "application/json"
        body = await response.json()
        assert set(body) == {"status"}
        status = body["status"]
        assert set(status) >= CONTRACT_STATUS_KEYS
        assert status["mode"] in ("live", "dry-run", "unknown")
        for key in ("execution_engine", "position_manager", "database"):
            assert isinstance(status[key], bool)
        assert status["mt5_up"] is None or isinstance(status["mt5_up"], bool)
        assert status["open_positions"] is None or isinstance(status["open_positions"], int)
        StatusResponse.model_validate(body)

    async def test_status_of_a_fresh_plant_is_live_and_all_up(self, ops):
        status = await ops.status()

        assert status["mode"] == "live"
        assert status["execution_engine"] is True
        assert status["position_manager"] is True
        assert status["database"] is True
        assert status["mt5_up"] is True
        assert status["open_positions"] == 3

    async def test_status_lists_every_component_with_its_commands(self, ops, plant: Plant):
        status = await ops.status()

        assert [c["name"] for c in status["components"]] == plant.component_names
        orchestrator = next(c for c in status["components"] if c["name"] == "orchestrator")
        assert "dry-run-on" in orchestrator["commands"]
        assert all(c["state"] == "running" for c in status["components"])

    async def test_status_as_of_is_the_injected_clock(self, ops, clock):
        clock.advance(90)

        status = await ops.status()

        assert StatusResponse.model_validate({"status": status}).status.as_of == clock.now()

    async def test_status_follows_the_plant_as_it_ticks(self, ops, plant: Plant):
        before = (await ops.status())["open_positions"]
        for _ in range(40):
            plant.tick()

        after = (await ops.status())["open_positions"]

        assert after == plant.snapshot().open_positions
        assert after != before  # 40 ticks at 25 % up / 25 % down with seed 7 move the count


class TestRunbook:
    async def test_runbook_without_a_name_returns_the_top_excerpt(self, ops):
        response = await ops.get("/ops/runbook")

        assert response.status == 200
        body = RunbookResponse.model_validate(await response.json())
        assert body.runbook_excerpt.startswith("# Ops Console")
        assert not re.search(r"^## ", body.runbook_excerpt, re.MULTILINE)
        assert body.section == "top"
        assert "Going live" in body.sections

    async def test_runbook_returns_the_named_section(self, ops):
        response = await ops.get("/ops/runbook", params={"name": "Going live"})

        assert response.status == 200
        body = await response.json()
        assert body["section"] == "Going live"
        assert body["runbook_excerpt"].startswith("## Going live")
        assert re.findall(r"^## .*", body["runbook_excerpt"], re.MULTILINE) == ["## Going live"]

    @pytest.mark.parametrize("name", ["going live", "GOING LIVE", "going-live", "going_live", "  Going Live "])
    async def test_runbook_section_names_ignore_case_and_separators(self, ops, name):
        response = await ops.get("/ops/runbook", params={"name": name})

        assert response.status == 200
        assert (await response.json())["section"] == "Going live"

    async def test_unknown_runbook_section_is_404_listing_the_sections(self, ops):
        response = await ops.get("/ops/runbook", params={"name": "no such section"})

        assert response.status == 404
        body = await response.json()
        assert body["error"] == "unknown_section"
        assert "no such section" in body["detail"]
        assert "Going live" in body["sections"]
        assert "Database maintenance" in body["sections"]

    async def test_overlong_runbook_name_is_400(self, ops):
        response = await ops.get("/ops/runbook", params={"name": "x" * 201})

        assert response.status == 400
        assert (await response.json())["error"] == "validation_failed"


class TestAudit:
    async def test_audit_lists_newest_first(self, ops):
        for _ in range(3):
            await ops.get("/ops/whoami")

        response = await ops.get("/ops/audit")

        assert response.status == 200
        body = AuditResponse.model_validate(await response.json())
        ids = [entry.entry_id for entry in body.results]
        assert ids == sorted(ids, reverse=True)
        assert len(ids) == 3
        assert body.results[0].path == "/ops/whoami"

    async def test_audit_limit_defaults_to_50(self, ops):
        for _ in range(55):
            await ops.get("/ops/whoami")

        body = await (await ops.get("/ops/audit")).json()

        assert body["limit"] == 50
        assert len(body["results"]) == 50

    @pytest.mark.parametrize("limit", [1, 2, 500])
    async def test_audit_limit_in_range_caps_the_results(self, ops, limit):
        for _ in range(3):
            await ops.get("/ops/whoami")

        body = await (await ops.get("/ops/audit", params={"limit": str(limit)})).json()

        assert body["limit"] == limit
        assert len(body["results"]) == min(limit, 3)

    @pytest.mark.parametrize("limit", ["0", "501", "abc", "-1", "", "1.5"])
    async def test_audit_limit_out_of_range_is_400_in_the_envelope(self, ops, limit):
        response = await ops.get("/ops/audit", params={"limit": limit})

        assert response.status == 400
        body = await response.json()
        assert set(body) == {"error", "detail", "errors"}
        assert body["error"] == "validation_failed"
        assert body["errors"][0]["loc"] == "limit"
        assert body["detail"].startswith("limit: ")

    async def test_changes_only_leaves_out_reads(self, ops):
        await ops.get("/ops/status")
        await ops.run("restart", "connector")
        await ops.get("/ops/status")

        body = await (await ops.get("/ops/audit", params={"changes_only": "true"})).json()

        assert [(e["method"], e["action"]) for e in body["results"]] == [
            ("POST", "command.confirm"),
            ("POST", "command.execute"),
            ("POST", "command.request"),
        ]

    async def test_q_keeps_entries_containing_every_word(self, ops):
        await ops.run("restart", "connector")
        await ops.run("stop", "mt5_bridge")

        body = await (await ops.get("/ops/audit", params={"q": "CONFIRM mt5"})).json()

        assert len(body["results"]) == 1
        assert body["results"][0]["action"] == "command.confirm"
        assert body["results"][0]["target"] == "mt5_bridge"

    async def test_q_finds_a_command_by_its_name_and_reason(self, ops):
        await ops.run("restart", "connector", {"reason": "Stale quotes"})
        await ops.run("stop", "mt5_bridge")

        body = await (await ops.get("/ops/audit", params={"q": "restart stale", "changes_only": "true"})).json()

        assert [(e["action"], e["target"]) for e in body["results"]] == [
            ("command.confirm", "connector"),
            ("command.execute", "connector"),
            ("command.request", "connector"),
        ]

    async def test_q_is_not_a_pattern_that_matches_everything(self, ops):
        await ops.get("/ops/status")

        response = await ops.get("/ops/audit", params={"q": "%"})

        # Not SQL's wildcard: a q with no word in it is refused (tests/server/test_audit_search.py has the rest).
        assert response.status == 400
        assert (await response.json())["error"] == "validation_failed"

    @pytest.mark.parametrize(
        ("params", "loc"),
        [({"q": "a b c d e f g h i"}, "q"), ({"changes_only": "maybe"}, "changes_only"), ({"q": "x" * 201}, "q")],
    )
    async def test_bad_audit_filters_are_400(self, ops, params, loc):
        response = await ops.get("/ops/audit", params=params)

        assert response.status == 400
        assert (await response.json())["errors"][0]["loc"] == loc


class TestWhoAmI:
    async def test_whoami_names_the_admin_with_every_scope(self, ops):
        response = await ops.get("/ops/whoami")

        assert response.status == 200
        assert await response.json() == {"principal": "env:OPS_API_TOKEN", "scopes": sorted(ALL_SCOPES)}

    async def test_whoami_names_a_created_token_and_its_scopes(self, ops, reader_token):
        response = await ops.get("/ops/whoami", token=reader_token)

        assert response.status == 200
        assert await response.json() == {"principal": "reader", "scopes": ["ops:read"]}

    async def test_whoami_needs_no_particular_scope(self, ops):
        token = await ops.create_token("runbook-bot", "runbooks:read")

        response = await ops.get("/ops/whoami", token=token)

        assert response.status == 200
        assert (await response.json())["scopes"] == ["runbooks:read"]


async def test_two_apps_in_one_process_each_serve_their_own_plant(ops_with, clock):
    first = await ops_with()
    second = await ops_with()
    await first.run("stop", "mt5_bridge")

    assert (await first.status())["mt5_up"] is False
    assert (await second.status())["mt5_up"] is True
    assert (await first.status())["mt5_up"] is False
