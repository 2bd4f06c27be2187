"""What the decision point is told, and what it answers. The context can carry no customer data by construction:
every string is a closed set or an opaque safe reference (`dep_<hex>`, `cust_<hex>`, `comp_<hex>`), amounts are
integers in minor units, and unknown fields are refused."""

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from shared.live import ActionName, AgentName, DecisionName

# Opaque hashes: an id of the business system never leaves it as itself.
SafeRef = Annotated[str, StringConstraints(pattern=r"^(dep|comp)_[0-9a-f]{16}$")]
CustomerRef = Annotated[str, StringConstraints(pattern=r"^cust_[0-9a-f]{16}$")]
RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z_]+(\.[a-z_]+)*$", max_length=64)]
RiskFlag = Literal["deposit_suspicious", "deposit_under_investigation", "component_down"]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]  # ISO 4217


class PolicyContext(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: AgentName
    action: ActionName
    resource_ref: SafeRef
    customer_ref: CustomerRef | None = None
    amount_minor: int | None = Field(default=None, ge=0, le=10**12)
    currency: Currency | None = None
    # Per-customer velocity: the customer's refunds already made inside the engine's velocity window.
    recent_refunds: int = Field(default=0, ge=0)
    risk_flags: frozenset[RiskFlag] = frozenset()
    at: AwareDatetime  # the engine's schedule windows are matched against it
    redaction_status: Literal["redacted"] = "redacted"


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: DecisionName
    rule: RuleId
    reason: str = Field(max_length=200)
