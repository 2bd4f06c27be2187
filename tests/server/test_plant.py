"""The simulated plant on its own: the clock drives restarts, the seed drives trading, fingerprints track change."""

import pytest

from server.clock import ManualClock
from server.errors import InvalidRequest
from server.plant.plant import MAX_POSITIONS, CommandNotSupported, CommandRefused, Plant
from shared.control import CommandParams

NO_PARAMS = CommandParams()


@pytest.fixture
def plant(clock: ManualClock) -> Plant:
    return Plant(clock, seed=7, restart_seconds=2.0)


def _positions_over(plant: Plant, ticks: int) -> list[int | None]:
    counts = []
    for _ in range(ticks):
        plant.tick()
        counts.append(plant.snapshot().open_positions)
    return counts


def test_same_seed_same_trading(clock):
    assert _positions_over(Plant(clock, seed=3), 50) == _positions_over(Plant(clock, seed=3), 50)


def test_different_seeds_trade_differently(clock):
    assert _positions_over(Plant(clock, seed=3), 50) != _positions_over(Plant(clock, seed=4), 50)


def test_positions_stay_between_zero_and_the_maximum(clock):
    counts = _positions_over(Plant(clock, seed=1, open_positions=MAX_POSITIONS), 500)

    assert all(0 <= c <= MAX_POSITIONS for c in counts)


def test_dry_run_freezes_positions(plant):
    plant.execute("dry-run-on", "orchestrator", NO_PARAMS)

    assert set(_positions_over(plant, 50)) == {3}


def test_no_trading_while_the_connector_is_down(plant):
    plant.execute("stop", "connector", NO_PARAMS)

    assert set(_positions_over(plant, 50)) == {3}


def test_restart_finishes_on_the_clock_not_on_ticks(plant, clock):
    plant.execute("restart", "connector", NO_PARAMS)
    for _ in range(10):
        plant.tick()
    assert plant.state_of("connector") == "restarting"

    clock.advance(2)

    assert plant.state_of("connector") == "running"


def test_a_finished_restart_is_dated_when_it_finished(plant, clock):
    started = clock.now()
    plant.execute("restart", "connector", NO_PARAMS)
    clock.advance(10)

    connector = next(c for c in plant.snapshot().components if c.name == "connector")

    assert connector.state == "running"
    assert (connector.since - started).total_seconds() == 2


def test_fingerprint_changes_with_state_and_mode(plant, clock):
    first = plant.fingerprint("connector")
    plant.execute("dry-run-on", "orchestrator", NO_PARAMS)
    after_mode = plant.fingerprint("connector")
    plant.execute("restart", "connector", NO_PARAMS)
    clock.advance(2)
    after_restart = plant.fingerprint("connector")

    assert len({first, after_mode, after_restart}) == 3
    assert after_restart.split(":", 1)[1].startswith("running")


def test_fingerprint_ignores_other_components(plant):
    before = plant.fingerprint("connector")

    plant.execute("stop", "mt5_bridge", NO_PARAMS)

    assert plant.fingerprint("connector") == before


def test_snapshot_reflects_a_change_at_once(plant):
    plant.snapshot()

    plant.execute("stop", "mt5_bridge", NO_PARAMS)

    assert plant.snapshot().mt5_up is False


def test_snapshot_reflects_trading_at_once(clock):
    """A plant read after every tick agrees with plants of the same seed read only once, after n ticks."""
    observed = _positions_over(Plant(clock, seed=7), 20)

    expected = []
    for n in range(1, 21):
        fresh = Plant(clock, seed=7)
        for _ in range(n):
            fresh.tick()
        expected.append(fresh.snapshot().open_positions)

    assert observed == expected
    assert len(set(observed)) > 1


def test_snapshot_as_of_follows_the_clock(plant, clock):
    plant.snapshot()
    clock.advance(5)

    assert plant.snapshot().as_of == clock.now()


def test_execute_checks_safety_itself(plant):
    with pytest.raises(CommandRefused):
        plant.execute("stop", "database", NO_PARAMS)


def test_unsupported_command_is_its_own_error(plant):
    with pytest.raises(CommandNotSupported, match="start, stop, restart"):
        plant.check("dry-run-off", "database")


def test_unknown_component_is_an_invalid_request(plant):
    with pytest.raises(InvalidRequest, match="unknown component 'nope'"):
        plant.check("stop", "nope")


def test_restart_with_a_dependency_down_is_refused(plant):
    plant.execute("dry-run-on", "orchestrator", NO_PARAMS)
    plant.execute("stop", "database", NO_PARAMS)

    with pytest.raises(CommandRefused, match="depends on database"):
        plant.check("restart", "position_manager")


def test_a_new_plant_never_repeats_an_old_plants_fingerprint(clock):
    # Versions start at 0 in every process: without a per-process epoch a token from before a restart could
    # match a state it was never issued against.
    assert Plant(clock).fingerprint("connector") != Plant(clock).fingerprint("connector")
