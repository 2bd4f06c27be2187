"""The runbooks and metrics routes take and answer exactly what their OpenAPI declarations say (shared/runbooks.py,
shared/metrics.py, server/http/runbooks.py, server/http/metrics.py), through the real HTTP stack:

- execute's booleans are JSON booleans (`"dry_run": 0` was taken as false, `"enforce": "true"` as true);
- `/api/ops/runbooks/execute` is POST's alone: GET there read a run named "execute" and OPTIONS advertised GET, so
  "execute" is no request id (the router and the models refuse it; the document says so by `not`);
- a history cursor is the ASCII digits the document's pattern says (a 19-digit one was let through to the service);
- the Prometheus exposition answers the media type its operation declares."""

from pathlib import Path
from typing import Any

import pytest
from runbooks_support import EXECUTE, Runbooks, write_runbooks

from server.http import metrics as metrics_routes
from server.http import runbooks as runbook_routes
from server.http.routes import Text, spec_of
from shared.runbooks import HistoryQuery, RunbookRequest

SCRAPE_TOKEN = "documented-inputs-scrape-token"
QUICK = """
    print("INFO done")
"""


@pytest.fixture
async def runbooks(ops_with: Any, tmp_path: Path) -> Runbooks:
    directory = write_runbooks(tmp_path / "runbooks", {"start": (QUICK, 10)})
    return Runbooks((await ops_with(runbooks_dir=directory, metrics_token=SCRAPE_TOKEN)).client)


REFUSED_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"dry_run": 0}, "dry_run"),
    ({"dry_run": 1}, "dry_run"),
    ({"dry_run": "true"}, "dry_run"),
    ({"enforce": "false"}, "enforce"),
    ({"enforce": 0.0}, "enforce"),
    ({"request_id": "execute"}, "request_id"),
    ({"request_id": 7}, "request_id"),
]


async def test_execute_takes_the_booleans_and_request_ids_the_document_allows_and_no_other(runbooks: Runbooks) -> None:
    refused = [await runbooks.execute_raw({"command": "start", **extra}) for extra, _ in REFUSED_BODIES]
    ran = await runbooks.execute(command="start", dry_run=True, enforce=False, request_id="execute-1")
    read = await runbooks.get("/api/ops/runbooks/execute-1")
    history = await (await runbooks.get("/api/ops/runbooks")).json()

    for response, (extra, field) in zip(refused, REFUSED_BODIES, strict=True):
        body = await response.json()
        assert response.status == 422, (extra, body)
        assert [error["loc"] for error in body["detail"]] == [["body", field]], (extra, body)
    # None of the refused bodies ran: the one run is the valid one, whose id only starts like the reserved one.
    assert [run["request_id"] for run in history["items"]] == ["execute-1"]
    assert ran["runbook"]["status"] == "success" and ran["runbook"]["dry_run"] is True
    assert read.status == 200 and (await read.json())["runbook"]["request_id"] == "execute-1"


async def test_the_execute_path_is_post_only_and_no_run_is_named_execute(runbooks: Runbooks) -> None:
    get = await runbooks.get(EXECUTE)
    options = await runbooks.client.options(EXECUTE, headers={"Authorization": "Bearer admin-secret"})
    abort = await runbooks.post(f"{EXECUTE}/abort")
    newline = await runbooks.get(EXECUTE + "%0A")  # the router's \Z: not "execute" followed by a newline

    for response in (get, options):
        assert response.status == 405, (response.method, await response.text())
        assert set(response.headers["Allow"].split(",")) == {"POST"}, response.headers["Allow"]
        assert set(await response.json()) == {"detail"}
    assert abort.status == 422 and (await abort.json())["detail"][0]["loc"] == ["path", "request_id"]
    assert newline.status == 422 and (await newline.json())["detail"][0]["loc"] == ["path", "request_id"]
    # The document says what the router and the models do.
    run_state = spec_of(runbook_routes.run_state)
    assert run_state is not None and run_state.operation is not None and 405 in run_state.operation.errors
    schema = runbook_routes.RunPath.model_json_schema()["properties"]["request_id"]
    assert schema["not"] == {"enum": ["execute"]}
    request_id = RunbookRequest.model_json_schema()["properties"]["request_id"]["anyOf"][0]
    assert request_id["not"] == {"enum": ["execute"]}


async def test_a_history_cursor_is_what_the_pattern_says(runbooks: Runbooks) -> None:
    await runbooks.execute(command="start", request_id="cursor-1")
    accepted = [await runbooks.get("/api/ops/runbooks", cursor=c) for c in ("1", "2", "9" * 18)]
    refused = [await runbooks.get("/api/ops/runbooks", cursor=c) for c in ("0", "01", "1" + "0" * 18, "9" * 19)]

    pages = [await response.json() for response in accepted]
    assert [response.status for response in accepted] == [200, 200, 200], pages
    assert [[run["request_id"] for run in page["items"]] for page in pages] == [[], ["cursor-1"], ["cursor-1"]]
    for response in refused:
        body = await response.json()
        assert response.status == 422 and body["detail"][0]["loc"] == ["query", "cursor"], body
    assert HistoryQuery.model_json_schema()["properties"]["cursor"]["anyOf"][0]["pattern"] == r"^[1-9][0-9]{0,17}$"


async def test_the_exposition_answers_the_media_type_it_declares(runbooks: Runbooks) -> None:
    response = await runbooks.client.get("/api/v1/metrics", headers={"X-Metrics-Token": SCRAPE_TOKEN})
    exposition = spec_of(metrics_routes.exposition)

    assert exposition is not None and exposition.operation is not None
    declared = exposition.operation.responses[200]
    assert isinstance(declared, Text)
    assert response.status == 200 and response.headers["Content-Type"] == declared.media_type
    assert "ops_runbook_executions_total" in await response.text()
