"""Words of the Inspector screen's trace list: its filters (what the operator typed, checked before it is sent),
its columns at a terminal width, and one trace summary as a row."""

from dataclasses import dataclass
from datetime import UTC, datetime

from rich.text import Text

from shared.inspector import TraceSummary
from shared.orchestration import Route, TraceStatus

WIDE = 110
"""From this terminal width on, dates show the year (and the Compare tab puts the changes beside the scores)."""
WIDEST = 150
"""From this terminal width on, the whole trace id gets a column."""
STATUS_STYLES: dict[str, str] = {"success": "green", "partial": "yellow", "rejected": "magenta", "error": "bold red"}
MARK_STYLE = "bold reverse"
TIME_EXAMPLE = "2026-01-01 09:00"


@dataclass(frozen=True)
class TraceFilters:
    """What the list asks the server for; every filter given must match (AND)."""

    q: str | None = None
    feature: str | None = None
    status: TraceStatus | None = None
    route: Route | None = None
    from_: datetime | None = None
    to: datetime | None = None

    def describe(self) -> str:
        """The filters in effect, in a few words ('' for none)."""
        parts = [f"'{self.q}'" if self.q else "", self.feature or "", self.status or "", self.route or ""]
        if self.from_ is not None:
            parts.append(f"from {self.from_:%Y-%m-%d %H:%M}")
        if self.to is not None:
            parts.append(f"to {self.to:%Y-%m-%d %H:%M}")
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class FilterInput:
    """The filter bar's values as typed; `parse` turns them into filters or says what is wrong."""

    q: str = ""
    feature: str = ""
    status: TraceStatus | None = None
    route: Route | None = None
    from_text: str = ""
    to_text: str = ""

    def parse(self) -> TraceFilters | str:
        """The filters, or a sentence naming each field that is not valid."""
        problems: list[str] = []
        moments: list[datetime | None] = []
        for name, text in (("from", self.from_text), ("to", self.to_text)):
            try:
                moments.append(parse_moment(text))
            except ValueError:
                problems.append(f"{name} is not a date or time (e.g. {TIME_EXAMPLE}, UTC)")
                moments.append(None)
        start, end = moments
        if start is not None and end is not None and start >= end:
            problems.append("from must be before to")
        if problems:
            return "Filter not applied: " + "; ".join(problems) + "."
        return TraceFilters(
            q=self.q.strip() or None,
            feature=self.feature.strip() or None,
            status=self.status,
            route=self.route,
            from_=start,
            to=end,
        )


def parse_moment(text: str) -> datetime | None:
    """An ISO 8601 date or date and time ('2026-01-01', '2026-01-01 09:00', '...T09:00:00Z'); without an offset
    it is UTC, as every time on this screen. '' is no bound. Raises ValueError for anything else."""
    text = text.strip()
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int


def columns_for(width: int) -> tuple[Column, ...]:
    """The list's columns at a terminal `width`: the question takes what the others leave."""
    wide = width >= WIDE
    fixed = [
        Column("mark", "", 1),
        Column("at", "When (UTC)", 19 if wide else 11),
        Column("route", "Route", 6),
        Column("status", "Status", 8),
        Column("feature", "Feature", 14 if wide else 12),
        Column("ms", "ms", 6),
    ]
    if width >= WIDEST:
        fixed.append(Column("trace_id", "Trace", 35))
    room = width - sum(c.width for c in fixed) - 2 * (len(fixed) + 1) - 2  # cell padding; 2 for the scrollbar
    question = Column("question", "Question", max(12, room))
    return (*fixed[:6], question, *fixed[6:])


def mark_cell(trace_id: str, marks: list[str]) -> Text:
    """'A' for the baseline, 'B' for the comparison, '' for a trace not marked."""
    if trace_id not in marks:
        return Text("")
    return Text("AB"[marks.index(trace_id)], style=MARK_STYLE)


def row_cells(trace: TraceSummary, columns: tuple[Column, ...], marks: list[str]) -> list[str | Text]:
    wide = columns[1].width >= 19
    cells: dict[str, str | Text] = {
        "mark": mark_cell(trace.trace_id, marks),
        "at": trace.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S" if wide else "%m-%d %H:%M"),
        "route": trace.route,
        "status": Text(trace.status, style=STATUS_STYLES.get(trace.status, "")),
        "feature": trace.feature,
        "ms": str(trace.duration_ms),
        "trace_id": trace.trace_id,
        "question": trace.question_snippet + (" (test)" if trace.test_mode else ""),
    }
    return [cells[c.key] for c in columns]


def page_words(offset: int, shown: int, total: int, *, capped: bool = False) -> str:
    """'1-20 of 57 traces' ('no traces' for an empty answer; '10,000+' when the server stopped counting)."""
    if total == 0:
        return "no traces"
    count = f"{total:,}+" if capped else str(total)
    traces = "trace" if total == 1 and not capped else "traces"
    if shown == 0:
        return f"none here: {count} {traces} in all"
    return f"{offset + 1}-{offset + shown} of {count} {traces}"


def short_trace(trace_id: str) -> str:
    """A trace id short enough for a status line: `tr_` and its first 8 hex digits."""
    return trace_id[:11]
