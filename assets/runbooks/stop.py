#!/usr/bin/env python3
"""Runbook 'stop': stop the market-data connector through the control family's two-step command."""

from _connector import connector_command
from _runbook import Runbook, main


async def stop(runbook: Runbook) -> int:
    return await connector_command(runbook, "stop")


if __name__ == "__main__":
    main(stop)
