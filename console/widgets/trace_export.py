"""Export of an investigation's trace: the server's self-contained HTML page (`GET .../{id}/trace`) written to a file
named by the investigation id, in the current directory (or the temporary directory when that is not writable)."""

import os
import re
import tempfile
from pathlib import Path

from shared.agent import ID_PATTERN
from shared.client import OpsClient


async def fetch_trace_html(client: OpsClient, investigation_id: str) -> str:
    """The trace page, as the server renders it."""
    return await client.agent.trace_html(investigation_id)


def export_directory() -> Path:
    """The current directory when it is writable (where the operator started the console), else $TMPDIR."""
    here = Path.cwd()
    return here if os.access(here, os.W_OK) else Path(tempfile.gettempdir())


def write_trace(html: str, investigation_id: str, directory: Path | None = None) -> Path:
    """Write the page as `trace-<id>.html` (replacing an older export of the same investigation); its path."""
    # The id comes from the server: refuse anything that could leave the directory.
    if not re.fullmatch(ID_PATTERN, investigation_id):
        raise ValueError(f"not an investigation id: {investigation_id!r}")
    path = (directory or export_directory()) / f"trace-{investigation_id}.html"
    path.write_text(html, encoding="utf-8")
    return path.resolve()
