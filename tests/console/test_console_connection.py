"""Connection state: a banner with backoff while the server is unreachable, gone once it is back; never a traceback."""

from collections.abc import Callable

from console_harness import (
    DISPLAY_URL,
    FakeMonotonic,
    PlantServer,
    RecordingTransport,
    component_state,
    status_screen,
    wait_until,
)
from textual.pilot import Pilot

from console.app import OpsConsole
from console.connection import ConnectionState, backoff_delay
from console.widgets.connection_banner import ConnectionBanner
from server.embedded import free_port
from shared.client import OpsClient


def banner(app: OpsConsole) -> ConnectionBanner:
    return app.screen.query_one(ConnectionBanner)


def banner_text(app: OpsConsole) -> str:
    return str(banner(app).content)


def unreachable_console(clock: Callable[[], float]) -> OpsConsole:
    """A console whose server is not there: requests go to a loopback port nothing listens on."""
    client = OpsClient(DISPLAY_URL, "token", transport=RecordingTransport(free_port()))
    return OpsConsole(client, clock=clock, status_interval=3600)


def test_backoff_doubles_from_one_second_up_to_thirty() -> None:
    assert [backoff_delay(n) for n in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff_delay(1000) == 30


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
            assert banner_text(app).startswith("disconnected — retrying in 1 s")
            assert "ConnectError" in banner_text(app)
            assert "disconnected" in app.sub_title
            monotonic.advance(1)  # first retry fails: the wait doubles
            await wait_until(pilot, lambda: "retrying in 2 s" in banner_text(app), what="second wait")
            monotonic.advance(2)
            await wait_until(pilot, lambda: "retrying in 4 s" in banner_text(app), what="third wait")
            monotonic.advance(3)
            await wait_until(pilot, lambda: "retrying in 1 s" in banner_text(app), what="countdown")

    async def test_banner_appears_when_the_server_goes_down_and_clears_when_it_is_back(
        self, plant_server: PlantServer
    ) -> None:
        client, _ = plant_server.client()
        clock = FakeMonotonic()
        app = OpsConsole(client, clock=clock, status_interval=0.1)
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

    async def test_ctrl_r_retries_at_once(self, plant_server: PlantServer) -> None:
        client, _ = plant_server.client()
        clock = FakeMonotonic()
        app = OpsConsole(client, clock=clock, status_interval=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.connection is ConnectionState.CONNECTED)
            plant_server.server.stop()
            await wait_until(pilot, lambda: banner(app).display, what="the banner")
            plant_server.server.start()
            await pilot.press("ctrl+r")  # the frozen clock would wait forever otherwise
            await wait_until(pilot, lambda: not banner(app).display, timeout=10, what="the banner to clear")

    async def test_refused_token_says_so(self, plant_server: PlantServer) -> None:
        client, _ = plant_server.client("wrong-token")
        app = OpsConsole(client, clock=FakeMonotonic(), status_interval=3600)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: banner(app).display, what="the banner")
            assert app.connection is ConnectionState.UNAUTHORIZED
            assert banner_text(app).startswith("token refused — retrying in 1 s")
            assert "401" in banner_text(app)
