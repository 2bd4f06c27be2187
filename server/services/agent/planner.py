"""The planner: given what the finished steps found, the next thing to do — a tool (with its input), reasoning, or
concluding — with why, and the other tools it weighed and why not them. Deterministic over the finished steps, so a
resumed investigation plans the same way it would have and never repeats a finished tool."""

from dataclasses import dataclass, field
from typing import Any

from server.services.agent.findings import Results, signals
from server.services.agent.tools import VELOCITY_WINDOW_SECONDS
from shared.agent import Alternative, Mode, ToolName

REASON = "reason"
CONCLUDE = "conclude"

# The base plan of each mode, in order; quick adds a tool when a finding calls for it (see _wanted).
_PLAN: dict[Mode, tuple[ToolName, ...]] = {
    "quick": ("transaction_lookup", "velocity_window", "geo_consistency", "channel_risk", "rule_matches"),
    "deep": (
        "transaction_lookup",
        "customer_history",
        "velocity_window",
        "geo_consistency",
        "device_graph",
        "channel_risk",
        "rule_matches",
        "similar_cases",
    ),
}
_PURPOSE: dict[ToolName, str] = {
    "transaction_lookup": "every other tool needs the deposit's fields",
    "customer_history": "compare the deposit with the customer's usual amounts, countries and channels",
    "velocity_window": "count the customer's deposits in the last minutes (velocity burst)",
    "geo_consistency": "compare the IP country with the card's (country mismatch)",
    "device_graph": "see how many customers share the device (mule networks)",
    "channel_risk": "check whether the channel is new and unproven",
    "rule_matches": "check the amount against the deposit limit's rules",
    "similar_cases": "find past investigations with the same findings",
}


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # a tool name, REASON or CONCLUDE
    why: str
    alternatives: tuple[Alternative, ...] = ()
    tool_input: dict[str, Any] = field(default_factory=dict)


def _wanted(mode: Mode, results: Results) -> list[tuple[ToolName, str]]:
    """The tools this investigation should call, each with why, in order."""
    wanted: list[tuple[ToolName, str]] = [(tool, _PURPOSE[tool]) for tool in _PLAN[mode]]
    if mode == "quick":
        kinds = {s.kind for s in signals(results)}
        if "velocity_window" in results and results["velocity_window"][1].get("burst"):
            wanted.append(("device_graph", "a velocity burst: check whether the device serves other customers too"))
        if "geo_consistency" in results and results["geo_consistency"][1].get("mismatch"):
            wanted.append(("customer_history", "a country mismatch: has the customer deposited from there before?"))
        elif "rule_matches" in results and results["rule_matches"][1].get("matched"):
            wanted.append(("customer_history", "an amount rule matched: has the customer done this before?"))
        if len(kinds) >= 2:
            wanted.append(("similar_cases", "two or more findings: look for past cases like this one"))
    return wanted


def _input(tool: ToolName, results: Results, transaction_id: str) -> dict[str, Any]:
    if tool == "transaction_lookup":
        return {"transaction_id": transaction_id}
    txn = results["transaction_lookup"][1]
    at = txn["occurred_at"]
    if tool == "customer_history":
        return {"customer_id": txn["customer_id"], "before": at, "amount_minor": txn["amount_minor"]}
    if tool == "velocity_window":
        return {"customer_id": txn["customer_id"], "at": at, "window_seconds": VELOCITY_WINDOW_SECONDS}
    if tool == "geo_consistency":
        known = results["customer_history"][1]["ip_countries"] if "customer_history" in results else []
        return {"ip_country": txn["ip_country"], "card_country": txn["card_country"], "known_ip_countries": known}
    if tool == "device_graph":
        return {"device_id": txn["device_id"], "at": at}
    if tool == "channel_risk":
        return {"channel": txn["channel"], "at": at}
    if tool == "rule_matches":
        return {"amount_minor": txn["amount_minor"]}
    return {"transaction_id": transaction_id, "kinds": [s.kind for s in signals(results)]}


def decide(mode: Mode, transaction_id: str, results: Results, *, reasoned: bool) -> Decision:
    pending: list[tuple[ToolName, str]] = []
    for tool, why in _wanted(mode, results):
        if tool not in results and all(tool != p for p, _ in pending):
            pending.append((tool, why))
    skipped = [t for t in _PURPOSE if t not in results and all(t != p for p, _ in pending)]
    not_needed = [Alternative(name=t, why_not=f"not needed in {mode} mode with these findings") for t in skipped]
    if pending:
        tool, why = pending[0]
        after = "after this one: it needs or benefits from its answer"
        later = [Alternative(name=t, why_not=after) for t, _ in pending[1:]]
        return Decision(tool, why, (*later, *not_needed), _input(tool, results, transaction_id))
    found = signals(results)
    if not reasoned:
        why = f"every planned tool has answered ({len(results)}); {len(found)} finding(s) to weigh"
        return Decision(REASON, why, tuple(not_needed))
    return Decision(CONCLUDE, "the findings are weighed: write the insights and recommendations", tuple(not_needed))
