"""start, stop and restart of the market-data connector, through the control family's two-step /ops/command:
the script asks for a confirm token and confirms exactly what it asked for."""

from typing import Literal

from _runbook import Runbook

from shared.control import CommandParams

COMPONENT = "connector"


async def connector_command(runbook: Runbook, command: Literal["start", "stop", "restart"]) -> int:
    status = (await runbook.client.control.status()).status
    state = next((c.state for c in status.components if c.name == COMPONENT), "unknown")
    plan = f"{command} {COMPONENT} (now {state}, mode {status.mode})"
    if runbook.dry_run:
        runbook.info(f"dry run: would {plan}; nothing changed")
        return 0
    reason = runbook.reason or f"runbook {command} ({runbook.request_id})"
    params = CommandParams(reason=reason[:200])
    requested = await runbook.client.control.request_command(command, COMPONENT, params)
    runbook.info(f"requested: {requested.plan.summary}")
    executed = await runbook.client.control.confirm_command(command, COMPONENT, requested.confirm_token, params)
    runbook.info(f"{command} {COMPONENT} confirmed: {executed.result.action}, now {executed.result.state}")
    if runbook.enforce:
        health = await runbook.wait_healthy()
        runbook.info(f"feed after {command}: {runbook.describe(health)}")
    return 0
