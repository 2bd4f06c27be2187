"""The tools a plan runs. Each reads another family's data through that family's service (the CMDB here, the
metrics service, the audit trail, the runbook history), never a copy, and answers rows (or a series) with the
references it read. The pipeline runs each under its timeout from the query asset."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.services.audit import AuditTrail
from server.services.metrics.service import MetricsService
from server.services.orchestration.cmdb import CmdbService
from server.services.runbooks.history import history_page
from server.storage.cmdb import Ci, CiFilter
from server.storage.runbooks import RunbookRepository
from shared.metrics import MetricName, TimeseriesQuery
from shared.orchestration import SeriesPoint, TimeseriesContent
from shared.runbooks import HistoryQuery, RunbookCommand


class ToolError(Exception):
    """A tool could not answer (bad parameters, a family's service not running): the control loop's `error`."""


@dataclass
class ToolResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    references: list[dict[str, Any]] = field(default_factory=list)
    series: TimeseriesContent | None = None

    @property
    def empty(self) -> bool:
        return not self.rows and (self.series is None or not self.series.points)


Tool = Callable[[dict[str, Any]], Awaitable[ToolResult]]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CiLookupParams(_Params):
    ci_types: list[str] = Field(default_factory=list)
    environments: list[str] = Field(default_factory=list)
    statuses: list[str] = Field(default_factory=list)
    owners: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
    limit: int = Field(default=50, ge=1, le=10_000)


class CiRelationsParams(_Params):
    name: str
    limit: int = Field(default=50, ge=1, le=10_000)


class MetricQueryParams(_Params):
    metric: MetricName
    minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    step_seconds: int = Field(default=60, ge=1, le=3600)


class MetricSummaryParams(_Params):
    metric: MetricName | None = None


class AuditSearchParams(_Params):
    words: list[str] = Field(default_factory=list)
    limit: int = Field(default=20, ge=1, le=500)
    changes_only: bool = False


class RunbookHistoryParams(_Params):
    command: RunbookCommand | None = None
    limit: int = Field(default=20, ge=1, le=200)


P = TypeVar("P", bound=_Params)

PARAMS: dict[str, type[_Params]] = {
    "ci_lookup": CiLookupParams,
    "ci_relations": CiRelationsParams,
    "metric_query": MetricQueryParams,
    "metric_summary": MetricSummaryParams,
    "audit_search": AuditSearchParams,
    "runbook_history": RunbookHistoryParams,
}


def convert_params(params: dict[str, Any], to_tool: str) -> dict[str, Any]:
    """Parameters of one tool carried over to another (a fallback): those it takes, a `name` as `names`."""
    accepted = PARAMS[to_tool].model_fields
    carried = {key: value for key, value in params.items() if key in accepted}
    if "name" in params and "names" in accepted:
        carried["names"] = [params["name"]]
    return carried


def _parse(model: type[P], params: dict[str, Any]) -> P:
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ToolError(f"invalid parameters: {exc.errors(include_url=False)[0]['msg']}") from None


def _ci_row(ci: Ci) -> dict[str, Any]:
    return {
        "name": ci.name,
        "ci_type": ci.ci_type,
        "environment": ci.environment,
        "status": ci.status,
        "owner": ci.owner,
        "plant_component": ci.plant_component,
    }


class Tools:
    """The tools by name. The metrics service and the runbook history are looked up when a tool runs: their
    families may start after this one, or not run at all."""

    def __init__(
        self,
        cmdb: CmdbService,
        audit: AuditTrail,
        metrics: Callable[[], MetricsService | None],
        runbooks: Callable[[], RunbookRepository | None],
    ) -> None:
        self._cmdb = cmdb
        self._audit = audit
        self._metrics = metrics
        self._runbooks = runbooks
        self.by_name: dict[str, Tool] = {
            "ci_lookup": self.ci_lookup,
            "ci_relations": self.ci_relations,
            "metric_query": self.metric_query,
            "metric_summary": self.metric_summary,
            "audit_search": self.audit_search,
            "runbook_history": self.runbook_history,
        }

    async def ci_lookup(self, raw: dict[str, Any]) -> ToolResult:
        p = _parse(CiLookupParams, raw)
        where = CiFilter(tuple(p.ci_types), tuple(p.environments), tuple(p.statuses), tuple(p.owners), tuple(p.names))
        cis, total = await self._cmdb.lookup(where, p.limit)
        return ToolResult([_ci_row(ci) for ci in cis], total, [{"kind": "ci", "name": ci.name} for ci in cis])

    async def ci_relations(self, raw: dict[str, Any]) -> ToolResult:
        p = _parse(CiRelationsParams, raw)
        found = await self._cmdb.named([p.name])
        if not found:
            raise ToolError(f"no configuration item is named '{p.name}'")
        related = await self._cmdb.related(found[0], p.limit)
        rows = [{"of": p.name, "direction": r.direction, "relation": r.relation, **_ci_row(r.ci)} for r in related]
        references = [{"kind": "ci", "name": p.name}, *({"kind": "ci", "name": r.ci.name} for r in related)]
        return ToolResult(rows, len(rows), references)

    def _metrics_service(self) -> MetricsService:
        service = self._metrics()
        if service is None:
            raise ToolError("the metrics service is not running")
        return service

    async def metric_query(self, raw: dict[str, Any]) -> ToolResult:
        p = _parse(MetricQueryParams, raw)
        answer = await self._metrics_service().timeseries(
            TimeseriesQuery(metric=p.metric, minutes=p.minutes, step_seconds=p.step_seconds)
        )
        points = [SeriesPoint(timestamp=point["timestamp"], value=point["value"]) for point in answer.points]
        series = TimeseriesContent(metric=answer.metric, unit=answer.unit, points=points)
        reference = {"kind": "metric", "metric": p.metric, "minutes": p.minutes, "step_seconds": answer.step_seconds}
        return ToolResult([], len(points), [reference], series)

    async def metric_summary(self, raw: dict[str, Any]) -> ToolResult:
        p = _parse(MetricSummaryParams, raw)
        summary = await self._metrics_service().summary()
        values = [getattr(summary, name) for name in type(summary).model_fields]
        rows = [
            {"metric": v.metric, "value": v.value, "unit": v.unit, "stale": v.stale}
            for v in values
            if p.metric is None or v.metric == p.metric
        ]
        return ToolResult(rows, len(rows), [{"kind": "metric", "metric": row["metric"]} for row in rows])

    async def audit_search(self, raw: dict[str, Any]) -> ToolResult:
        p = _parse(AuditSearchParams, raw)
        entries = await self._audit.recent(p.limit, words=p.words, changes_only=p.changes_only)
        rows = [
            {
                "entry_id": e.entry_id,
                "at": e.at.isoformat(),
                "principal": e.record.principal,
                "action": e.record.action,
                "target": e.record.target,
                "outcome": e.record.outcome,
            }
            for e in entries
        ]
        return ToolResult(rows, len(rows), [{"kind": "audit", "entry_id": row["entry_id"]} for row in rows])

    async def runbook_history(self, raw: dict[str, Any]) -> ToolResult:
        p = _parse(RunbookHistoryParams, raw)
        repository = self._runbooks()
        if repository is None:
            raise ToolError("the runbooks family is not running")
        page = await history_page(repository, HistoryQuery(limit=p.limit, command=p.command))
        rows = [
            {
                "request_id": run.request_id,
                "command": run.command,
                "status": run.status,
                "exit_code": run.exit_code,
                "started_at": run.started_at.isoformat(),
            }
            for run in page.items
        ]
        return ToolResult(rows, len(rows), [{"kind": "runbook_run", "request_id": row["request_id"]} for row in rows])
