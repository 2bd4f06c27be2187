"""The CMDB: a few hundred CIs of the demo business generated the same way every time, seeded once, with their
relations; the plant's components are CIs whose status is the plant's live state."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from server.http.orchestration import ORCHESTRATION
from server.keys import PLANT, SETTINGS
from server.services.orchestration.cmdb_seed import DEFAULT_COUNT, PLANT_COMPONENTS, generate
from server.storage.cmdb import CiFilter, CmdbRepository
from server.storage.database import Database

if TYPE_CHECKING:
    from server_support import Ops


def test_the_seed_is_deterministic_and_varied() -> None:
    cis, relations = generate()
    assert (cis, relations) == generate()
    assert generate(seed=8)[0] != cis
    assert len(cis) == DEFAULT_COUNT + len(PLANT_COMPONENTS)
    assert len({ci.name for ci in cis}) == len(cis)
    assert {ci.ci_type for ci in cis} == {"server", "service", "database", "queue"}
    assert {ci.environment for ci in cis} == {"prod", "staging", "dev"}
    assert {ci.status for ci in cis} == {"active", "degraded", "down", "maintenance"}
    assert len({ci.owner for ci in cis}) >= 6
    assert {r.relation for r in relations} == {"runs_on", "depends_on", "publishes_to"}


async def test_the_cmdb_is_seeded_at_first_start_with_the_plants_components(ops: Ops) -> None:
    rows = ops.table("cmdb_cis")
    assert len(rows) == DEFAULT_COUNT + len(PLANT_COMPONENTS)
    plant = {r["name"] for r in rows if r["plant_component"]}
    assert plant == {name for name, _, _ in PLANT_COMPONENTS} == set(ops.app[PLANT].component_names)
    with sqlite3.connect(ops.app[SETTINGS].database_path) as conn:
        [(relations,)] = conn.execute("SELECT COUNT(*) FROM cmdb_relations")
    assert relations > DEFAULT_COUNT // 4


async def test_seeding_happens_once(db: Database) -> None:
    repository = CmdbRepository(db)
    assert await repository.seed_if_empty(*generate(50)) is True
    assert await repository.seed_if_empty(*generate(80)) is False
    assert await repository.count() == 50 + len(PLANT_COMPONENTS)


async def test_the_cmdb_size_is_a_setting(ops_with: Any) -> None:
    ops = await ops_with(orchestration_cmdb_size=1000)
    assert len(ops.table("cmdb_cis")) == 1000 + len(PLANT_COMPONENTS)


async def test_plant_components_show_the_plants_live_state(ops: Ops) -> None:
    cmdb = ops.app[ORCHESTRATION].cmdb
    connector = CiFilter(names=("connector",))
    assert [ci.status for ci in (await cmdb.lookup(connector, 10))[0]] == ["active"]
    await ops.run("stop", "connector")
    assert [ci.status for ci in (await cmdb.lookup(connector, 10))[0]] == ["down"]
    down, total = await cmdb.lookup(CiFilter(statuses=("down",), environments=("prod",)), 1000)
    assert "connector" in [ci.name for ci in down] and total == len(down)
    await ops.run("start", "connector")
    await ops.run("restart", "connector")
    assert [ci.status for ci in (await cmdb.lookup(connector, 10))[0]] == ["degraded"]
    # The stored row never changed: the status is read from the plant.
    assert next(r["status"] for r in ops.table("cmdb_cis") if r["name"] == "connector") == "active"


async def test_relations_go_both_ways(ops: Ops) -> None:
    cmdb = ops.app[ORCHESTRATION].cmdb
    [engine] = await cmdb.named(["execution_engine"])
    related = await cmdb.related(engine, 50)
    outbound = {(r.relation, r.ci.name) for r in related if r.direction == "outbound"}
    assert {("depends_on", "connector"), ("depends_on", "database")} <= outbound
    [database] = await cmdb.named(["database"])
    inbound = {r.ci.name for r in await cmdb.related(database, 50) if r.direction == "inbound"}
    assert inbound == {"execution_engine", "position_manager"}


async def test_a_lookup_counts_every_match_beyond_its_limit(ops: Ops) -> None:
    cmdb = ops.app[ORCHESTRATION].cmdb
    shown, total = await cmdb.lookup(CiFilter(ci_types=("server",)), 5)
    assert len(shown) == 5 and total == sum(1 for r in ops.table("cmdb_cis") if r["ci_type"] == "server")
    assert [ci.name for ci in shown] == sorted(ci.name for ci in shown)
