"""client.live against a real server: the public board and feed without a token, the operator's tools with one,
process-once's Idempotency-Key, and the family's errors as the typed errors."""

from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestServer
from live_support import add_requests

from server.keys import TOKENS
from shared.client import OpsClient
from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthorized
from shared.live import LiveStatus

MakeClient = Callable[..., OpsClient]


async def test_the_public_board_and_feed_need_no_token(server: TestServer, make_client: MakeClient) -> None:
    anonymous = make_client(server, None)
    await add_requests(server.app, 1)
    admin = make_client(server)
    await admin.live.process_once()
    status = await anonymous.live.status()
    assert isinstance(status, LiveStatus)
    assert status.tenant == "public-demo"
    assert (status.refund.last_action, status.refund.last_decision) == ("refund.create", "ALLOW")
    feed = await anonymous.live.feed(limit=5)
    assert [(e.agent, e.outcome) for e in feed.items] == [("refund", "executed")]


async def test_a_bad_limit_is_refused_before_the_call(admin: OpsClient) -> None:
    with pytest.raises(ValueError):
        await admin.live.feed(limit=0)


async def test_the_operator_tools_answer_typed_models(server: TestServer, admin: OpsClient) -> None:
    entries = await add_requests(server.app, 3)
    result = await admin.live.process_once(entry_id=entries[1])
    assert result.processed and result.entry_id == entries[1]
    assert result.evidence is not None and result.evidence.entry_id == entries[1]
    status = await admin.live.refund_agent_status()
    assert status.queue_depth == 2 and status.last_decision == "ALLOW"
    page = await admin.live.ledger(limit=2)
    assert [i.entry_id for i in page.items] == entries[:0:-1]
    rest = await admin.live.ledger(limit=2, cursor=page.next_cursor)
    assert [i.entry_id for i in rest.items] == [entries[0]] and rest.next_cursor is None
    masked = await admin.live.ledger(status="refunded", masked=True)
    assert [i.customer.masked for i in masked.items] == [True]


async def test_one_entry_and_its_evidence(server: TestServer, admin: OpsClient) -> None:
    entries = await add_requests(server.app, 2)
    result = await admin.live.process_once()
    assert result.evidence is not None
    masked = await admin.live.ledger_entry(entries[0], masked=True)
    assert (masked.entry_id, masked.customer.masked, masked.evidence_id) == (
        entries[0],
        True,
        result.evidence.evidence_id,
    )
    unmasked = await admin.live.ledger_entry(entries[0])  # the admin token has refunds:pii
    assert unmasked.customer.email == "ada.lovelace@example.com"
    evidence = await admin.live.evidence(result.evidence.evidence_id)
    assert evidence == result.evidence
    with pytest.raises(NotFound):
        await admin.live.ledger_entry(999)
    with pytest.raises(NotFound):
        await admin.live.evidence(999)


async def test_an_idempotency_key_makes_a_retry_safe(server: TestServer, admin: OpsClient) -> None:
    await add_requests(server.app, 2)
    first = await admin.live.process_once(idempotency_key="console-1")
    again = await admin.live.process_once(idempotency_key="console-1")
    assert again == first
    with pytest.raises(Conflict):
        await admin.live.process_once(entry_id=first.entry_id)  # no longer pending


async def test_errors_are_the_typed_errors(server: TestServer, make_client: MakeClient) -> None:
    with pytest.raises(Unauthorized) as unauthorized:
        await make_client(server, None).live.ledger()
    assert unauthorized.value.detail == "Invalid or missing credentials"
    token = await server.app[TOKENS].create("reader", "ops:read")
    with pytest.raises(Forbidden):
        await make_client(server, token).live.refund_agent_status()
    await add_requests(server.app, 1)
    admin = make_client(server)
    await admin.live.process_once(idempotency_key="k")
    with pytest.raises(InvalidRequest) as reused:
        await admin.live.process_once(entry_id=1, idempotency_key="k")
    assert reused.value.status == 422
