"""Fixtures every test package shares."""

import os
from pathlib import Path
from typing import Any

import pytest
from ops_constants import ADMIN_TOKEN, MakeSettings

from server.clock import ManualClock
from server.settings import Settings


@pytest.fixture(autouse=True)
def _no_ops_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read OPS_* variables: the caller's environment must not leak into a test."""
    for name in list(os.environ):
        if name.startswith("OPS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when a test advances it."""
    return ManualClock()


@pytest.fixture
def make_settings(tmp_path: Path) -> MakeSettings:
    """`make_settings(**overrides)`: settings for a test server in `tmp_path`, with limits out of the way."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "api_token": ADMIN_TOKEN,
            "rate_limit_per_minute": 10_000,
            "rate_limit_anon_per_minute": 10_000,
            # Revocation must show at once, not after the 5 s cache.
            "token_cache_seconds": 0,
            # The background simulation would move positions at random: tests tick the plant by hand.
            "plant_tick_seconds": 3600,
            # A writer process per test app would cost each a spawn; the process kind has tests of its own.
            "audit_writer": "thread",
        }
        values.update(overrides)
        return Settings(**values)

    return make
