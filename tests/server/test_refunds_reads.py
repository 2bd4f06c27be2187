"""The operator's single reads: one ledger entry (masked as the ledger is, an unmasked read audited with the entry
it showed) and one evidence record (with the previous record's hash, so the chain can be followed back)."""

import json

import pytest
from live_support import add_request, add_requests, live
from server_support import Ops

from server.storage.evidence import GENESIS_HASH

LEDGER = "/ops/api/refunds/ledger"
EVIDENCE = "/ops/api/refunds/evidence"
SECRETS = ("Lovelace", "ada.lovelace@example.com", "4111111111111111", "12/29", "please refund Ada")


async def _unmasked_reads(ops: Ops) -> list[dict[str, object]]:
    return [r for r in await ops.audit_rows() if r["action"] == "refunds.ledger.unmasked"]


async def test_one_entry_is_masked_without_refunds_pii(ops: Ops) -> None:
    token = await ops.create_token("operator", "refunds:operator")
    entry = await add_request(ops.app)
    response = await ops.get(f"{LEDGER}/{entry}", token=token)
    raw = await response.text()
    assert response.status == 200, raw
    body = json.loads(raw)
    assert (body["entry_id"], body["status"], body["customer"]["masked"]) == (entry, "pending", True)
    assert body["customer"]["card_number"] == "**** **** **** 1111"
    for secret in SECRETS:
        assert secret not in raw
    assert await _unmasked_reads(ops) == []


async def test_one_entry_unmasked_for_refunds_pii_is_audited_with_its_id(ops: Ops) -> None:
    token = await ops.create_token("privileged", "refunds:operator,refunds:pii")
    entries = await add_requests(ops.app, 3)
    body = await (await ops.get(f"{LEDGER}/{entries[1]}", token=token)).json()
    assert body["entry_id"] == entries[1]
    assert body["customer"]["masked"] is False
    assert body["customer"]["order_payload"]["note"] == "please refund Ada"
    reads = await _unmasked_reads(ops)
    assert [(r["principal"], json.loads(str(r["detail"]))["entry_ids"]) for r in reads] == [
        ("privileged", [entries[1]])
    ]
    masked = await (await ops.get(f"{LEDGER}/{entries[1]}", token=token, params={"masked": "true"})).json()
    assert masked["customer"]["masked"] is True
    assert len(await _unmasked_reads(ops)) == 1


async def test_an_unknown_entry_is_404(ops: Ops) -> None:
    response = await ops.get(f"{LEDGER}/99")
    assert response.status == 404
    assert "99" in (await response.json())["detail"]


@pytest.mark.parametrize("path", [f"{LEDGER}/0", f"{LEDGER}/abc", f"{EVIDENCE}/-1", f"{EVIDENCE}/x"])
async def test_a_bad_id_is_400(ops: Ops, path: str) -> None:
    response = await ops.get(path)
    assert response.status == 400


async def test_an_unknown_query_parameter_is_400(ops: Ops) -> None:
    entry = await add_request(ops.app)
    assert (await ops.get(f"{LEDGER}/{entry}", params={"limit": "1"})).status == 400


async def test_evidence_reads_back_as_recorded_and_chains_to_the_record_before(ops: Ops) -> None:
    await add_requests(ops.app, 2)
    worker = live(ops.app).agents.worker
    first, second = await worker.process_once(), await worker.process_once()
    assert first is not None and second is not None
    entry = await (await ops.get(f"{LEDGER}/{second.entry_id}")).json()
    response = await ops.get(f"{EVIDENCE}/{entry['evidence_id']}")
    body = await response.json()
    assert response.status == 200, body
    assert body["evidence_id"] == second.evidence.evidence_id
    assert (body["entry_id"], body["decision"], body["outcome"]) == (second.entry_id, "ALLOW", "executed")
    assert body["hash"] == second.evidence.hash
    assert body["prev_hash"] == first.evidence.hash
    assert body["proof_status"] == "signed"
    before = await (await ops.get(f"{EVIDENCE}/{first.evidence.evidence_id}")).json()
    assert before["hash"] == body["prev_hash"]
    oldest = await (await ops.get(f"{EVIDENCE}/1")).json()
    assert oldest["prev_hash"] == GENESIS_HASH


async def test_unknown_evidence_is_404(ops: Ops) -> None:
    response = await ops.get(f"{EVIDENCE}/12345")
    assert response.status == 404
