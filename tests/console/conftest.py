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
def make_console(plant_server: PlantServer, monotonic: FakeMonotonic) -> Callable[..., ConsoleUnderTest]:
    def make(token: str = ADMIN_TOKEN, *, status_interval: float = 3600.0, **kwargs: Any) -> ConsoleUnderTest:
        client, transport = plant_server.client(token)
        app = OpsConsole(client, clock=monotonic, status_interval=status_interval, **kwargs)
        return ConsoleUnderTest(app, transport, record_notifications(app))

    return make
