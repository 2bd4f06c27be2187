#!/usr/bin/env python3
"""Runbook 'failback': return the market-data feed to its primary profile."""

from _runbook import Runbook, main


async def failback(runbook: Runbook) -> int:
    before = await runbook.client.runbooks.feed_health()
    runbook.info(f"before: {runbook.describe(before)}")
    if before.active_profile == "primary":
        runbook.error("the feed already runs on the primary profile: nothing to fail back")
        return 1
    if runbook.dry_run:
        runbook.info("dry run: would fail the feed back from backup to primary; nothing changed")
        return 0
    switched = await runbook.client.runbooks.feed_failback()
    runbook.info(f"Failback completed: active profile {switched.active_profile}, latency {switched.latency_ms:g} ms")
    if runbook.enforce:
        after = await runbook.wait_healthy()
        runbook.info(f"after: {runbook.describe(after)}")
    return 0


if __name__ == "__main__":
    main(failback)
