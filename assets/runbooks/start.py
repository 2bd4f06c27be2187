#!/usr/bin/env python3
"""Runbook 'start': start the market-data connector through the control family's two-step command."""

from _connector import connector_command
from _runbook import Runbook, main


async def start(runbook: Runbook) -> int:
    return await connector_command(runbook, "start")


if __name__ == "__main__":
    main(start)
