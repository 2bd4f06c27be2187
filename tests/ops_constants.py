"""Constants the test packages share (importable because pytest puts tests/ on sys.path for its conftest)."""

from collections.abc import Callable

from server.settings import Settings

ADMIN_TOKEN = "admin-secret"
MakeSettings = Callable[..., Settings]
