#!/usr/bin/env python3
"""Runbook 'health_check': measure the market-data feed and hand the server its health report."""

from _runbook import Runbook, main


async def health_check(runbook: Runbook) -> int:
    health = await runbook.client.runbooks.feed_health()
    runbook.info(f"feed: {runbook.describe(health)}")
    for violation in health.violations:
        runbook.warn(f"below threshold: {violation}")
    runbook.report_health(health)
    return 0


if __name__ == "__main__":
    main(health_check)
