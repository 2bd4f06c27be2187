"""The demo business's configuration items, generated deterministically (the same seed gives the same CMDB on
every machine): servers, services, databases and queues of the venue's applications in three environments, their
relations, and the plant's components as CIs of their own."""

import random
from collections import defaultdict

from server.storage.cmdb import NewCi as SeedCi
from server.storage.cmdb import NewRelation as SeedRelation

DEFAULT_COUNT = 320

# (application, owning team)
APPLICATIONS: tuple[tuple[str, str], ...] = (
    ("trade", "trading"),
    ("erp", "finance"),
    ("risk", "risk"),
    ("pay", "payments"),
    ("md", "market-data"),
    ("web", "platform"),
    ("auth", "platform"),
    ("report", "data"),
    ("etl", "data"),
    ("crm", "sales"),
)
ENVIRONMENTS: tuple[tuple[str, int], ...] = (("prod", 5), ("staging", 3), ("dev", 2))
TYPES: tuple[tuple[str, str, int], ...] = (
    ("server", "srv", 4),
    ("service", "svc", 3),
    ("database", "db", 2),
    ("queue", "mq", 2),
)
STATUSES: tuple[tuple[str, int], ...] = (("active", 85), ("degraded", 6), ("down", 5), ("maintenance", 4))
ENV_SUFFIX = {"prod": "", "staging": "-stg", "dev": "-dev"}

# The plant's components: (name, CI type, what each depends on). The CMDB records the dependencies the plant runs.
PLANT_COMPONENTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("orchestrator", "service", ()),
    ("connector", "service", ()),
    ("database", "database", ()),
    ("execution_engine", "service", ("connector", "database")),
    ("position_manager", "service", ("database",)),
    ("mt5_bridge", "service", ("connector",)),
)


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([name for name, _ in weighted], weights=[weight for _, weight in weighted])[0]


def generate(count: int = DEFAULT_COUNT, seed: int = 7) -> tuple[list[SeedCi], list[SeedRelation]]:
    """`count` CIs of the applications (plus the plant's six) and their relations."""
    rng = random.Random(f"cmdb:{seed}")
    counters: dict[tuple[str, str, str], int] = defaultdict(int)
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)  # (app, env, type) -> names
    cis: list[SeedCi] = []
    type_weights = tuple((name, weight) for name, _, weight in TYPES)
    prefixes = {name: prefix for name, prefix, _ in TYPES}
    for _ in range(count):
        app, owner = rng.choice(APPLICATIONS)
        env = _pick(rng, ENVIRONMENTS)
        ci_type = _pick(rng, type_weights)
        counters[(app, env, ci_type)] += 1
        name = f"{prefixes[ci_type]}-{app}{ENV_SUFFIX[env]}-{counters[(app, env, ci_type)]:02d}"
        status = _pick(rng, STATUSES)
        cis.append(SeedCi(name, ci_type, env, status, owner, f"{ci_type} of {app} ({env})"))
        groups[(app, env, ci_type)].append(name)
    relations: list[SeedRelation] = []
    for (app, env, ci_type), names in groups.items():
        if ci_type != "service":
            continue
        for name in names:
            for target_type, relation in (("server", "runs_on"), ("database", "depends_on"), ("queue", "publishes_to")):
                targets = groups.get((app, env, target_type))
                if targets:
                    relations.append(SeedRelation(name, relation, rng.choice(targets)))
    for name, ci_type, depends_on in PLANT_COMPONENTS:
        cis.append(SeedCi(name, ci_type, "prod", "active", "trading", f"the plant's {name}", plant_component=name))
        relations.extend(SeedRelation(name, "depends_on", target) for target in depends_on)
        trade_servers = groups.get(("trade", "prod", "server"))
        if trade_servers:
            relations.append(SeedRelation(name, "runs_on", trade_servers[len(name) % len(trade_servers)]))
    return cis, relations
