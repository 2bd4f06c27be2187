"""What the tools' outputs add up to: signals (each citing the step it comes from), the risk score and verdict,
insights, recommendations, and a rule draft when a pattern generalises. Deterministic: the reasoner writes the
narrative, but what enters the worklist is decided here, where it can be audited."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.plant.transactions import DEPOSIT_LIMIT_MINOR
from server.services.agent.tools import SHARED_DEVICE_CUSTOMERS, UNDER_LIMIT_SHARE
from server.storage.agent_transactions import TransactionRepository
from shared.agent import Evidence, Insight, Pattern, Recommendation, RuleClause, RuleDraft, Severity, Verdict

# (step_no, output) of each finished tool, by tool name.
Results = dict[str, tuple[int, dict[str, Any]]]
MIN_CAUGHT_TO_GENERALISE = 2  # past deposits a rule must catch, beyond this one, to be worth drafting


@dataclass(frozen=True, slots=True)
class Signal:
    kind: Pattern
    title: str
    severity: Severity
    weight: float  # toward concern, 0..1
    evidence: tuple[Evidence, ...]


_ACTIONS: dict[str, tuple[str, str]] = {
    "velocity_burst": ("hold_deposits_and_contact_customer", "bursts of deposits are how stolen cards are used"),
    "country_mismatch": ("request_step_up_authentication", "the card's country differs from where the client is"),
    "shared_device": ("block_device_pending_review", "one device paying for many clients suggests a mule network"),
    "high_risk_channel": ("review_channel_onboarding", "a new channel without history carries unknown risk"),
    "amount_under_limit": ("review_for_structuring", "amounts kept just below the limit avoid its checks"),
}


def _evidence(results: Results, tool: str, summary: str, keys: tuple[str, ...]) -> Evidence:
    step_no, output = results[tool]
    return Evidence(step_no=step_no, tool=tool, summary=summary, data={k: output.get(k) for k in keys})


def signals(results: Results) -> list[Signal]:
    """The signals the finished tools show, strongest first."""
    found: list[Signal] = []
    if "velocity_window" in results and results["velocity_window"][1].get("burst"):
        out = results["velocity_window"][1]
        count = int(out["deposits"])
        found.append(Signal(
            "velocity_burst", f"{count} deposits within {out['window_seconds'] // 60} minutes",
            "high" if count >= 6 else "medium", min(0.4 + 0.08 * count, 0.9),
            (_evidence(results, "velocity_window", f"{count} deposits in the window", ("deposits", "window_seconds",
                                                                                     "total_minor")),),
        ))  # fmt: skip
    if "geo_consistency" in results and results["geo_consistency"][1].get("mismatch"):
        out = results["geo_consistency"][1]
        seen = "customer_history" in results and out["ip_country"] in results["customer_history"][1]["ip_countries"]
        if not seen:
            evidence = _evidence(
                results, "geo_consistency", "IP and card countries differ", ("ip_country", "card_country")
            )
            title = f"card from {out['card_country']} used from {out['ip_country']}"
            found.append(Signal("country_mismatch", title, "medium", 0.45, (evidence,)))
    if "device_graph" in results and results["device_graph"][1].get("shared"):
        out = results["device_graph"][1]
        customers = int(out["customers_24h"])
        found.append(Signal(
            "shared_device", f"device used by {customers} customers in a day",
            "critical" if customers >= 5 else "high", min(0.5 + 0.1 * customers, 0.95),
            (_evidence(results, "device_graph", f"{customers} customers on one device", ("device_id", "customers_24h",
                                                                                       "customer_ids")),),
        ))  # fmt: skip
    if "channel_risk" in results and results["channel_risk"][1].get("high_risk"):
        out = results["channel_risk"][1]
        found.append(Signal(
            "high_risk_channel", f"deposit through the new channel {out['channel']}", "medium", 0.35,
            (_evidence(results, "channel_risk", "channel first seen days ago", ("channel", "age_days",
                                                                              "deposits_24h")),),
        ))  # fmt: skip
    if "rule_matches" in results and "amount_just_under_limit" in results["rule_matches"][1].get("matched", []):
        repeated = "customer_history" in results and results["customer_history"][1]["near_limit_deposits"] >= 1
        cited = [_evidence(results, "rule_matches", "amount just under the limit", ("limit_minor", "matched"))]
        if repeated:
            cited.append(_evidence(results, "customer_history", "earlier deposits near the limit",
                                      ("near_limit_deposits",)))  # fmt: skip
        found.append(Signal(
            "amount_under_limit", "amount just under the deposit limit" + (", again" if repeated else ""),
            "high" if repeated else "medium", 0.55 if repeated else 0.3, tuple(cited),
        ))  # fmt: skip
    return sorted(found, key=lambda s: -s.weight)


def risk_of(found: list[Signal]) -> tuple[float, Verdict]:
    clear = 1.0
    for signal in found:
        clear *= 1.0 - signal.weight
    score = round(1.0 - clear, 3)
    verdict: Verdict = (
        "clear" if score < 0.2 else "review" if score < 0.5 else "suspicious" if score < 0.8 else ("fraudulent")
    )
    return score, verdict


def insights_of(found: list[Signal]) -> list[Insight]:
    return [
        Insight(
            insight_id=str(uuid.uuid4()),
            kind=s.kind,
            title=s.title,
            severity=s.severity,
            confidence=round(s.weight, 2),
            evidence=list(s.evidence),
        )
        for s in found
    ]


def recommendations_of(
    found: list[Signal], verdict: Verdict, *, investigation_id: str, transaction_id: str, at: datetime
) -> list[Recommendation]:
    made = []
    for signal in found:
        action, why = _ACTIONS[signal.kind]
        made.append((signal.severity, action, f"{signal.title}: {why}."))
    if verdict == "fraudulent":
        why = "the findings together make fraud likely; stop further deposits."
        made.insert(0, ("critical", "freeze_account", why))
    return [
        Recommendation(
            recommendation_id=str(uuid.uuid4()),
            investigation_id=investigation_id,
            transaction_id=transaction_id,
            severity=severity,
            action=action,
            rationale=rationale,
            created_at=at,
        )
        for severity, action, rationale in made
    ]


async def rule_draft_of(
    found: list[Signal], results: Results, transactions: TransactionRepository, *, investigation_id: str
) -> RuleDraft | None:
    """A rule for the first signal whose pattern generalises: one that would have caught past deposits beyond this
    one (in the week before it)."""
    if "transaction_lookup" not in results:
        return None
    txn = results["transaction_lookup"][1]
    this, at = str(txn["transaction_id"]), datetime.fromisoformat(str(txn["occurred_at"]))
    since = at - timedelta(days=7)
    for signal in found:
        draft: tuple[str, list[RuleClause], str, list[str]] | None = None
        if signal.kind == "amount_under_limit":
            floor = int(DEPOSIT_LIMIT_MINOR * (1 - UNDER_LIMIT_SHARE))
            caught = await transactions.near_limit(
                low_minor=floor, high_minor=DEPOSIT_LIMIT_MINOR, since=since, limit=50
            )
            clauses = [RuleClause(field="amount_minor", op=">=", value=floor),
                       RuleClause(field="amount_minor", op="<=", value=DEPOSIT_LIMIT_MINOR - 1)]  # fmt: skip
            text = f"Flag deposits from {floor / 100:.2f} up to the limit of {DEPOSIT_LIMIT_MINOR / 100:.2f}."
            draft = ("deposit_just_under_limit", clauses, text, caught)
        elif signal.kind == "high_risk_channel":
            channel = str(txn["channel"])
            caught = await transactions.matching(channel=channel, since=since, limit=50)
            clauses = [RuleClause(field="channel", op="==", value=channel)]
            text = f"Review every deposit through the channel '{channel}'."
            draft = (f"new_channel_{channel}", clauses, text, caught)
        elif signal.kind == "shared_device":
            caught = await transactions.on_shared_devices(min_customers=SHARED_DEVICE_CUSTOMERS, since=since, limit=50)
            clauses = [RuleClause(field="device_customers_24h", op=">=", value=SHARED_DEVICE_CUSTOMERS)]
            text = f"Flag deposits from a device that {SHARED_DEVICE_CUSTOMERS} or more customers used within a day."
            draft = ("device_shared_by_customers", clauses, text, caught)
        elif signal.kind == "country_mismatch":
            caught = await transactions.matching(mismatch=True, since=since, limit=50)
            clauses = [RuleClause(field="ip_country", op="!=", value="card_country")]
            draft = ("ip_card_country_mismatch", clauses, "Flag deposits whose IP country is not the card's.", caught)
        if draft is None:
            continue
        name, clauses, text, caught = draft
        others = [t for t in caught if t != this]
        if len(others) >= MIN_CAUGHT_TO_GENERALISE:
            return RuleDraft(
                investigation_id=investigation_id,
                name=name,
                condition=clauses,
                text=text,
                caught_transaction_ids=others,
            )
    return None
