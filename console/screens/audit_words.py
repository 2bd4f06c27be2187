"""How an audit entry reads to an operator: a verb (`stop database`, `read playbook`), the step of the two-step
flow, the outcome, and whether it is one of the consoles' own polls. Pure functions; the Audit screen and the
Status screen's component detail share them."""

import json

from shared.control import AuditEntry

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
POLL_ACTIONS = frozenset({"GET /ops/status", "GET /ops/audit"})
"""What consoles read on a timer: hidden by default, they would bury everything else (one every 2 s each)."""
READ_VERBS = {
    "/ops/status": "read status",
    "/ops/audit": "read audit",
    "/ops/runbook": "read runbook",
    "/ops/whoami": "who am I",
}
COMMAND_STEPS = {"command.request": "ask", "command.execute": "execute", "command.confirm": "confirm"}


def verb(entry: AuditEntry) -> str:
    """What the entry did, as an operator says it: `stop database`, `read playbook connector`."""
    if entry.action in COMMAND_STEPS:
        command = str(entry.detail.get("command") or "command")
        return f"{command} {entry.target}" if entry.target else command
    method, _, path = entry.action.partition(" ")
    base = READ_VERBS.get(path, f"read {path}") if method in READ_METHODS else f"{method.lower()} {path}"
    return f"{base} {entry.target}" if entry.target else base


def step(entry: AuditEntry) -> str:
    """Which step of a command (`ask`, `confirm`, `execute`), or `read`/`write` for anything else."""
    if entry.action in COMMAND_STEPS:
        return COMMAND_STEPS[entry.action]
    return "read" if entry.method in READ_METHODS else "write"


def outcome(entry: AuditEntry) -> str:
    # An intent entry (written before a command runs) has no HTTP status yet.
    return f"{entry.status} {entry.outcome}" if entry.status else entry.outcome


def is_poll(entry: AuditEntry) -> bool:
    return entry.action in POLL_ACTIONS


def last_command(entry: AuditEntry) -> str:
    """One line about the newest command entry of a component: what, who, when and how it ended."""
    who = entry.principal or "anonymous"
    what = f"{verb(entry)} by {who} at {entry.at:%Y-%m-%d %H:%M:%S}"
    reason = entry.detail.get("params", {}).get("reason") if isinstance(entry.detail.get("params"), dict) else None
    if reason:
        what += f" ({reason!r})"
    match step(entry), entry.status:
        case "confirm", 200:
            result, state = entry.detail.get("result"), entry.detail.get("state")
            ended = f"done: {result}" + (f", then {state}" if state and state != result else "")
        case "ask", 200:
            ended = "asked for a confirmation, not confirmed"
        case "execute", _:
            ended = "executing, no outcome recorded yet"
        case _:
            ended = f"refused ({outcome(entry)})"
    return f"{what} — {ended}"


def entry_text(entry: AuditEntry) -> str:
    """Everything the filter matches against, lower-cased: what the server's search looks in (the detail JSON too,
    written as the server stores it, so a command's name, params and result match) plus method, status and the
    verb the table shows."""
    fields = (
        entry.principal or "",
        entry.action,
        verb(entry),
        entry.target or "",
        entry.outcome,
        str(entry.status),
        entry.request_id,
        entry.method,
        entry.path,
        json.dumps(entry.detail, sort_keys=True, separators=(",", ":")) if entry.detail else "",
    )
    return " ".join(fields).lower()


def matches(entry: AuditEntry, text: str) -> bool:
    """Every whitespace-separated word of `text` occurs somewhere in the entry."""
    haystack = entry_text(entry)
    return all(word in haystack for word in text.lower().split())
