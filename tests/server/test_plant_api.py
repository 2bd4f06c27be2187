"""The plant's behaviour as an operator sees it through the API: state changes, restarts, safety refusals."""

from server.plant.plant import Plant


def _component(status: dict, name: str) -> dict:
    return next(c for c in status["components"] if c["name"] == name)


async def test_stopping_the_connector_shows_it_stopped(ops, clock):
    result = await ops.run("stop", "connector")

    assert result == {"status": "ok", "action": "stopped", "component": "connector", "state": "stopped", "mode": "live"}
    connector = _component(await ops.status(), "connector")
    assert connector["state"] == "stopped"
    assert connector["since"].startswith(clock.now().isoformat()[:19])


async def test_starting_a_stopped_component_runs_it_again(ops):
    await ops.run("stop", "connector")

    result = await ops.run("start", "connector")

    assert result["action"] == "started"
    assert await ops.component_state("connector") == "running"


async def test_restart_passes_through_restarting_then_running_after_restart_seconds(ops, clock, settings):
    result = await ops.run("restart", "mt5_bridge")

    assert result["action"] == "restarting"
    assert result["state"] == "restarting"
    status = await ops.status()
    assert _component(status, "mt5_bridge")["state"] == "restarting"
    assert status["mt5_up"] is None

    clock.advance(settings.restart_seconds - 0.5)
    assert await ops.component_state("mt5_bridge") == "restarting"

    clock.advance(0.5)
    status = await ops.status()
    assert _component(status, "mt5_bridge")["state"] == "running"
    assert status["mt5_up"] is True


async def test_restart_duration_is_configurable(ops_with, clock):
    ops = await ops_with(restart_seconds=30)
    await ops.run("restart", "connector")

    clock.advance(29)
    assert await ops.component_state("connector") == "restarting"
    clock.advance(1)
    assert await ops.component_state("connector") == "running"


async def test_a_restarting_component_refuses_commands(ops):
    await ops.run("restart", "connector")

    response = await ops.post({"command": "stop", "component": "connector"})

    assert response.status == 409
    body = await response.json()
    assert body["error"] == "command_refused"
    assert "restarting" in body["detail"]


async def test_stopped_mt5_bridge_reads_mt5_down(ops):
    await ops.run("stop", "mt5_bridge")

    assert (await ops.status())["mt5_up"] is False


async def test_database_stop_is_refused_while_live_with_open_positions(ops):
    response = await ops.post({"command": "stop", "component": "database"})

    assert response.status == 409
    body = await response.json()
    assert body["error"] == "command_refused"
    assert "dry-run" in body["detail"]
    assert ops.table("confirmations") == []
    assert (await ops.status())["database"] is True


async def test_database_restart_is_refused_while_live_with_open_positions(ops):
    response = await ops.post({"command": "restart", "component": "database"})

    assert response.status == 409
    assert (await response.json())["error"] == "command_refused"


async def test_database_stop_is_allowed_in_dry_run(ops):
    await ops.run("dry-run-on", "orchestrator")

    result = await ops.run("stop", "database")

    assert result["state"] == "stopped"
    status = await ops.status()
    assert status["database"] is False
    assert status["mode"] == "dry-run"


async def test_database_stop_is_allowed_live_without_open_positions(ops_with, clock):
    ops = await ops_with(plant=Plant(clock, open_positions=0))

    result = await ops.run("stop", "database")

    assert result["state"] == "stopped"


async def test_position_manager_stop_is_refused_with_open_positions(ops):
    response = await ops.post({"command": "stop", "component": "position_manager"})

    assert response.status == 409
    body = await response.json()
    assert body["error"] == "command_refused"
    assert "3 positions are open" in body["detail"]
    assert (await ops.status())["position_manager"] is True


async def test_position_manager_stop_is_refused_in_dry_run_too(ops):
    await ops.run("dry-run-on", "orchestrator")

    response = await ops.post({"command": "stop", "component": "position_manager"})

    assert response.status == 409


async def test_dry_run_on_the_connector_is_400_not_supported(ops):
    response = await ops.post({"command": "dry-run-on", "component": "connector"})

    assert response.status == 400
    body = await response.json()
    assert body["error"] == "command_not_supported"
    assert "orchestrator" not in body["detail"]  # it names what the connector supports instead
    assert "start, stop, restart" in body["detail"]


async def test_dry_run_round_trip_switches_the_mode(ops):
    assert (await ops.run("dry-run-on", "orchestrator"))["action"] == "dry_run_enabled"
    assert (await ops.status())["mode"] == "dry-run"

    assert (await ops.run("dry-run-off", "orchestrator"))["action"] == "dry_run_disabled"
    assert (await ops.status())["mode"] == "live"


async def test_dry_run_on_twice_is_refused(ops):
    await ops.run("dry-run-on", "orchestrator")

    response = await ops.post({"command": "dry-run-on", "component": "orchestrator"})

    assert response.status == 409
    assert "already in dry-run" in (await response.json())["detail"]


async def test_going_live_is_refused_while_a_needed_component_is_down(ops):
    await ops.run("dry-run-on", "orchestrator")
    await ops.run("stop", "database")

    response = await ops.post({"command": "dry-run-off", "component": "orchestrator"})

    assert response.status == 409
    assert "database" in (await response.json())["detail"]


async def test_mode_reads_unknown_while_the_orchestrator_is_stopped(ops):
    await ops.run("stop", "orchestrator")

    assert (await ops.status())["mode"] == "unknown"

    await ops.run("start", "orchestrator")
    assert (await ops.status())["mode"] == "live"


async def test_open_positions_read_null_while_the_position_manager_is_down(ops, clock, settings):
    assert (await ops.status())["open_positions"] == 3
    await ops.run("restart", "position_manager")

    status = await ops.status()
    assert status["position_manager"] is False
    assert status["open_positions"] is None

    clock.advance(settings.restart_seconds)
    assert (await ops.status())["open_positions"] == 3


async def test_open_positions_read_null_while_the_position_manager_is_stopped(ops_with, clock):
    ops = await ops_with(plant=Plant(clock, open_positions=0))

    await ops.run("stop", "position_manager")

    assert (await ops.status())["open_positions"] is None


async def test_start_is_refused_while_a_dependency_is_down(ops):
    await ops.run("stop", "execution_engine")
    await ops.run("stop", "connector")

    response = await ops.post({"command": "start", "component": "execution_engine"})

    assert response.status == 409
    assert "connector" in (await response.json())["detail"]


async def test_stopping_a_stopped_component_is_refused(ops):
    await ops.run("stop", "connector")

    response = await ops.post({"command": "stop", "component": "connector"})

    assert response.status == 409
    assert "already stopped" in (await response.json())["detail"]
