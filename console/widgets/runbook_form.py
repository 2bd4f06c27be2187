"""RunbookForm: the fields a runbook runs with — mode, window, profile, config, enforce and reason — as one line
each, and `fields()` to read them as the request takes them."""

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Checkbox, Input, Label, Select

MODES = ("live", "dry-run")


@dataclass(frozen=True)
class RunFields:
    """The request fields besides the command, the request id and dry_run. Empty text is None (not sent)."""

    mode: str | None = None
    window: str | None = None
    profile: str | None = None
    config: str | None = None
    enforce: bool = False
    reason: str | None = None

    def params(self) -> str:
        """The fields set, as the confirm dialog lists them (`mode=live, enforce=true`), or `none`."""
        values = {
            "mode": self.mode,
            "window": self.window,
            "profile": self.profile,
            "config": self.config,
            "enforce": "true" if self.enforce else None,
            "reason": self.reason,
        }
        return ", ".join(f"{k}={v}" for k, v in values.items() if v is not None) or "none"


class RunbookForm(Grid):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Run with"
        self.mode = Select[str]([(m, m) for m in MODES], prompt="(default)", compact=True, id="form-mode")
        self.window = Input(placeholder="e.g. day", compact=True, id="form-window")
        self.profile = Input(placeholder="e.g. live", compact=True, id="form-profile")
        self.config = Input(placeholder="e.g. backup", compact=True, id="form-config")
        self.enforce = Checkbox("fail on bad health", compact=True, id="form-enforce")
        self.reason = Input(placeholder="why (audited)", compact=True, id="form-reason")

    def compose(self) -> ComposeResult:
        for label, field in (
            ("Mode", self.mode),
            ("Window", self.window),
            ("Profile", self.profile),
            ("Config", self.config),
            ("Enforce", self.enforce),
            ("Reason", self.reason),
        ):
            yield Label(label, classes="form-label")
            yield field

    def fields(self) -> RunFields:
        mode = self.mode.value
        return RunFields(
            mode=mode if isinstance(mode, str) else None,
            window=_text(self.window),
            profile=_text(self.profile),
            config=_text(self.config),
            enforce=self.enforce.value,
            reason=_text(self.reason),
        )


def _text(field: Input) -> str | None:
    return field.value.strip() or None
