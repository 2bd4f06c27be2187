"""The API families and the path prefixes that belong to each. Each routes module declares its family, and the
start-up check (server/http/routes.py) refuses a route whose path this table gives to another; a path no route
matched is answered in the envelope of the family its prefix names."""

from enum import StrEnum


class Family(StrEnum):
    CONTROL = "control"
    RUNBOOKS = "runbooks"
    AGENT = "agent"
    ORCHESTRATION = "orchestration"
    LIVE = "live"


# Each prefix covers itself and what lies below it at a segment boundary: "/webhooks" covers "/webhooks" and
# "/webhooks/{webhook_id}", never "/webhooksX". The longest matching prefix wins, so /ops/api and /ops/ci are
# carved out of the control family's /ops.
PREFIXES: dict[str, Family] = {
    "/ops": Family.CONTROL,
    "/ops/api": Family.LIVE,
    "/ops/ci": Family.ORCHESTRATION,
    "/ops/control-loop": Family.ORCHESTRATION,
    "/inspector": Family.ORCHESTRATION,
    "/assets": Family.ORCHESTRATION,
    "/webhooks": Family.ORCHESTRATION,
    "/api/ops": Family.RUNBOOKS,
    "/api/v1": Family.AGENT,
}
DEFAULT_FAMILY = Family.CONTROL  # paths under no prefix (only unknown ones: every route lies under its family's)


def family_of(path: str) -> Family:
    """The family of `path` (a request's path, or a route's canonical path with its `{variables}`)."""
    prefix = path
    while prefix:
        family = PREFIXES.get(prefix)
        if family is not None:
            return family
        prefix = prefix.rpartition("/")[0]  # drop the last segment: prefixes end at segment boundaries
    return DEFAULT_FAMILY
