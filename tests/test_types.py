"""The packages stay mypy clean: a type error fails the suite like any other defect."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_finds_nothing() -> None:
    # The files to check come from [tool.mypy] in pyproject.toml; the cache lives outside the tree.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", "/tmp/ops-console-mypy-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
