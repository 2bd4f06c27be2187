"""The orchestration family's services, built together at start: the CMDB (seeded at first start), the asset
registry (its files published at first start), the control loop (its state restored) and the ask pipeline."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from server.clock import Clock
from server.plant.plant import Plant
from server.services.audit import AuditTrail
from server.services.metrics.service import MetricsService
from server.services.orchestration.assets import AssetService
from server.services.orchestration.cmdb import CmdbService
from server.services.orchestration.cmdb_seed import generate
from server.services.orchestration.control_loop import ControlLoop
from server.services.orchestration.events import NO_EVENTS, EventSink
from server.services.orchestration.pipeline import AskPipeline
from server.services.orchestration.router import KeywordRouter
from server.services.orchestration.tools import Tools
from server.services.reasoning import Reasoner
from server.storage.assets import AssetRepository
from server.storage.cmdb import CmdbRepository
from server.storage.database import Database
from server.storage.runbooks import RunbookRepository
from server.storage.traces import TraceRepository
from shared.orchestration import ControlLoopStats


@dataclass
class Orchestration:
    assets: AssetService
    cmdb: CmdbService
    control: ControlLoop
    pipeline: AskPipeline
    traces: TraceRepository

    async def control_loop_stats(self) -> ControlLoopStats:
        """The statistics, with the replan policy of the published policy asset."""
        return await self.control.stats((await self.assets.resolve({})).policy.replan)


@dataclass(frozen=True)
class Sources:
    """What the tools read of the other families; the metrics service and the runbook history are looked up when
    a tool runs, since their families may start after this one."""

    audit: AuditTrail
    metrics: Callable[[], MetricsService | None]
    runbooks: Callable[[], RunbookRepository | None]


async def start_orchestration(
    db: Database,
    clock: Clock,
    plant: Plant,
    sources: Sources,
    *,
    assets_dir: Path,
    cmdb_size: int,
    seed: int,
    reasoner: Reasoner | None = None,
    events: EventSink = NO_EVENTS,
) -> Orchestration:
    cmdb_repository = CmdbRepository(db)
    if await cmdb_repository.count() == 0:  # generated only for an empty CMDB: restarts skip the work
        await cmdb_repository.seed_if_empty(*generate(cmdb_size, seed))
    cmdb = CmdbService(cmdb_repository, plant)
    assets = AssetService(AssetRepository(db), clock)
    await assets.seed(assets_dir)
    traces = TraceRepository(db)
    control = ControlLoop(traces, clock)
    await control.restore()
    tools = Tools(cmdb, sources.audit, sources.metrics, sources.runbooks)
    pipeline = AskPipeline(assets, KeywordRouter(cmdb, reasoner), tools, control, traces, clock, events)
    return Orchestration(assets, cmdb, control, pipeline, traces)
