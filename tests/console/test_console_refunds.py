"""Refunds screen (key 9) against the real embedded server: the live board's three agents, the sanitized feed as it
updates, the ledger a keyset page at a time with filters, process-once through the ConfirmDialog (exactly one entry,
its evidence shown, a retry after a timeout processing nothing twice), the audited reveal offered only with
refunds:pii, and a token without refunds:operator that sees board and feed but no ledger keys."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from console_harness import (
    RESTART_SECONDS,
    ConsoleUnderTest,
    PlantServer,
    server_settings,
    status_line_text,
    wait_until,
)
from live_support import add_request, live, refunded
from pydantic import SecretStr
from textual.pilot import Pilot

from console.app import OpsConsole
from console.screens import refunds as refunds_screen
from console.screens import refunds_flows
from console.screens.refunds import LOCKED, RefundsScreen
from console.widgets.agent_card import AgentCard
from console.widgets.confirm_dialog import ConfirmDialog
from console.widgets.evidence_detail import EvidenceDetail
from console.widgets.ledger_table import LedgerTable
from console.widgets.live_feed import LiveFeed
from server.clock import ManualClock
from server.embedded import EmbeddedServer
from server.plant.plant import Plant
from server.services.policy import governor

PROCESS = "/ops/api/refunds/process-once"
LEDGER = "/ops/api/refunds/ledger"
EVIDENCE = "/ops/api/refunds/evidence"
KEY = "ops-console-test-key"
# Six refund requests, oldest first: the worker decides the first four (ALLOW, REQUIRE_APPROVAL, DENY on amount,
# DENY on a suspicious deposit); the last two stay pending.
REQUESTS: tuple[dict[str, Any], ...] = (
    {"amount_minor": 1_000, "currency": "EUR"},
    {"amount_minor": 80_000, "currency": "EUR"},
    {"amount_minor": 600_000, "currency": "USD"},
    {"amount_minor": 2_500, "currency": "EUR", "suspicious": True},
    {"amount_minor": 4_200, "currency": "EUR"},
    {"amount_minor": 12_345, "currency": "GBP"},
)
PEOPLE = (
    ("Ada Lovelace", "ada.lovelace@example.com", "4111111111111111"),
    ("Grace Hopper", "grace.hopper@example.com", "4000056655665556"),
    ("Alan Turing", "alan.turing@example.com", "5555555555554444"),
    ("Edsger Dijkstra", "edsger.dijkstra@example.com", "4242424242424242"),
    ("Barbara Liskov", "barbara.liskov@example.com", "4012888888881881"),
    ("Donald Knuth", "donald.knuth@example.com", "6011111111111117"),
)


@pytest.fixture
def plant_server(tmp_path: Path) -> Iterator[PlantServer]:
    """The console harness's plant server with a fixed audit key (the safe references `dep_…`, `cust_…` the ledger
    shows are keyed HMACs, and snapshots must not depend on a random key) and room in the per-address limit that
    the public board and feed count against."""
    clock = ManualClock()
    plant = Plant(clock, seed=7, restart_seconds=RESTART_SECONDS)
    overrides = {"audit_key": SecretStr("k" * 64), "rate_limit_anon_per_minute": 100_000}
    settings = server_settings(tmp_path / "data").model_copy(update=overrides)
    server = EmbeddedServer(settings, clock=clock, plant=plant)
    server.start()
    try:
        yield PlantServer(server, clock, plant)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def quiet_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Screens refresh when a test says so; the idempotency key is fixed so the confirmation snapshots hold still,
    and so is the decision point's measured latency, which the evidence records (and hashes) and the evidence view
    shows. The cursor rests a while before the evidence is read, so running down the page reads none."""
    monkeypatch.setattr(RefundsScreen, "REFRESH_SECONDS", 3600.0)
    monkeypatch.setattr(RefundsScreen, "PUBLIC_REFRESH_SECONDS", 3600.0)
    monkeypatch.setattr(RefundsScreen, "EVIDENCE_SETTLE_SECONDS", 0.5)
    monkeypatch.setattr(refunds_flows, "new_idempotency_key", lambda: KEY)
    monkeypatch.setattr(governor, "_since", lambda started: 1_234)


def plant_ledger(plant_server: PlantServer, processed: int = 4) -> list[int]:
    """The six requests in the ledger, the oldest `processed` of them decided by the worker; their entry ids."""
    app = plant_server.server.app
    assert app is not None
    ids = []
    for n, (request, (name, email, card)) in enumerate(zip(REQUESTS, PEOPLE, strict=True), start=1):
        overrides = {
            "deposit_id": f"txn-r{n:05d}",
            "customer_id": f"cust-r{n:04d}",
            "customer_name": name,
            "customer_email": email,
            "card_number": card,
            "order_payload": {"order": f"o-{n}", "note": f"refund for {name}"},
            **request,
        }
        ids.append(plant_server.server.run(add_request(app, **overrides)))
    for _ in range(processed):
        plant_server.server.run(live(app).agents.worker.process_once())
    return ids


def guardian_alert(plant_server: PlantServer) -> None:
    """The guardian agent raises an alert about the database, as it does when the plant stops it."""
    app = plant_server.server.app
    assert app is not None
    plant_server.server.run(live(app).agents.guardian.act("alert.raise", "database", "database stopped", down=True))


def screen(app: OpsConsole) -> RefundsScreen:
    base = app.screen_stack[0]
    assert isinstance(base, RefundsScreen), base
    return base


def ledger(app: OpsConsole) -> LedgerTable:
    return screen(app).query_one("#ledger", LedgerTable)


def feed(app: OpsConsole) -> LiveFeed:
    return screen(app).query_one("#feed", LiveFeed)


def shown_ids(app: OpsConsole) -> list[int]:
    return [entry.entry_id for entry in ledger(app).entries]


def footer_keys(app: OpsConsole) -> set[str]:
    return {key for key, active in app.screen.active_bindings.items() if active.enabled and active.binding.show}


async def open_refunds(pilot: Pilot, tab: str = "b") -> None:
    """Key 9 once the token is known, then the tab's key; waits for that tab's first answer."""
    app = pilot.app
    assert isinstance(app, OpsConsole)
    await wait_until(pilot, lambda: app.identified, what="whoami")
    await pilot.press("9")
    await wait_until(pilot, lambda: app.current_mode == "refunds", what="the Refunds screen")
    refunds = screen(app)
    await wait_until(pilot, lambda: refunds.board is not None, what="the board")
    await pilot.press(tab)
    if tab == "f":
        await wait_until(pilot, lambda: feed(app).events, what="the feed")
    if tab == "l":
        await wait_until(pilot, lambda: refunds.page_loaded, what="the ledger page")


async def select_entry(pilot: Pilot, entry_id: int) -> None:
    app = pilot.app
    assert isinstance(app, OpsConsole)
    table = ledger(app)
    await pilot.press("home")
    for _ in range(table.row_count):
        if table.selected is not None and table.selected.entry_id == entry_id:
            return
        await pilot.press("j")
    raise AssertionError(f"entry {entry_id} is not on the page")


def dialog(app: OpsConsole) -> ConfirmDialog:
    assert isinstance(app.screen, ConfirmDialog), app.screen
    return app.screen


class TestRefundsScreen:
    async def test_board_shows_the_three_agents(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        plant_ledger(plant_server)
        guardian_alert(plant_server)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot)
            cards = {card.agent: card for card in screen(console.app).query(AgentCard)}
            assert sorted(cards) == ["guardian", "refund", "signal"]
            await wait_until(pilot, lambda: all(card.status is not None for card in cards.values()))
            assert [cards[n].border_title for n in ("guardian", "signal", "refund")] == ["guardian", "signal", "refund"]
            guardian, signal, refund = (cards[n].status for n in ("guardian", "signal", "refund"))
            assert guardian is not None and (guardian.last_action, guardian.last_decision) == ("alert.raise", "ALLOW")
            assert signal is not None and signal.last_action is None
            # The last of the four decided requests was denied (its deposit is suspicious).
            assert refund is not None and (refund.last_action, refund.last_decision) == ("refund.create", "DENY")
            assert cards["refund"].has_class("-active")

    async def test_board_updates_on_its_interval_and_redraws_only_what_changed(
        self,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(RefundsScreen, "PUBLIC_REFRESH_SECONDS", 0.1)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot)
            cards = {card.agent: card for card in screen(console.app).query(AgentCard)}
            guardian = cards["guardian"]
            await wait_until(pilot, lambda: guardian.status is not None)
            polls = console.transport.sent("GET", "/ops/api/live/status")
            await wait_until(pilot, lambda: console.transport.sent("GET", "/ops/api/live/status") >= polls + 2)
            assert guardian.redraws == 1  # unchanged answers redraw nothing
            guardian_alert(plant_server)
            await wait_until(pilot, lambda: guardian.status is not None and guardian.status.last_action is not None)
            assert guardian.redraws == 2 and cards["signal"].redraws == 1

    async def test_the_feed_updates_newest_on_top(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        plant_ledger(plant_server)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot, "f")
            table = feed(console.app)
            before = [event.sequence for event in table.events]
            assert len(before) == 4 and before == sorted(before, reverse=True)
            guardian_alert(plant_server)
            await pilot.press("r")
            await wait_until(pilot, lambda: len(table.events) == 5, what="the new event")
            newest = table.events[0]
            assert (newest.agent, newest.action, newest.subject) == ("guardian", "alert.raise", "component")
            assert str(table.get_row_at(0)[1]) == "guardian"
            rebuilds = table.rebuilds
            await pilot.press("r")
            await wait_until(pilot, lambda: console.transport.sent("GET", "/ops/api/live/feed") == 3)
            await pilot.pause()
            assert table.rebuilds == rebuilds  # an unchanged feed is not redrawn

    async def test_process_once_through_the_dialog_processes_exactly_one_entry_and_shows_its_evidence(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        ids = plant_ledger(plant_server)
        console = make_console()
        app = plant_server.server.app
        assert app is not None
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot, "l")
            await select_entry(pilot, ids[4])
            await pilot.press("p")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog), what="the dialog")
            rows = dict(dialog(console.app).view.rows)
            assert rows["Entry"].startswith(f"{ids[4]} · pending")
            assert rows["Amount"] == "42.00 EUR"
            assert rows["Customer"].startswith("B*** L***")  # what the dialog shows is masked
            assert rows["Idempotency"] == KEY
            assert console.transport.sent("POST", PROCESS) == 0  # nothing happens before the confirm
            await pilot.press("y")
            await wait_until(pilot, lambda: screen(console.app).evidence, what="the evidence")
            assert console.transport.sent("POST", PROCESS) == 1
            post = next(r for r in console.transport.requests if r.path == PROCESS)
            assert post.body == {"entry_id": ids[4]}
            detail = screen(console.app).query_one(EvidenceDetail)
            await wait_until(pilot, lambda: detail.facts is not None and detail.facts.evidence is not None)
            assert detail.facts is not None and detail.facts.evidence is not None
            assert detail.facts.entry.entry_id == ids[4] and detail.facts.entry.status == "refunded"
            evidence = detail.facts.evidence
            assert (evidence.entry_id, evidence.outcome, evidence.idempotency_key) == (ids[4], "executed", KEY)
            assert (evidence.decision, len(evidence.hash)) == ("ALLOW", 64)
            # Exactly that entry: the other pending one is still pending, and one payout was made for it.
            await wait_until(pilot, lambda: ids[4] in shown_ids(console.app))
            statuses = {e.entry_id: e.status for e in ledger(console.app).entries}
            assert statuses[ids[4]] == "refunded" and statuses[ids[5]] == "pending"
            assert refunded(app)["txn-r00005"] == ["rf-txn-r00005-1"]
            selected = ledger(console.app).selected
            assert selected is not None and selected.entry_id == ids[4]

    async def test_a_retry_after_a_timeout_sends_the_same_key_and_processes_nothing_twice(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        ids = plant_ledger(plant_server)
        console = make_console()
        app = plant_server.server.app
        assert app is not None
        forward = console.transport.handle_async_request
        keys: list[str | None] = []

        async def lose_the_first_answer(request: httpx.Request) -> httpx.Response:
            response = await forward(request)
            if request.url.path == PROCESS:
                keys.append(request.headers.get("Idempotency-Key"))
                if len(keys) == 1:  # processed on the server, but the answer never arrives
                    raise httpx.ReadTimeout("timed out", request=request)
            return response

        console.transport.handle_async_request = lose_the_first_answer  # type: ignore[method-assign]
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot, "l")
            await select_entry(pilot, ids[4])
            await pilot.press("p")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog))
            await pilot.press("y")
            await wait_until(
                pilot, lambda: isinstance(console.app.screen, ConfirmDialog) and dialog(console.app).expired
            )
            assert dialog(console.app).problem is not None  # the timeout is said in the dialog, which offers r
            await pilot.press("r")
            await wait_until(pilot, lambda: "Retry" in dict(dialog(console.app).view.rows), what="the retry view")
            assert dict(dialog(console.app).view.rows)["Entry"].startswith(f"{ids[4]} · refunded")
            await pilot.press("y")
            await wait_until(pilot, lambda: screen(console.app).evidence, what="the evidence")
            assert keys == [KEY, KEY]
            assert refunded(app)["txn-r00005"] == ["rf-txn-r00005-1"]  # one payout for two calls
            assert screen(console.app).evidence[ids[4]].idempotency_key == KEY
            await wait_until(pilot, lambda: ids[4] in shown_ids(console.app))
            statuses = {e.entry_id: e.status for e in ledger(console.app).entries}
            assert statuses[ids[4]] == "refunded" and statuses[ids[5]] == "pending"

    async def test_process_without_a_pending_selection_takes_the_newest_pending_and_cancel_does_nothing(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        ids = plant_ledger(plant_server)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot, "l")
            await select_entry(pilot, ids[0])  # refunded already
            await pilot.press("p")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog))
            assert dict(dialog(console.app).view.rows)["Entry"].startswith(f"{ids[5]} · pending")
            await pilot.press("n")
            await wait_until(pilot, lambda: not isinstance(console.app.screen, ConfirmDialog))
            assert console.transport.sent("POST", PROCESS) == 0
            assert "cancelled; nothing was done" in status_line_text(console.app)

    async def test_nothing_pending_is_said_without_a_dialog(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        plant_ledger(plant_server, processed=6)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot, "l")
            await pilot.press("p")
            await wait_until(pilot, lambda: "nothing to process" in status_line_text(console.app))
            assert not isinstance(console.app.screen, ConfirmDialog)
            assert console.transport.sent("POST", PROCESS) == 0

    async def test_the_ledger_pages_by_cursor_and_filters_on_the_server(
        self,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(RefundsScreen, "PAGE_SIZE", 4)
        ids = plant_ledger(plant_server)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot, "l")
            refunds = screen(console.app)
            assert shown_ids(console.app) == ids[::-1][:4]
            await pilot.press("right_square_bracket")
            await wait_until(pilot, lambda: shown_ids(console.app) == ids[::-1][4:], what="the older page")
            assert refunds.next_cursor is None and "]" not in footer_keys(console.app)
            await pilot.press("left_square_bracket")
            await wait_until(pilot, lambda: shown_ids(console.app) == ids[::-1][:4], what="the newest page again")
            await pilot.press("s", "s")  # all -> pending -> processing: the second filter wins
            await wait_until(pilot, lambda: refunds.page_loaded and not shown_ids(console.app))
            await pilot.press("s", "s")  # -> refunded -> denied
            await wait_until(pilot, lambda: shown_ids(console.app) == [ids[3], ids[2]], what="the denied entries")
            await pilot.press("d", "d", "d")  # decision ALLOW -> DENY -> REQUIRE_APPROVAL: none denied for approval
            await wait_until(pilot, lambda: not shown_ids(console.app), what="no entry")
            reads = [r.query for r in console.transport.requests if r.path == LEDGER]
            assert all("masked=true" in query for query in reads)  # pages are never read unmasked
            assert "cursor=" in reads[1] and "status=denied" in reads[-1] and "decision=REQUIRE_APPROVAL" in reads[-1]
            assert all("limit=4" in query for query in reads)

    async def test_paging_through_the_middle_of_the_ledger_leaves_the_footer_alone(
        self,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The footer is rebuilt (costly, next to painting a page) only when `]` or `[` comes or goes."""
        monkeypatch.setattr(RefundsScreen, "PAGE_SIZE", 1)
        ids = plant_ledger(plant_server)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot, "l")
            refunds = screen(console.app)
            await pilot.press("right_square_bracket")  # page 2: `[` comes
            await wait_until(pilot, lambda: shown_ids(console.app) == [ids[4]], what="page 2")
            refreshed: list[str] = []
            monkeypatch.setattr(refunds, "refresh_bindings", lambda: refreshed.append("footer"))
            for expected in (ids[3], ids[2], ids[1]):
                await pilot.press("right_square_bracket")
                await wait_until(pilot, lambda: shown_ids(console.app) == [expected], what="the next page")  # noqa: B023
            assert refreshed == []
            await pilot.press("right_square_bracket")  # the oldest page: `]` goes
            await wait_until(pilot, lambda: shown_ids(console.app) == [ids[0]], what="the oldest page")
            assert refreshed == ["footer"]

    async def test_the_time_filter_reads_entries_created_since_a_fixed_start(
        self,
        make_console: Callable[..., ConsoleUnderTest],
        plant_server: PlantServer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        ids = plant_ledger(plant_server)  # created at 2026-01-01 09:00 UTC, the plant's clock
        monkeypatch.setattr(refunds_screen, "wall_clock", lambda: datetime(2026, 1, 1, 10, 30, tzinfo=UTC))
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot, "l")
            refunds = screen(console.app)
            await pilot.press("t")  # the last hour: since 09:30, none
            await wait_until(pilot, lambda: refunds.page_loaded and not shown_ids(console.app), what="no entry")
            assert "last hour (t)" in str(refunds.query_one("#ledger-bar").render())
            await pilot.press("t")  # the last 24 h: all six
            await wait_until(pilot, lambda: shown_ids(console.app) == ids[::-1], what="the day's entries")
            sent = [parse_qs(r.query).get("since", [""])[0] for r in console.transport.requests if r.path == LEDGER]
            assert [datetime.fromisoformat(since) for since in sent[-2:]] == [
                datetime(2026, 1, 1, 9, 30, tzinfo=UTC),
                datetime(2025, 12, 31, 10, 30, tzinfo=UTC),
            ]
            await pilot.press("t", "t")  # the last 7 days, then all again
            await wait_until(pilot, lambda: "since=" not in console.transport.requests[-1].query)
            assert refunds.since is None and shown_ids(console.app) == ids[::-1]

    async def test_reveal_is_confirmed_reads_one_entry_unmasked_and_hides_again(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        ids = plant_ledger(plant_server)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot, "l")
            assert "v" in footer_keys(console.app)
            await select_entry(pilot, ids[1])
            detail = screen(console.app).query_one(EvidenceDetail)
            assert detail.facts is not None and detail.facts.entry.customer.name == "G*** H***"
            await pilot.press("v")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog))
            assert "Audit" in dict(dialog(console.app).view.rows)
            unmasked_reads = [
                r for r in console.transport.requests if r.path == LEDGER and "masked=true" not in r.query
            ]
            assert unmasked_reads == []
            await pilot.press("y")
            await wait_until(pilot, lambda: detail.facts is not None and detail.facts.revealed is not None)
            assert detail.facts is not None and detail.facts.revealed is not None
            assert (detail.facts.revealed.name, detail.facts.revealed.card_number) == ("Grace Hopper", PEOPLE[1][2])
            unmasked = [
                (r.path, r.query)
                for r in console.transport.requests
                if r.path.startswith(LEDGER) and "masked=true" not in r.query
            ]
            # Exactly this one entry is read unmasked (and so audited by the server).
            assert unmasked == [(f"{LEDGER}/{ids[1]}", "masked=false")]
            await pilot.press("j")
            assert detail.facts is not None and detail.facts.revealed is None  # gone when the cursor moves on
            assert screen(console.app).revealed is None

    async def test_the_evidence_of_any_processed_entry_is_read_once_the_cursor_rests_on_it(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        ids = plant_ledger(plant_server)  # the worker decided four entries: none from this console
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot, "l")
            await pilot.press("j", "j", "j", "j")  # through two pending entries and past ids[3] without resting
            await select_entry(pilot, ids[2])
            detail = screen(console.app).query_one(EvidenceDetail)
            await wait_until(
                pilot, lambda: detail.facts is not None and detail.facts.evidence is not None, what="the evidence"
            )
            assert detail.facts is not None and detail.facts.evidence is not None
            evidence = detail.facts.evidence
            assert (evidence.entry_id, evidence.decision, evidence.rule) == (ids[2], "DENY", "amount.maximum")
            assert detail.facts.entry.evidence_id == evidence.evidence_id
            assert len(evidence.prev_hash) == 64 and evidence.prev_hash != evidence.hash
            reads = [r.path for r in console.transport.requests if r.path.startswith(EVIDENCE)]
            # Read where the cursor rested (an entry passed over slowly enough, on a busy machine, may be too).
            assert reads[-1] == f"{EVIDENCE}/{evidence.evidence_id}" and reads.count(reads[-1]) == 1
            await pilot.press("j")
            await pilot.press("k")
            await wait_until(pilot, lambda: detail.facts is not None and detail.facts.evidence == evidence)
            # Read once: a record never changes.
            assert [r.path for r in console.transport.requests if r.path.startswith(EVIDENCE)].count(reads[-1]) == 1

    async def test_enter_opens_the_evidence_for_scrolling_and_escape_returns_to_the_ledger(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        ids = plant_ledger(plant_server)
        console = make_console()
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot, "l")
            await select_entry(pilot, ids[1])
            detail = screen(console.app).query_one(EvidenceDetail)
            assert detail.facts is not None and detail.facts.entry.decision == "REQUIRE_APPROVAL"
            await pilot.press("enter")
            assert console.app.focused is detail
            await pilot.press("escape")
            assert console.app.focused is ledger(console.app)

    async def test_reveal_is_not_offered_without_refunds_pii(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        plant_ledger(plant_server)
        token = plant_server.create_token("operator", "refunds:operator")
        console = make_console(token)
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot, "l")
            keys = footer_keys(console.app)
            assert {"p", "s", "d"} <= keys and "v" not in keys
            detail = screen(console.app).query_one(EvidenceDetail)
            assert detail.facts is not None and not detail.facts.can_reveal
            await pilot.press("v")
            assert not isinstance(console.app.screen, ConfirmDialog)
            assert "reveal need refunds:pii" in status_line_text(console.app)

    async def test_a_token_without_refunds_operator_sees_board_and_feed_but_no_ledger_keys(
        self, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer
    ) -> None:
        plant_ledger(plant_server)
        token = plant_server.create_token("viewer", "ops:read")
        console = make_console(token)
        async with console.app.run_test(size=(80, 24)) as pilot:
            await open_refunds(pilot)
            refunds = screen(console.app)
            assert refunds.board is not None and refunds.worker_status is None
            assert "need refunds:operator" in str(refunds.query_one("#board-note").render())
            keys = footer_keys(console.app)
            assert {"b", "f"} <= keys and not keys & {"l", "p", "v", "s", "d"}
            await pilot.press("f")
            await wait_until(pilot, lambda: len(feed(console.app).events) == 4, what="the public feed")
            await pilot.press("l")
            assert "the ledger and process-once need refunds:operator" in status_line_text(console.app)
            await pilot.press("p")
            assert not isinstance(console.app.screen, ConfirmDialog)
            assert (
                refunds.query_one("#ledger-locked").display
                and str(refunds.query_one("#ledger-locked").render()) == LOCKED
            )
            assert not refunds.query_one("#ledger-body").display
            assert not [r for r in console.transport.requests if r.path.startswith("/ops/api/refunds/")]


class TestRefundsSnapshots:
    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_board(
        self, snap_compare: Any, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer, size: Any
    ) -> None:
        plant_ledger(plant_server)
        guardian_alert(plant_server)
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await open_refunds(pilot)
            await wait_until(pilot, lambda: screen(console.app).worker_status is not None)
            console.app.clear_notifications()

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)

    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_feed(
        self, snap_compare: Any, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer, size: Any
    ) -> None:
        plant_ledger(plant_server)
        guardian_alert(plant_server)
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await open_refunds(pilot, "f")
            console.app.clear_notifications()

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)

    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_ledger(
        self, snap_compare: Any, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer, size: Any
    ) -> None:
        ids = plant_ledger(plant_server)
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await open_refunds(pilot, "l")
            await select_entry(pilot, ids[2])
            detail = screen(console.app).query_one(EvidenceDetail)
            await wait_until(pilot, lambda: detail.facts is not None and detail.facts.evidence is not None)
            console.app.clear_notifications()

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)

    @pytest.mark.parametrize("size", [(80, 24), (120, 40)])
    def test_snapshot_process_once_confirmation(
        self, snap_compare: Any, make_console: Callable[..., ConsoleUnderTest], plant_server: PlantServer, size: Any
    ) -> None:
        ids = plant_ledger(plant_server)
        console = make_console()

        async def run_before(pilot: Pilot) -> None:
            await open_refunds(pilot, "l")
            await select_entry(pilot, ids[4])
            await pilot.press("p")
            await wait_until(pilot, lambda: isinstance(console.app.screen, ConfirmDialog))
            console.app.clear_notifications()

        assert snap_compare(console.app, terminal_size=size, run_before=run_before)
