"""The CMDB as the ask pipeline reads it: stored CIs, with the plant's components showing the plant's live state
(stop the connector through the control family and its CI is `down` at once)."""

import dataclasses
from collections.abc import Sequence

from server.plant.plant import Plant
from server.storage.cmdb import Ci, CiFilter, CmdbRepository, Related

# The plant's component states as CI statuses.
PLANT_STATUS = {"running": "active", "stopped": "down", "restarting": "degraded"}


class CmdbService:
    def __init__(self, repository: CmdbRepository, plant: Plant) -> None:
        self._repository = repository
        self._plant = plant
        self._plant_rows: list[Ci] | None = None  # the plant's CIs never change but for their status

    def _live(self, ci: Ci) -> Ci:
        if ci.plant_component is None:
            return ci
        return dataclasses.replace(ci, status=PLANT_STATUS.get(self._plant.state_of(ci.plant_component), "unknown"))

    async def _plant_cis(self) -> list[Ci]:
        if self._plant_rows is None:
            self._plant_rows = await self._repository.plant_rows()
        return [self._live(ci) for ci in self._plant_rows]

    async def lookup(self, where: CiFilter, limit: int) -> tuple[list[Ci], int]:
        """CIs matching `where` by name, at most `limit`, and how many match in all."""
        stored, total = await self._repository.find(where, limit)
        plant = [ci for ci in await self._plant_cis() if where.matches(ci)]
        merged = sorted([*stored, *plant], key=lambda ci: ci.name)[:limit]
        return merged, total + len(plant)

    async def named(self, names: Sequence[str]) -> list[Ci]:
        """The CIs of those names that exist."""
        return [self._live(ci) for ci in await self._repository.by_names(names)]

    async def related(self, ci: Ci, limit: int) -> list[Related]:
        return [dataclasses.replace(r, ci=self._live(r.ci)) for r in await self._repository.related(ci.ci_id, limit)]
