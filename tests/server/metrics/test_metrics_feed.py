"""The plant's market-data feed on its own: it follows the connector and the execution engine on the clock."""

import pytest

from server.clock import ManualClock
from server.plant.feed import EXPECTED_SUBSCRIPTIONS, RESUBSCRIBE_SECONDS, FeedRefused
from server.plant.plant import Plant
from shared.control import CommandParams


@pytest.fixture
def plant(clock: ManualClock) -> Plant:
    return Plant(clock, seed=7, restart_seconds=2.0)


def _run(plant: Plant, command: str, component: str) -> None:
    plant.execute(command, component, CommandParams())  # type: ignore[arg-type]


def test_a_running_feed_covers_its_subscriptions_at_nominal_throughput(plant: Plant) -> None:
    snapshot = plant.feed.snapshot()
    assert snapshot.profile == "primary"
    assert snapshot.expected_total == EXPECTED_SUBSCRIPTIONS
    assert snapshot.coverage_ratio > 0.99
    assert snapshot.matched_total <= snapshot.active_total <= snapshot.expected_total
    assert 4500 < snapshot.throughput_mps < 6500
    assert 0 < snapshot.backlog_messages < 200  # messages in flight only


def test_throughput_is_noisy_but_the_same_for_the_same_seed(clock: ManualClock) -> None:
    def readings(plant: Plant) -> list[float]:
        out = []
        for _ in range(10):
            clock.advance(5)
            plant.tick()
            out.append(plant.feed.snapshot().throughput_mps)
        return out

    first = readings(Plant(clock, seed=3))
    assert len(set(first)) == len(first)
    assert readings(Plant(clock, seed=3)) != readings(Plant(clock, seed=4))


def test_reading_the_feed_does_not_move_the_plants_trading(clock: ManualClock) -> None:
    quiet, read = Plant(clock, seed=5), Plant(clock, seed=5)
    for _ in range(30):
        quiet.tick()
        read.feed.snapshot()
        read.tick()
    assert quiet.snapshot().open_positions == read.snapshot().open_positions


def test_a_stopped_connector_delivers_nothing_and_covers_nothing(plant: Plant, clock: ManualClock) -> None:
    _run(plant, "stop", "connector")
    snapshot = plant.feed.snapshot()
    assert snapshot.connector == "stopped"
    assert snapshot.throughput_mps == 0
    assert snapshot.active_total == snapshot.matched_total == 0
    assert snapshot.coverage_ratio == 0


def test_a_restarted_connector_ramps_back_to_full_coverage(plant: Plant, clock: ManualClock) -> None:
    _run(plant, "restart", "connector")
    assert plant.feed.snapshot().throughput_mps == 0  # restarting
    clock.advance(2)  # the restart finishes
    ramp = []
    for _ in range(5):
        clock.advance(RESUBSCRIBE_SECONDS / 4)
        ramp.append(plant.feed.snapshot())
    assert [s.matched_total for s in ramp[:3]] == sorted(s.matched_total for s in ramp[:3])
    assert ramp[0].coverage_ratio < 0.3 < ramp[1].coverage_ratio < ramp[2].coverage_ratio
    assert ramp[-1].coverage_ratio > 0.99
    assert ramp[0].throughput_mps < ramp[-1].throughput_mps


def test_the_backlog_grows_while_the_engine_is_down_and_drains_after(plant: Plant, clock: ManualClock) -> None:
    _run(plant, "stop", "execution_engine")
    clock.advance(10)
    grown = plant.feed.snapshot().backlog_messages
    assert grown > 10 * 4000
    _run(plant, "start", "execution_engine")
    clock.advance(5)
    assert plant.feed.snapshot().backlog_messages < grown
    clock.advance(60)
    assert plant.feed.snapshot().backlog_messages < 200


def test_failover_switches_to_backup_and_records_its_latency(plant: Plant, clock: ManualClock) -> None:
    latency = plant.feed.failover()
    assert 500 < latency < 6000
    snapshot = plant.feed.snapshot()
    assert snapshot.profile == "backup"
    assert snapshot.last_failover_latency_ms == latency
    clock.advance(30)
    assert plant.feed.snapshot().coverage_ratio > 0.98  # the backup covers a little less

    back = plant.feed.failback()
    assert plant.feed.profile == "primary"
    assert plant.feed.last_failover_latency_ms == back


def test_a_switch_to_the_profile_in_use_or_with_the_connector_down_is_refused(plant: Plant) -> None:
    with pytest.raises(FeedRefused, match="already runs on the primary"):
        plant.feed.failback()
    _run(plant, "stop", "connector")
    with pytest.raises(FeedRefused, match="connector is stopped"):
        plant.feed.failover()
    assert plant.feed.profile == "primary"
