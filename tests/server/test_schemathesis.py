"""Schemathesis against a running server, from the committed OpenAPI document (assets/openapi.json, pinned to the
code by test_openapi.py): every operation, positive and negative examples, every check schemathesis has — no 5xx,
each answer's status and body as documented, protected operations refuse calls without credentials. A bounded
budget (a fixed number of examples per operation, derandomized so a run is repeatable): one test per operation,
spread over the xdist workers like any other."""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from ops_constants import ADMIN_TOKEN
from runbooks_support import write_runbooks
from schemathesis.config import SchemathesisConfig

from server.embedded import EmbeddedServer
from server.settings import Settings

# The committed document; another one (a draft being written) by OPS_OPENAPI_DOCUMENT.
COMMITTED = Path(__file__).resolve().parents[2] / "assets" / "openapi.json"
DOCUMENT = Path(os.environ.get("OPS_OPENAPI_DOCUMENT") or COMMITTED)
METRICS_TOKEN = "schemathesis-metrics-token"
SHIPPED_COMMANDS = ("start", "stop", "restart", "failover", "failback", "drill", "health_check")
EXAMPLES = int(os.environ.get("OPS_SCHEMATHESIS_EXAMPLES", "50"))

# Schema-valid requests that a rule beyond what JSON schema can say refuses, by operation: schemathesis expects
# 2xx/401/403/404/409 for schema-valid data, so each of these names the rule and the status it answers. Every other
# check stays as strict as schemathesis makes it.
BEYOND_THE_SCHEMA: dict[str, tuple[str, list[int]]] = {
    # control
    "GET /ops/audit": ("a cursor is one this server signed; q needs a letter or digit", [400]),
    "POST /ops/command": ("the component is one the plant has; a confirm token is one it gave out", [400, 410]),
    # runbooks + metrics
    "POST /api/ops/runbooks/execute": ("a request_id goes with one request body (idempotency)", [422]),
    # agent
    "GET /api/v1/ops-agent/transactions": ("a cursor is one this server signed, for this filter", [400]),
    "GET /api/v1/ops-agent/worklist/recommendations": ("a cursor is one this server signed, for this filter", [400]),
    # orchestration, inspector, webhooks
    "GET /assets/{asset_type}": ("the query's `type`, when given, repeats the path's asset type", [422]),
    "POST /assets/{asset_type}": ("the content fits the schema of the path's asset type", [422]),
    "PUT /assets/{asset_type}/{asset_id}/{version}": ("the content fits the schema of the path's asset type", [422]),
    "GET /inspector/traces": ("'from' is before 'to'", [422]),
    "POST /webhooks": ("the URL's host resolves, and only to addresses webhooks may reach (the SSRF guard)", [422]),
    # live + refunds
    "POST /ops/api/refunds/process-once": ("an Idempotency-Key goes with one body per token, for 24 h", [422]),
}

CONFIG = SchemathesisConfig.from_dict(
    {
        # A caller with every scope, by the scheme each operation names; schemathesis leaves them out itself where
        # it checks that a protected operation refuses a call without them.
        "auth": {
            "openapi": {
                "bearerAuth": {"bearer": ADMIN_TOKEN},
                "metricsToken": {"api_key": METRICS_TOKEN},
                "metricsBearer": {"bearer": METRICS_TOKEN},
            }
        },
        "operations": [
            {
                "include-name": name,
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "401", "403", "404", "409", "429", *map(str, statuses)]
                    }
                },
            }
            for name, (_, statuses) in BEYOND_THE_SCHEMA.items()
        ]
    }
)
schema = schemathesis.openapi.from_dict(json.loads(DOCUMENT.read_text()), config=CONFIG)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("OPS_")]:
            env.delenv(name)
        data_dir = tmp_path_factory.mktemp("schemathesis")
        # The shipped commands as scripts that end at once: the fuzzing is of the API, and each real script (it
        # drives the plant) takes seconds.
        runbooks = write_runbooks(data_dir / "runbooks", {name: ("print('done')", 10) for name in SHIPPED_COMMANDS})
        embedded = EmbeddedServer(
            Settings(
                data_dir=data_dir,
                runbooks_dir=runbooks,
                api_token=ADMIN_TOKEN,
                metrics_token=METRICS_TOKEN,
                port=0,
                rate_limit_per_minute=1_000_000,
                rate_limit_anon_per_minute=1_000_000,
                rate_limit_failed_auth_per_minute=1_000_000,
                plant_tick_seconds=3600,
            )
        )
        embedded.start()
    yield embedded
    embedded.stop()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_operation_conforms_to_the_document(case: Any, server: EmbeddedServer) -> None:
    response = case.call_and_validate(base_url=server.url, timeout=30)
    sent = response.request.headers
    if sent.get("Authorization") in (f"Bearer {ADMIN_TOKEN}", f"Bearer {METRICS_TOKEN}") or sent.get(
        "X-Metrics-Token"
    ) == METRICS_TOKEN:
        # The credentials went out: a 401 here would mean the run tested nothing past the auth stage.
        assert response.status_code != 401, response.text
