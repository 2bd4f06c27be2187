"""How the ops agent screens write ids, times and durations: the same words in the list, the tree and the panes."""

import json
from datetime import datetime
from typing import Any

SHORT_ID = 8
"""Characters of a UUID that tell the rows of one screen apart."""


def short_id(value: str, width: int = SHORT_ID) -> str:
    """The first `width` characters of an id, with an ellipsis when cut."""
    return value if len(value) <= width else value[: width - 1] + "…"


def format_duration(ms: float | None) -> str:
    """`-` while unknown; `<1 ms`, `12 ms`, `1.4 s`, `2 min 5 s` by size."""
    if ms is None:
        return "-"
    if ms < 1:
        return "<1 ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def format_at(at: datetime | None, *, wide: bool = False) -> str:
    if at is None:
        return "-"
    return at.strftime("%Y-%m-%d %H:%M:%S" if wide else "%m-%d %H:%M:%S")


def pretty(value: Any, indent: str = "") -> str:
    """A step's input or output as `key: value` lines, nested values indented under their key (keys in the server's
    order): narrower than JSON, so a long value wraps less in a side pane."""
    if isinstance(value, dict):
        if not value:
            return f"{indent}{{}}"
        return "\n".join(_entry(f"{key}:", item, indent) for key, item in value.items())
    if isinstance(value, list):
        if not value:
            return f"{indent}[]"
        return "\n".join(_entry("-", item, indent) for item in value)
    return f"{indent}{_scalar(value)}"


def _entry(head: str, item: Any, indent: str) -> str:
    if isinstance(item, dict | list) and item:
        return f"{indent}{head}\n{pretty(item, indent + '  ')}"
    return f"{indent}{head} {pretty(item)}"


def _scalar(value: Any) -> str:
    """Strings as they are (an id needs no quotes); everything else as JSON writes it (true, null, 1.5)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
