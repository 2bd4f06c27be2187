"""POST /ops/command: the two-step confirmation and every way a confirm token can be refused."""

import asyncio

import pytest

from server.keys import AUDIT, PLANT, TOKENS
from server.plant.plant import Plant
from shared.control import CommandExecuted, CommandParams, ConfirmationRequired

RESTART_BRIDGE = {"command": "restart", "component": "mt5_bridge"}


async def _error(response) -> str:
    return (await response.json())["error"]


class TestTwoSteps:
    async def test_first_request_requires_confirmation_with_a_token_valid_for_the_ttl(self, ops, settings):
        response = await ops.post({**RESTART_BRIDGE, "params": {"reason": "flapping"}})

        assert response.status == 200
        body = await response.json()
        assert body["requires_confirmation"] is True
        assert body["confirm_token"].startswith("confirm_")
        assert body["expires_in"] == settings.confirm_ttl_seconds == 60
        plan = ConfirmationRequired.model_validate(body).plan
        assert (plan.command, plan.component, plan.params.reason) == ("restart", "mt5_bridge", "flapping")
        assert (plan.current_state, plan.mode) == ("running", "live")

    async def test_first_request_changes_nothing(self, ops, plant):
        before = await ops.status()

        await ops.request("restart", "mt5_bridge")

        assert await ops.status() == before

    async def test_expires_in_follows_the_configured_ttl(self, ops_with):
        ops = await ops_with(confirm_ttl_seconds=15)

        body = await (await ops.post(RESTART_BRIDGE)).json()

        assert body["expires_in"] == 15

    async def test_confirm_executes_and_returns_the_result(self, ops):
        token = await ops.request("stop", "connector")

        response = await ops.confirm("stop", "connector", token)

        assert response.status == 200
        body = await response.json()
        assert body["result"]["status"] == "ok"
        assert body["result"]["action"] == "stopped"
        assert body["result"]["state"] == "stopped"
        CommandExecuted.model_validate(body)
        assert await ops.component_state("connector") == "stopped"

    async def test_confirm_tokens_are_unique_per_request(self, ops):
        first = await ops.request("restart", "mt5_bridge")
        second = await ops.request("restart", "mt5_bridge")

        assert first != second

    async def test_tokens_are_stored_as_digests_only(self, ops):
        token = await ops.request("restart", "mt5_bridge")

        rows = ops.table("confirmations")
        assert len(rows) == 1
        assert token not in repr(tuple(rows[0]))

    async def test_confirm_within_the_ttl_executes(self, ops, clock):
        token = await ops.request("restart", "mt5_bridge")
        clock.advance(59)

        response = await ops.confirm("restart", "mt5_bridge", token)

        assert response.status == 200


class TestConfirmTokenRefusals:
    async def test_replayed_confirm_token_is_409_used(self, ops):
        token = await ops.request("stop", "connector")
        assert (await ops.confirm("stop", "connector", token)).status == 200
        await ops.run("start", "connector")

        response = await ops.confirm("stop", "connector", token)

        assert response.status == 409
        assert await _error(response) == "confirm_token_used"
        assert await ops.component_state("connector") == "running"

    async def test_immediate_replay_reads_as_used_even_while_the_component_restarts(self, ops):
        token = await ops.request("restart", "mt5_bridge")
        assert (await ops.confirm("restart", "mt5_bridge", token)).status == 200

        response = await ops.confirm("restart", "mt5_bridge", token)

        assert response.status == 409
        assert await _error(response) == "confirm_token_used"

    async def test_expired_confirm_token_is_410(self, ops, clock):
        token = await ops.request("stop", "connector")
        clock.advance(60)

        response = await ops.confirm("stop", "connector", token)

        assert response.status == 410
        assert await _error(response) == "confirm_token_expired"
        assert await ops.component_state("connector") == "running"

    async def test_the_expiry_quotes_the_tokens_own_lifetime_not_todays_setting(self, ops_with, clock):
        issuer = await ops_with(confirm_ttl_seconds=30)
        token = await issuer.request("stop", "connector")
        await issuer.client.close()
        restarted = await ops_with(confirm_ttl_seconds=90)  # the same data dir, a longer lifetime configured since
        clock.advance(31)

        response = await restarted.confirm("stop", "connector", token)

        assert response.status == 410
        assert (await response.json())["detail"] == "confirm_token expired after 30 s; request a new one"

    async def test_confirm_by_another_principal_is_403(self, ops, operator_token):
        token = await ops.request("stop", "connector")

        response = await ops.confirm("stop", "connector", token, token=operator_token)

        assert response.status == 403
        assert await _error(response) == "confirm_token_principal_mismatch"
        assert await ops.component_state("connector") == "running"

    @pytest.mark.parametrize(
        ("confirmed", "named", "untouched"),
        [
            (("restart", "connector", None), "command", "connector"),
            (("stop", "mt5_bridge", None), "component", "mt5_bridge"),
            (("stop", "connector", {"reason": "something else"}), "params", "connector"),
        ],
        ids=["another-command", "another-component", "other-params"],
    )
    async def test_a_confirm_that_differs_from_the_request_is_409_mismatch_naming_what(
        self, ops, confirmed, named, untouched
    ):
        token = await ops.request("stop", "connector", {"reason": "maintenance"} if named == "params" else None)
        command, component, params = confirmed

        response = await ops.confirm(command, component, token, params)

        assert response.status == 409
        body = await response.json()
        assert body["error"] == "confirm_token_mismatch"
        assert named in body["detail"]
        assert await ops.component_state(untouched) == "running"

    async def test_confirm_without_the_issued_params_is_409_mismatch(self, ops):
        token = await ops.request("stop", "connector", {"reason": "maintenance"})

        response = await ops.confirm("stop", "connector", token)

        assert response.status == 409
        assert await _error(response) == "confirm_token_mismatch"

    async def test_a_mismatched_confirm_does_not_burn_the_token(self, ops):
        token = await ops.request("stop", "connector")
        assert (await ops.confirm("stop", "mt5_bridge", token)).status == 409

        response = await ops.confirm("stop", "connector", token)

        assert response.status == 200

    async def test_confirm_after_the_mode_changed_is_409_stale(self, ops):
        token = await ops.request("stop", "connector")
        await ops.run("dry-run-on", "orchestrator")

        response = await ops.confirm("stop", "connector", token)

        assert response.status == 409
        assert await _error(response) == "confirm_token_stale"
        assert await ops.component_state("connector") == "running"

    async def test_confirm_after_the_component_changed_and_came_back_is_409_stale(self, ops, clock):
        token = await ops.request("restart", "mt5_bridge")
        await ops.run("restart", "mt5_bridge")
        clock.advance(2)
        assert await ops.component_state("mt5_bridge") == "running"  # same state, but not the same state

        response = await ops.confirm("restart", "mt5_bridge", token)

        assert response.status == 409
        assert await _error(response) == "confirm_token_stale"

    async def test_unknown_confirm_token_is_400_invalid(self, ops):
        response = await ops.confirm("stop", "connector", "confirm_not-one-of-ours")

        assert response.status == 400
        assert await _error(response) == "confirm_token_invalid"
        assert await ops.component_state("connector") == "running"

    async def test_a_command_that_became_unsafe_before_its_confirm_is_refused(self, ops_with, clock):
        plant = Plant(clock, open_positions=0)
        ops = await ops_with(plant=plant)
        token = await ops.request("stop", "position_manager")  # safe: no open positions
        while plant.snapshot().open_positions == 0:  # the engine opens a position meanwhile
            plant.tick()

        response = await ops.confirm("stop", "position_manager", token)

        assert response.status == 409
        assert await _error(response) == "command_refused"
        assert "positions are open" in (await response.json())["detail"]
        assert (await ops.status())["position_manager"] is True

    async def test_a_failed_confirm_consumes_nothing_and_changes_nothing(self, ops):
        before = await ops.status()
        token = await ops.request("stop", "connector")

        for response in (
            await ops.confirm("stop", "mt5_bridge", token),
            await ops.confirm("stop", "connector", "confirm_bogus"),
            await ops.confirm("stop", "connector", token, {"reason": "other"}),
        ):
            assert response.status in (400, 409)

        assert await ops.status() == before
        assert [row["used_at"] for row in ops.table("confirmations")] == [None]


class TestConcurrencyAndRestarts:
    async def test_tokens_expired_for_a_day_are_purged_when_a_new_one_is_issued(self, ops, clock):
        await ops.request("restart", "mt5_bridge")
        clock.advance(60)  # expired, but kept: a late confirm must still read as expired, not unknown
        await ops.request("restart", "mt5_bridge")
        assert len(ops.table("confirmations")) == 2

        clock.advance(2 * 24 * 3600)
        await ops.request("restart", "mt5_bridge")

        assert len(ops.table("confirmations")) == 1

    async def test_two_concurrent_confirms_of_one_token_execute_once(self, ops, plant):
        token = await ops.request("restart", "mt5_bridge")
        versions_before = plant.fingerprint("mt5_bridge")

        responses = await asyncio.gather(*(ops.confirm("restart", "mt5_bridge", token) for _ in range(2)))

        statuses = sorted(r.status for r in responses)
        assert statuses == [200, 409]
        loser = next(r for r in responses if r.status == 409)
        assert await _error(loser) == "confirm_token_used"
        # Executed exactly once: one state change (running -> restarting), not two.
        assert versions_before.split(":", 1)[1].startswith("running#0")
        assert plant.fingerprint("mt5_bridge").split(":", 1)[1].startswith("restarting#1")

    async def test_many_concurrent_confirms_of_one_token_execute_once(self, ops):
        token = await ops.request("stop", "connector")

        responses = await asyncio.gather(*(ops.confirm("stop", "connector", token) for _ in range(8)))

        assert sorted(r.status for r in responses) == [200] + [409] * 7
        ok = [r for r in ops.table("audit_log") if r["action"] == "command.confirm" and r["status"] == 200]
        assert len(ok) == 1

    async def test_a_used_token_stays_used_across_a_restart(self, ops, start_app, settings):
        token = await ops.request("restart", "mt5_bridge")
        assert (await ops.confirm("restart", "mt5_bridge", token)).status == 200
        await ops.client.close()

        restarted = await start_app(settings)  # a new app and a fresh plant, on the same data dir
        response = await restarted.post(
            "/ops/command",
            json={**RESTART_BRIDGE, "confirm_token": token},
            headers={"Authorization": "Bearer admin-secret"},
        )

        assert response.status == 409
        assert await _error(response) == "confirm_token_used"
        assert restarted.app[PLANT].state_of("mt5_bridge") == "running"

    async def test_a_confirm_refused_as_stale_after_its_intent_was_recorded_is_on_record_as_not_run(
        self, ops, plant, monkeypatch
    ):
        token = await ops.request("stop", "connector")
        audit = ops.app[AUDIT]
        record_durable = audit.record_durable

        async def another_command_lands_meanwhile(record):
            await record_durable(record)
            if record.outcome == "executing":
                plant.execute("dry-run-on", "orchestrator", CommandParams())

        monkeypatch.setattr(audit, "record_durable", another_command_lands_meanwhile)

        response = await ops.confirm("stop", "connector", token)

        assert response.status == 409
        assert await _error(response) == "confirm_token_stale"
        assert await ops.component_state("connector") == "running"
        confirm = [r for r in await ops.audit_rows() if r["method"] == "POST"][1:]
        assert [(r["action"], r["outcome"], r["status"]) for r in confirm] == [
            ("command.execute", "executing", 0),
            ("command.execute", "not_executed", 409),
            ("command.confirm", "confirm_token_stale", 409),
        ]
        assert '"refused":"confirm_token_stale"' in confirm[1]["detail"]

    async def test_a_pending_token_is_stale_after_a_restart(self, ops, start_app, settings):
        # The new process cannot know the state the token was issued against (the plant's versions start
        # again), so the operator must re-read and ask again.
        token = await ops.request("restart", "mt5_bridge")
        await ops.client.close()

        restarted = await start_app(settings)
        response = await restarted.post(
            "/ops/command",
            json={**RESTART_BRIDGE, "confirm_token": token},
            headers={"Authorization": "Bearer admin-secret"},
        )

        assert response.status == 409
        assert await _error(response) == "confirm_token_stale"
        assert restarted.app[PLANT].state_of("mt5_bridge") == "running"


class TestControllerDisabled:
    async def test_command_is_501_when_no_controller_is_bound(self, ops_with):
        ops = await ops_with(controller_enabled=False)
        before = await ops.status()

        response = await ops.post(RESTART_BRIDGE)

        assert response.status == 501
        body = await response.json()
        assert body["error"] == "controller_unavailable"
        assert ops.table("confirmations") == []
        assert await ops.status() == before

    async def test_confirm_is_501_too_when_no_controller_is_bound(self, ops_with):
        ops = await ops_with(controller_enabled=False)

        response = await ops.post({**RESTART_BRIDGE, "confirm_token": "confirm_x"})

        assert response.status == 501

    async def test_reads_work_without_a_controller(self, ops_with):
        ops = await ops_with(controller_enabled=False)

        for path in ("/ops/status", "/ops/runbook", "/ops/audit", "/ops/whoami"):
            assert (await ops.get(path)).status == 200

    async def test_scope_is_checked_before_the_controller(self, ops_with):
        ops = await ops_with(controller_enabled=False)
        reader = await ops.app[TOKENS].create("reader", "ops:read")

        response = await ops.post(RESTART_BRIDGE, token=reader)

        assert response.status == 403
