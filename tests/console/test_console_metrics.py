"""Metrics screen: tiles with the summary's values, sparklines and a chart read from the real server; a control
command (stopping the connector) showing in them after the sampler runs; the window selector changing the query;
stale values dimmed and marked."""

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from console_harness import ADMIN_TOKEN, RESTART_SECONDS, ConsoleUnderTest, PlantServer, server_settings, wait_until
from textual.pilot import Pilot

from console.app import OpsConsole
from console.screens.metrics import MetricsScreen
from console.widgets.metric_chart import tick_labels
from console.widgets.metric_tile import MetricTile, format_value
from server.clock import ManualClock
from server.embedded import EmbeddedServer
from server.http.metrics import METRICS
from server.plant.plant import Plant
from shared.control import Command, CommandParams
from shared.metrics import MetricsSummary, MetricValue

SAMPLE_SECONDS = 3600.0
"""The sampler samples once at start and then only when a test says so: values do not depend on timing."""


@pytest.fixture
def plant_server(tmp_path: Path) -> Iterator[PlantServer]:
    """The console tests' plant server, with the metrics sampler under the test's control."""
    clock = ManualClock()
    plant = Plant(clock, seed=7, restart_seconds=RESTART_SECONDS)
    settings = server_settings(tmp_path / "data").model_copy(update={"metrics_sample_seconds": SAMPLE_SECONDS})
    server = EmbeddedServer(settings, clock=clock, plant=plant)
    server.start()
    try:
        yield PlantServer(server, clock, plant)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def no_timed_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MetricsScreen, "REFRESH_SECONDS", 3600.0)


def sample(plant_server: PlantServer) -> None:
    """Let the server's sampler take one sample now (at the plant clock's time)."""
    assert plant_server.server.app is not None
    plant_server.server.run(plant_server.server.app[METRICS].sampler.sample_once())


async def command(plant_server: PlantServer, name: Command, component: str) -> None:
    """Run a control command through the control client, both steps, as an operator's console would."""
    client, _ = plant_server.client(ADMIN_TOKEN)
    async with client:
        required = await client.control.request_command(name, component, CommandParams())
        await client.control.confirm_command(name, component, required.confirm_token, CommandParams())


def metrics_screen(app: OpsConsole) -> MetricsScreen:
    screen = app.screen
    assert isinstance(screen, MetricsScreen), screen
    return screen


def tile(app: OpsConsole, key: str) -> MetricTile:
    return metrics_screen(app).tiles[key]


async def open_metrics(pilot: Pilot) -> None:
    await pilot.press("3")
    app = pilot.app
    assert isinstance(app, OpsConsole)
    await wait_until(pilot, lambda: isinstance(app.screen, MetricsScreen), what="the metrics screen")
    screen = metrics_screen(app)
    await wait_until(pilot, lambda: screen.reading is not None and screen.series is not None, what="metrics read")
    await pilot.pause()


def timeseries_queries(console: ConsoleUnderTest) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in console.transport.requests if r.path == "/api/ops/metrics/timeseries"]


class TestMetricsScreen:
    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_metrics_screen(
        self,
        snap_compare,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        size: tuple[int, int],
    ) -> None:
        async def run_before(pilot: Pilot) -> None:
            # Twelve minutes of samples, the connector stopped for two of them: a dip in the chart and sparklines.
            for n in range(24):
                if n in (12, 16):
                    await command(plant_server, "stop" if n == 12 else "start", "connector")
                plant_server.advance(30)
                sample(plant_server)
            await open_metrics(pilot)

        assert snap_compare(make_console().app, terminal_size=size, run_before=run_before)

    async def test_tiles_show_the_summary_values_with_units(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_metrics(pilot)
            summary = metrics_screen(console.app).reading
            assert summary is not None
            throughput = summary.summary.throughput_mps.value
            assert throughput is not None and throughput > 1000
            assert tile(console.app, "throughput_mps").shown_value == f"{throughput:,.0f} msg/s"
            coverage = summary.summary.coverage_ratio.value
            assert coverage is not None
            assert tile(console.app, "coverage_ratio").shown_value == f"{coverage * 100:.2f} %"
            # No runbook has run: no exit code sample, shown as missing and marked stale.
            exit_code = tile(console.app, "runbook_exit_code")
            assert exit_code.shown_value == "—" and exit_code.has_class("-stale")
            assert not tile(console.app, "throughput_mps").has_class("-stale")

    async def test_stopping_the_connector_makes_throughput_fall_after_the_sampler_runs(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_metrics(pilot)
            assert tile(console.app, "throughput_mps").shown_value != "0 msg/s"
            await command(plant_server, "stop", "connector")
            plant_server.advance(1)
            sample(plant_server)
            await pilot.press("r")
            await wait_until(
                pilot, lambda: tile(console.app, "throughput_mps").shown_value == "0 msg/s", what="throughput at 0"
            )
            assert tile(console.app, "coverage_ratio").shown_value == "0.00 %"

    async def test_the_window_selector_changes_the_chart_query(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_metrics(pilot)
            screen = metrics_screen(console.app)
            before = len(timeseries_queries(console))
            await pilot.press("w")
            await wait_until(pilot, lambda: len(timeseries_queries(console)) > before, what="a chart query")
            query = timeseries_queries(console)[-1]
            assert query["metric"] == ["md_throughput_mps"]
            assert (query["minutes"], query["step_seconds"]) == (["60"], ["60"])
            assert "[1h]" in str(screen.query_one("#metric-windows").render())
            for _ in range(3):
                await pilot.press("w")
            await wait_until(pilot, lambda: timeseries_queries(console)[-1]["minutes"] == ["10080"], what="7 days")
            assert timeseries_queries(console)[-1]["step_seconds"] == ["3600"]

    async def test_focusing_another_tile_charts_its_metric_and_shows_its_context(
        self, make_console: Callable[..., ConsoleUnderTest]
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_metrics(pilot)
            screen = metrics_screen(console.app)
            await pilot.press("left")
            await wait_until(
                pilot,
                lambda: screen.series is not None and screen.series.metric == "md_subscription_coverage_ratio",
                what="the coverage chart",
            )
            context = str(screen.query_one("#metric-context").render())
            assert "expected 1280" in context and "ignored 2" in context

    async def test_values_older_than_twice_the_interval_look_stale(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        console = make_console()
        async with console.app.run_test(size=(120, 40)) as pilot:
            await open_metrics(pilot)
            throughput = tile(console.app, "throughput_mps")
            assert not throughput.has_class("-stale") and throughput.border_subtitle == ""
            plant_server.advance(2 * SAMPLE_SECONDS + 1)
            await pilot.press("r")
            await wait_until(pilot, lambda: throughput.has_class("-stale"), what="a stale tile")
            assert throughput.border_subtitle == "stale"
            assert throughput.shown_value.endswith("msg/s")  # the last value still shows, dimmed

    async def test_a_slow_summary_does_not_block_keys(self, make_console: Callable[..., ConsoleUnderTest]) -> None:
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_metrics(pilot)
            screen = metrics_screen(console.app)
            release = asyncio.Event()
            summary = console.app.client.metrics.summary

            async def slow_summary() -> MetricsSummary:
                await release.wait()
                return await summary()

            console.app.client.metrics.summary = slow_summary  # type: ignore[method-assign]
            await pilot.press("r")
            await pilot.press("w")
            assert screen.window.label == "1h"  # the key was handled while the summary still waits
            release.set()


class TestFormatting:
    def test_chart_time_labels_fall_on_round_times(self) -> None:
        end = datetime(2026, 1, 1, 9, 12, tzinfo=UTC).timestamp()
        assert tick_labels(end - 15 * 60, end, False)[1] == ["09:00", "09:05", "09:10"]
        assert tick_labels(end - 6 * 3600, end, False)[1] == ["04:00", "05:00", "06:00", "07:00", "08:00", "09:00"]
        assert tick_labels(end - 7 * 86400, end, True)[1] == ["12-26", "12-28", "12-30", "01-01"]

    def test_tile_values_fit_a_tile(self) -> None:
        def value(metric: str, number: float | None, unit: str | None) -> MetricValue:
            return MetricValue.model_validate({"metric": metric, "value": number, "unit": unit, "stale": False})

        assert format_value("coverage_ratio", value("md_subscription_coverage_ratio", 0.99843, None)) == "99.84 %"
        assert format_value("throughput_mps", value("md_throughput_mps", 5400.4, "msg/s")) == "5,400 msg/s"
        assert format_value("consumer_backlog_messages", value("consumer_backlog_messages", 25e6, "messages")) == (
            "25.0M msgs"
        )
        assert format_value("runbook_exit_code", value("md_runbook_exit_code", None, None)) == "—"
