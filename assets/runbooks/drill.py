#!/usr/bin/env python3
"""Runbook 'drill': fail the market-data feed over to its backup, measure it there, fail back, and report both
switches. Ends on the primary profile it started on."""

import asyncio

from _runbook import Runbook, main

HOLD_SECONDS = 1.0  # on the backup before failing back


async def drill(runbook: Runbook) -> int:
    feed = runbook.client.runbooks
    before = await feed.feed_health()
    runbook.info(f"before: {runbook.describe(before)}")
    if before.active_profile != "primary":
        runbook.error(f"a drill starts on the primary profile; the feed runs on {before.active_profile}")
        return 1
    if runbook.dry_run:
        runbook.info("dry run: would fail over to backup, hold, measure, and fail back; nothing changed")
        return 0
    over = await feed.feed_failover()
    runbook.info(f"failover: active profile {over.active_profile}, latency {over.latency_ms:g} ms")
    await asyncio.sleep(HOLD_SECONDS)
    on_backup = await feed.feed_health()
    runbook.info(f"on backup: {runbook.describe(on_backup)}")
    back = await feed.feed_failback()
    runbook.info(f"failback: active profile {back.active_profile}, latency {back.latency_ms:g} ms")
    level = runbook.info if on_backup.healthy else runbook.warn
    level(
        f"Drill report: failover {over.latency_ms:g} ms, failback {back.latency_ms:g} ms, backup "
        f"{'healthy' if on_backup.healthy else 'below thresholds: ' + '; '.join(on_backup.violations)}"
    )
    return 0


if __name__ == "__main__":
    main(drill)
