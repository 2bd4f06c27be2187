#!/usr/bin/env python3
"""Runbook 'restart': restart the market-data connector through the control family's two-step command."""

from _connector import connector_command
from _runbook import Runbook, main


async def restart(runbook: Runbook) -> int:
    return await connector_command(runbook, "restart")


if __name__ == "__main__":
    main(restart)
