"""client.orchestration's inspector and regression calls against a real server: the trace list with its filters,
one trace with its audit entries and a stored render, an analysis stored and read back, a stage comparison, and
the errors as typed ones."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestServer

from server.keys import TOKENS
from shared.client import OpsClient
from shared.errors import Forbidden, InvalidRequest, NotFound, OpsClientError
from shared.inspector import UI_RENDER_MAX_BYTES
from shared.orchestration import MarkdownBlock, MarkdownContent, TableBlock


async def test_the_trace_list_and_its_filters(admin: OpsClient) -> None:
    listed = await admin.orchestration.ask("which prod databases are down?")
    refused = await admin.orchestration.ask("delete every server")
    page = await admin.orchestration.list_traces()
    assert page.total == 2 and [t.trace_id for t in page.traces] == [refused.meta.trace_id, listed.meta.trace_id]
    only = await admin.orchestration.list_traces(route="orch", status="success", q="databases", limit=5)
    assert [t.trace_id for t in only.traces] == [listed.meta.trace_id] and only.total == 1 and only.limit == 5
    created = listed.trace.created_at
    window = await admin.orchestration.list_traces(from_=created, to=created + timedelta(seconds=1))
    assert window.total == 2  # the manual clock stands still: both were asked at that moment
    assert (await admin.orchestration.list_traces(to=created)).total == 0
    assert (await admin.orchestration.list_traces(offset=1)).traces[0].trace_id == listed.meta.trace_id


async def test_a_trace_its_audit_entries_and_a_render(admin: OpsClient) -> None:
    answer = await admin.orchestration.ask("which prod databases are down?")
    table = next(b for b in answer.blocks if isinstance(b, TableBlock))
    receipt = await admin.orchestration.ui_render(answer.meta.trace_id, [table], {"client": "test", "width": 120})
    assert receipt.block_count == 1 and receipt.size_bytes > 0
    detail = await admin.orchestration.get_trace(answer.meta.trace_id)
    assert detail.trace == answer.trace
    assert [(a.resource_type, a.action) for a in detail.audit_logs] == [
        ("trace", "asked"),
        *[("stage", "executed")] * 5,
        ("ui_render", "rendered"),
    ]
    assert detail.ui_render is not None and detail.ui_render.blocks == [table]
    assert detail.ui_render.meta == {"client": "test", "width": 120}


async def test_an_analysis_is_stored_and_a_stage_comparison_is_not(admin: OpsClient) -> None:
    first = await admin.orchestration.ask("which prod databases are down?")
    second = await admin.orchestration.ask("delete every server")
    analysis = await admin.orchestration.analyze_regression(first.meta.trace_id, second.meta.trace_id, type="full")
    assert analysis.answer_comparison is not None and analysis.answer_comparison.changed
    assert await admin.orchestration.get_regression(analysis.analysis_id) == analysis
    same = await admin.orchestration.analyze_regression(
        first.meta.trace_id, first.meta.trace_id, stages=["execute", "compose"]
    )
    assert same.overall_regression_score == 0 and [r.stage_name for r in same.stage_reports] == ["execute", "compose"]
    compared = await admin.orchestration.stage_compare(first.meta.trace_id, first.meta.trace_id, stages=["execute"])
    assert compared.regression_scores == {"execute": 0} and compared.overall_assessment == "No regression detected"


async def test_errors_are_typed(server: TestServer, admin: OpsClient, make_client: Callable[..., OpsClient]) -> None:
    with pytest.raises(NotFound) as missing:
        await admin.orchestration.get_trace("tr_missing/../../assets")
    assert missing.value.code == "trace_not_found"
    with pytest.raises(NotFound):
        await admin.orchestration.get_regression("reg_missing")
    with pytest.raises(NotFound) as pair:
        await admin.orchestration.stage_compare("tr_a", "tr_b")
    assert "tr_a" in str(pair.value.detail) and "tr_b" in str(pair.value.detail)
    with pytest.raises(InvalidRequest) as invalid:
        await admin.orchestration.list_traces(limit=0)
    assert invalid.value.status == 422 and [e.loc for e in invalid.value.errors] == ["query.limit"]
    answer = await admin.orchestration.ask("help")
    huge = MarkdownBlock(content=MarkdownContent(markdown="x" * UI_RENDER_MAX_BYTES))
    with pytest.raises(OpsClientError) as too_large:
        await admin.orchestration.ui_render(answer.meta.trace_id, [huge])
    assert too_large.value.status == 413
    reader = await server.app[TOKENS].create("reader", "ops:read")
    with pytest.raises(Forbidden):
        await make_client(server, reader).orchestration.analyze_regression(answer.meta.trace_id, answer.meta.trace_id)
