"""The property the public surface rests on: whatever customer data refund requests carry, no public answer — the
live board, the feed, their error answers — contains any of it, whatever the policy decided; nor does the
operator's masked ledger, its masked single entries or its evidence records."""

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_support import live, plant_request
from ops_constants import ADMIN_TOKEN
from pydantic import SecretStr

from server.app import create_app
from server.clock import ManualClock
from server.settings import Settings
from server.storage.audit_writer import WriterKind

# Every value holds a space, an "@" or a "/", or is a 16-digit run: none of which any public answer has, so a
# match can only be a leak.
names = st.from_regex(r"[A-Z][a-z]{2,10} [A-Z][a-z]{2,12}", fullmatch=True)
emails = st.from_regex(r"[a-z]{2,10}\.[a-z]{2,10}@[a-z]{3,10}\.(com|org|net)", fullmatch=True)
cards = st.from_regex(r"4[0-9]{15}", fullmatch=True)
expiries = st.from_regex(r"(0[1-9]|1[0-2])/[2-3][0-9]", fullmatch=True)
notes = st.from_regex(r"[A-Za-z0-9]{2,12} [A-Za-z0-9 ]{2,20}", fullmatch=True)
requests = st.fixed_dictionaries(
    {
        "customer_name": names,
        "customer_email": emails,
        "card_number": cards,
        "card_expiry": expiries,
        "note": notes,
        "amount_minor": st.integers(min_value=1, max_value=1_000_000),
        "suspicious": st.booleans(),
        "under_investigation": st.booleans(),
    }
)


def _settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        api_token=SecretStr(ADMIN_TOKEN),
        rate_limit_anon_per_minute=10_000,
        rate_limit_per_minute=10_000,
        plant_tick_seconds=3600,
        audit_writer=WriterKind.THREAD,
    )


async def _public_answers(batch: list[dict[str, Any]], data_dir: Path) -> tuple[list[str], str]:
    """Feed `batch` through intake and the worker; return every public answer's text and the masked ledger's."""
    app = create_app(_settings(data_dir), clock=ManualClock())
    async with TestClient(TestServer(app)) as client:
        for fields in batch:
            fields = dict(fields)
            note = fields.pop("note")
            request = await plant_request(
                client.app, order_payload={"note": note, "address": f"{note} Street"}, **fields
            )
            await live(client.app).agents.intake.receive(request)
        for _ in batch:
            await live(client.app).agents.worker.process_once()
        answers = [
            await (await client.get(path, params=params)).text()
            for path, params in (
                ("/ops/api/live/status", {}),
                ("/ops/api/live/feed", {"limit": "100"}),
                ("/ops/api/live/feed", {"limit": "1000"}),
                ("/ops/api/refunds/ledger", {}),  # without a token: refused, and the refusal must not leak
            )
        ]
        # The admin token has refunds:pii too: it asks for the masked views.
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        masked = {"masked": "true"}
        ledger = await (
            await client.get("/ops/api/refunds/ledger", params={"limit": "200", **masked}, headers=admin)
        ).text()
        for entry in json.loads(ledger)["items"]:
            one = await client.get(f"/ops/api/refunds/ledger/{entry['entry_id']}", params=masked, headers=admin)
            ledger += await one.text()
            if entry["evidence_id"] is not None:
                ledger += await (
                    await client.get(f"/ops/api/refunds/evidence/{entry['evidence_id']}", headers=admin)
                ).text()
    return answers, ledger


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(requests, min_size=1, max_size=6))
def test_no_public_answer_contains_any_customer_data(batch: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        answers, ledger = asyncio.run(_public_answers(batch, Path(tmp)))
    secrets = [value for fields in batch for key, value in fields.items() if isinstance(value, str)]
    for answer in [*answers, ledger]:
        for secret in secrets:
            assert secret not in answer
    assert '"masked":true' in ledger
