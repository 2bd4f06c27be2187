"""What the shipped runbook scripts share: the request's fields (arguments, as the server passes them), a client
on the server with the run's own short-lived token (OPS_RUNBOOK_URL, OPS_RUNBOOK_TOKEN), levelled output lines,
and the HEALTH line that hands the server a health report. Not a runbook itself: the manifest names no script
starting with an underscore."""

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shared.client import OpsClient
from shared.errors import OpsClientError
from shared.runbooks import HealthReport

# How long an --enforce run waits for the feed to be healthy again after changing it.
SETTLE_SECONDS = 20.0


@dataclass
class Runbook:
    client: OpsClient
    command: str
    request_id: str | None
    dry_run: bool
    enforce: bool
    reason: str | None
    mode: str | None
    window: str | None
    profile: str | None
    config: str | None

    def info(self, message: str) -> None:
        print(f"INFO {message}", flush=True)

    def warn(self, message: str) -> None:
        print(f"WARN {message}", flush=True)

    def error(self, message: str) -> None:
        print(f"ERROR {message}", flush=True)

    def report_health(self, health: HealthReport) -> None:
        """Hand the server `health` as this run's health report."""
        print(f"HEALTH {health.model_dump_json()}", flush=True)

    def describe(self, health: HealthReport) -> str:
        coverage = "unknown" if health.coverage_ratio is None else f"{health.coverage_ratio:.4f}"
        return (
            f"profile {health.active_profile}, coverage {coverage} "
            f"({health.matched_total}/{health.expected_total} matched), throughput {health.throughput_mps} msg/s, "
            f"backlog {health.consumer_backlog_messages}"
        )

    async def wait_healthy(self) -> HealthReport:
        """The feed's health once it is within its thresholds, or after SETTLE_SECONDS (the server judges it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_SECONDS
        while True:
            health = await self.client.runbooks.feed_health()
            if health.healthy or loop.time() >= deadline:
                return health
            await asyncio.sleep(1.0)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--command", required=True)
    for name in ("--mode", "--window", "--profile", "--config", "--request-id", "--reason"):
        parser.add_argument(name)
    parser.add_argument("--enforce", action="store_true")
    parser.add_argument("--dry-run", action="store_true")
    return parser.parse_args()


def main(body: Callable[[Runbook], Awaitable[int]]) -> None:
    """Run `body` and exit with its code; an answer of the server that refuses is an ERROR line and exit 1."""
    args = _arguments()
    url, token = os.environ.get("OPS_RUNBOOK_URL"), os.environ.get("OPS_RUNBOOK_TOKEN")
    if not url or not token:
        print("ERROR OPS_RUNBOOK_URL and OPS_RUNBOOK_TOKEN must be set: runbooks are run by the ops server")
        sys.exit(2)

    async def run() -> int:
        async with OpsClient(url, token, timeout=30.0) as client:
            runbook = Runbook(
                client=client,
                command=args.command,
                request_id=args.request_id,
                dry_run=args.dry_run,
                enforce=args.enforce,
                reason=args.reason,
                mode=args.mode,
                window=args.window,
                profile=args.profile,
                config=args.config,
            )
            try:
                return await body(runbook)
            except OpsClientError as exc:
                runbook.error(str(exc))
                return 1

    sys.exit(asyncio.run(run()))
