"""RunbookHistory: runs newest first — when, command, status in its colour, exit code, duration, dry run or not,
who, request id — rewriting only the cells that changed when the same runs are shown again."""

from rich.text import Text

from console.widgets.nav_table import NavTable
from console.widgets.runbook_run import run_duration
from shared.runbooks import RunbookRun

STATUS_COLOURS = {
    "running": "accent",
    "success": "success",
    "failed": "error",
    "timeout": "error",
    "aborted": "warning",
}
COLUMNS = (
    ("started", "Started (UTC)", 14),
    ("command", "Command", 12),
    ("status", "Status", 8),
    ("exit", "Exit", 4),
    ("took", "Took", 7),
    ("dry", "Dry", 3),
    ("who", "Who", 12),
    ("request_id", "Request", 30),
)

Cell = str | Text


class RunbookHistory(NavTable[Cell]):
    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def show(self, runs: list[RunbookRun]) -> None:
        if [str(key.value) for key in self.rows] != [run.request_id for run in runs]:
            self.clear()
            for run in runs:
                self.add_row(*self._cells(run), key=run.request_id)
            return
        for run in runs:
            for (column, _, _), value in zip(COLUMNS, self._cells(run), strict=True):
                self.put(run.request_id, column, value)

    def _cells(self, run: RunbookRun) -> list[Cell]:
        colour = self.app.theme_variables.get(STATUS_COLOURS.get(run.status, "warning"), "")
        return [
            f"{run.started_at:%m-%d %H:%M:%S}",
            run.command,
            Text(run.status, style=f"bold {colour}".strip()),
            "" if run.exit_code is None else str(run.exit_code),
            run_duration(run),
            "dry" if run.dry_run else "",
            run.principal or "-",
            run.request_id,
        ]
