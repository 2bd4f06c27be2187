"""One connection monitor for every screen: a banner with backoff (at most 5 s) while the server is unreachable,
noticed even on a screen that sends nothing; a refused token says what to check and does not retry by itself;
a 429 shows in the header with its retry time; never a traceback, never an exception's class name."""

from collections.abc import Callable

import pytest
from console_harness import (
    DISPLAY_URL,
    FakeMonotonic,
    PlantServer,
    RecordingTransport,
    component_state,
    status_screen,
    wait_until,
)
from shell_screens import ExtendedConsole, QuietScreen
from textual.pilot import Pilot

from console.app import OpsConsole
from console.connection import HEARTBEAT_SECONDS, ConnectionState, backoff_delay
from console.screens.status import StatusScreen
from console.widgets.connection_banner import ConnectionBanner
from server.embedded import free_port
from shared.client import OpsClient


@pytest.fixture(autouse=True)
def quick_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StatusScreen, "REFRESH_SECONDS", 0.1)


def banner(app: OpsConsole) -> ConnectionBanner:
    return app.screen.query_one(ConnectionBanner)


def banner_text(app: OpsConsole) -> str:
    return str(banner(app).content)


def banner_says(app: OpsConsole, text: str) -> Callable[[], bool]:
    return lambda: text in banner_text(app)


def unreachable_console(clock: Callable[[], float]) -> OpsConsole:
    """A console whose server is not there: requests go to a loopback port nothing listens on."""
    client = OpsClient(DISPLAY_URL, "token", transport=RecordingTransport(free_port()))
    return OpsConsole(client, clock=clock)


def test_backoff_doubles_from_one_second_up_to_five() -> None:
    assert [backoff_delay(n) for n in range(6)] == [1, 2, 4, 5, 5, 5]
    assert backoff_delay(1000) == 5


class TestConnectionBanner:
    def test_snapshot_disconnected_banner(self, snap_compare, monotonic: FakeMonotonic) -> None:
        app = unreachable_console(monotonic)

        async def disconnected(pilot: Pilot) -> None:
            await wait_until(pilot, lambda: banner(app).display, what="the banner")

        assert snap_compare(app, terminal_size=(80, 24), run_before=disconnected)

    async def test_unreachable_server_shows_banner_counting_down_and_backs_off(self, monotonic: FakeMonotonic) -> None:
        app = unreachable_console(monotonic)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: banner(app).display, what="the banner")
            assert banner_text(app) == "disconnected — retrying in 1 s (ctrl+r: now) · cannot reach the server"
            assert "Error" not in banner_text(app)  # no exception names
            assert "disconnected" in app.sub_title
            for wait in (2, 4, 5, 5):
                monotonic.advance(5)  # the retry is due: it fails and the next wait is longer, up to 5 s
                await wait_until(pilot, banner_says(app, f"retrying in {wait} s"), what=f"{wait} s")

    async def test_banner_appears_when_the_server_goes_down_and_clears_when_it_is_back(
        self, plant_server: PlantServer
    ) -> None:
        client, _ = plant_server.client()
        clock = FakeMonotonic()
        app = OpsConsole(client, clock=clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: component_state(app, "orchestrator") == "running", what="first status")
            assert not banner(app).display

            plant_server.server.stop()
            await wait_until(pilot, lambda: banner(app).display, what="the banner")
            assert banner_text(app).startswith("disconnected — retrying in 1 s")
            assert app.connection is ConnectionState.DISCONNECTED
            assert status_screen(app).has_class("-stale")  # the last status read stays, dimmed
            assert component_state(app, "orchestrator") == "running"

            plant_server.server.start()  # same port, same data
            clock.advance(1)
            await wait_until(pilot, lambda: not banner(app).display, timeout=10, what="the banner to clear")
            assert app.connection is ConnectionState.CONNECTED
            assert "connected" in app.sub_title
            assert not status_screen(app).has_class("-stale")

    async def test_a_screen_that_sends_nothing_still_learns_the_server_is_gone(self, plant_server: PlantServer) -> None:
        client, transport = plant_server.client()
        clock = FakeMonotonic()
        app = ExtendedConsole(client, clock=clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected")
            await pilot.press("0")
            await wait_until(pilot, lambda: isinstance(app.screen, QuietScreen), what="the quiet screen")
            probes = transport.sent("GET", "/ops/whoami")
            plant_server.server.stop()
            await pilot.pause(1.0)  # nothing is due yet on the console's clock: no probe, still "connected"
            assert transport.sent("GET", "/ops/whoami") == probes
            clock.advance(HEARTBEAT_SECONDS)
            await wait_until(pilot, lambda: banner(app).display, what="the banner on the quiet screen")
            assert app.connection is ConnectionState.DISCONNECTED
            assert banner_text(app).startswith("disconnected — retrying in 1 s")

    async def test_ctrl_r_retries_at_once(self, plant_server: PlantServer) -> None:
        client, _ = plant_server.client()
        clock = FakeMonotonic()
        app = OpsConsole(client, clock=clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED)
            plant_server.server.stop()
            await wait_until(pilot, lambda: banner(app).display, what="the banner")
            plant_server.server.start()
            await pilot.press("ctrl+r")  # the frozen clock would wait forever otherwise
            await wait_until(pilot, lambda: not banner(app).display, timeout=10, what="the banner to clear")

    async def test_refused_token_says_what_to_check_and_does_not_retry_by_itself(
        self, plant_server: PlantServer
    ) -> None:
        client, transport = plant_server.client("wrong-token")
        clock = FakeMonotonic()
        app = OpsConsole(client, clock=clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: banner(app).display, what="the banner")
            assert app.connection is ConnectionState.UNAUTHORIZED
            assert banner_text(app) == "unauthorized — check --token or OPS_API_TOKEN (ctrl+r retries)"
            clock.advance(600)
            await pilot.pause(0.5)
            assert transport.sent("GET", "/ops/whoami") == 1  # no retry loop hammering the server
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: transport.sent("GET", "/ops/whoami") == 2, what="one retry")
            assert app.connection is ConnectionState.UNAUTHORIZED

    async def test_rate_limit_shows_in_the_header_with_its_retry_time(self, plant_server: PlantServer) -> None:
        client, transport = plant_server.client()
        clock = FakeMonotonic()
        transport.answer(
            "/ops/whoami", 429, {"error": "rate_limited", "detail": "slow down"}, headers={"Retry-After": "12"}
        )
        app = OpsConsole(client, clock=clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.connection is ConnectionState.RATE_LIMITED, what="rate limited")
            await wait_until(pilot, lambda: "rate limited, retry in 12 s" in app.sub_title, what="the header")
            assert banner_text(app).startswith("rate limited — retrying in 12 s")
            transport.forget("/ops/whoami")
            clock.advance(12)
            await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED, what="connected again")
            assert transport.sent("GET", "/ops/whoami") == 2
