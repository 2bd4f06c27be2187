"""Fixtures of the console tests; the harness itself is in console_harness.py."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from console_harness import (
    ADMIN_TOKEN,
    RESTART_SECONDS,
    ConsoleUnderTest,
    FakeMonotonic,
    PlantServer,
    record_notifications,
    server_settings,
)

from console.app import OpsConsole
from console.screens.status import StatusScreen
from server.clock import ManualClock
from server.embedded import EmbeddedServer
from server.plant.plant import Plant


@pytest.fixture
def plant_server(tmp_path: Path) -> Iterator[PlantServer]:
    clock = ManualClock()
    plant = Plant(clock, seed=7, restart_seconds=RESTART_SECONDS)
    server = EmbeddedServer(server_settings(tmp_path / "data"), clock=clock, plant=plant)
    server.start()
    try:
        yield PlantServer(server, clock, plant)
    finally:
        server.stop()


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def make_console(
    plant_server: PlantServer, monotonic: FakeMonotonic, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ConsoleUnderTest]:
    """A console on the plant server. The status screen refreshes only when told to (`refresh_seconds`)."""

    def make(
        token: str = ADMIN_TOKEN,
        *,
        refresh_seconds: float = 3600.0,
        app_class: type[OpsConsole] = OpsConsole,
        **kwargs: Any,
    ) -> ConsoleUnderTest:
        monkeypatch.setattr(StatusScreen, "REFRESH_SECONDS", refresh_seconds)
        client, transport = plant_server.client(token)
        app = app_class(client, clock=monotonic, **kwargs)
        return ConsoleUnderTest(app, transport, record_notifications(app))

    return make
