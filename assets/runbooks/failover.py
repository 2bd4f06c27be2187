#!/usr/bin/env python3
"""Runbook 'failover': move the market-data feed to its backup profile; the server records the latency."""

from _runbook import Runbook, main


async def failover(runbook: Runbook) -> int:
    before = await runbook.client.runbooks.feed_health()
    runbook.info(f"before: {runbook.describe(before)}")
    if before.active_profile == "backup":
        runbook.error("the feed already runs on the backup profile: nothing to fail over")
        return 1
    if runbook.dry_run:
        runbook.info(f"dry run: would fail the feed over from {before.active_profile} to backup; nothing changed")
        return 0
    switched = await runbook.client.runbooks.feed_failover()
    runbook.info(f"Failover completed: active profile {switched.active_profile}, latency {switched.latency_ms:g} ms")
    if runbook.enforce:
        after = await runbook.wait_healthy()
        runbook.info(f"after: {runbook.describe(after)}")
    return 0


if __name__ == "__main__":
    main(failover)
