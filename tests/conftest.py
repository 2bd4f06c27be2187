"""Fixtures every test package shares."""

import os

import pytest

from server.clock import ManualClock


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
