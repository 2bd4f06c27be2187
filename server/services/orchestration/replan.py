"""What a replan changes. The validate stage finds where a plan breaks the policy asset; the execute stage sees a
step time out, fail or come back empty. For each, the query asset says what the plan becomes instead: another
tool (the step's fallback), a widened filter (the first of `widen_order` the step uses, dropped), or a smaller
query (`shrink_on_timeout` halved). None when the assets offer nothing else to try."""

from dataclasses import dataclass
from typing import Any

from server.services.orchestration.asset_content import PolicyContent, QueryContent
from server.services.orchestration.tools import PARAMS, convert_params
from shared.orchestration import Plan, ToolCall, TriggerType


@dataclass(frozen=True, slots=True)
class Violation:
    step: int
    rule: str  # the policy's field that the step breaks: allowed_tools, max_rows
    reason: str


@dataclass(frozen=True, slots=True)
class StepPatch:
    step: ToolCall
    change: str  # what changed, in words, for the trace


def violations(plan: Plan, policy: PolicyContent) -> list[Violation]:
    found = []
    for index, step in enumerate(plan.steps):
        if step.tool not in policy.allowed_tools:
            found.append(Violation(index, "allowed_tools", f"the policy does not allow the tool '{step.tool}'"))
        elif step.tool not in PARAMS:
            found.append(Violation(index, "allowed_tools", f"there is no tool '{step.tool}'"))
        limit = step.params.get("limit")
        if isinstance(limit, int) and limit > policy.max_rows:
            found.append(Violation(index, "max_rows", f"limit {limit} is over the policy's {policy.max_rows} rows"))
    return found


def _fallback(step: ToolCall, query: QueryContent, policy: PolicyContent) -> StepPatch | None:
    settings = query.tools.get(step.tool)
    fallback = settings.fallback if settings is not None else None
    if fallback is None or fallback not in policy.allowed_tools or fallback not in PARAMS:
        return None
    params = convert_params(step.params, fallback)
    return StepPatch(ToolCall(tool=fallback, params=params), f"tool {step.tool} -> {fallback}")


def patch_violation(
    step: ToolCall, violation: Violation, query: QueryContent, policy: PolicyContent
) -> StepPatch | None:
    if violation.rule == "max_rows":
        params: dict[str, Any] = {**step.params, "limit": policy.max_rows}
        return StepPatch(
            ToolCall(tool=step.tool, params=params), f"limit {step.params.get('limit')} -> {policy.max_rows}"
        )
    return _fallback(step, query, policy)


def patch_step(step: ToolCall, trigger: TriggerType, query: QueryContent, policy: PolicyContent) -> StepPatch | None:
    settings = query.tools.get(step.tool)
    if trigger == "empty" and settings is not None:
        for key in settings.widen_order:
            if step.params.get(key):
                widened = {k: v for k, v in step.params.items() if k != key}
                return StepPatch(ToolCall(tool=step.tool, params=widened), f"widened: dropped the filter {key}")
    patch = _fallback(step, query, policy)
    if patch is not None:
        return patch
    if trigger == "timeout" and settings is not None and settings.shrink_on_timeout:
        key = settings.shrink_on_timeout
        value = step.params.get(key)
        if isinstance(value, int) and value > 1:
            shrunk = {**step.params, key: value // 2}
            return StepPatch(ToolCall(tool=step.tool, params=shrunk), f"{key} {value} -> {value // 2}")
    return None
