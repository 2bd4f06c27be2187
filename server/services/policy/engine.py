"""The in-process policy engine: rules on risk flags, amount thresholds, per-customer velocity and schedule
windows, first match wins, deny rules before approval rules. Pure: the same context always gets the same answer."""

from dataclasses import dataclass

from server.services.policy.context import Decision, PolicyContext


@dataclass(frozen=True, slots=True)
class PolicyRules:
    deny_above_minor: int = 500_000  # a refund above 5,000.00 is refused outright
    approval_above_minor: int = 50_000  # above 500.00 a person approves it
    max_refunds_per_customer: int = 3  # in the velocity window (the caller counts them)
    velocity_window_hours: int = 24
    refund_hours_utc: tuple[int, int] = (6, 22)  # refunds run unattended only from 06:00 to 22:00 UTC


class PolicyEngine:
    def __init__(self, rules: PolicyRules | None = None) -> None:
        self.rules = rules or PolicyRules()

    def decide(self, context: PolicyContext) -> Decision:
        if context.action != "refund.create":
            # Comments and alerts move no money: they are allowed, and still recorded as decided.
            return Decision(decision="ALLOW", rule="action.notify", reason="notifications are allowed")
        rules = self.rules
        flags = context.risk_flags
        amount = context.amount_minor or 0
        if "deposit_suspicious" in flags:
            return Decision(decision="DENY", rule="risk.deposit_suspicious", reason="the deposit is flagged suspicious")
        if amount > rules.deny_above_minor:
            return Decision(decision="DENY", rule="amount.maximum", reason="the amount is above the refund maximum")
        if context.recent_refunds >= rules.max_refunds_per_customer:
            return Decision(
                decision="DENY", rule="velocity.customer", reason="the customer had too many refunds recently"
            )
        if "deposit_under_investigation" in flags:
            return Decision(
                decision="REQUIRE_APPROVAL",
                rule="risk.under_investigation",
                reason="the deposit is under investigation",
            )
        if amount > rules.approval_above_minor:
            return Decision(decision="REQUIRE_APPROVAL", rule="amount.approval", reason="the amount needs an approver")
        start, end = rules.refund_hours_utc
        if not start <= context.at.hour < end:
            return Decision(
                decision="REQUIRE_APPROVAL", rule="schedule.window", reason="outside the unattended refund window"
            )
        return Decision(decision="ALLOW", rule="default.allow", reason="within every limit")
