"""The Inspector's Webhooks tab: each subscription with its events, state and latest delivery (read with scope
webhooks:admin), and deleting one through the confirm dialog (its delivery log goes with it)."""

from datetime import UTC
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from console.commanding import Prepared, run_flow
from console.problems import read
from console.widgets.confirm_dialog import ConfirmView
from console.widgets.nav_table import NavTable
from shared.scopes import Scope
from shared.webhooks import LastDelivery, Webhook

if TYPE_CHECKING:
    from console.app import OpsConsole

WEBHOOKS_PAGE = 100
LOCKED = "Webhooks need a token with webhooks:admin."

DELIVERY_STYLES = {"succeeded": "green", "pending": "yellow", "failed": "bold red"}
EVENT_WORDS = {"trace.completed": "trace", "replan.decided": "replan", "regression.completed": "regression"}
WEBHOOK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("url", "URL"),
    ("events", "Events"),
    ("state", "State"),
    ("last", "Last delivery"),
)


def last_delivery_text(last: LastDelivery | None) -> Text:
    """'succeeded 200 regression 01-01 09:06' or 'none yet'."""
    if last is None:
        return Text("none yet", style="dim")
    text = Text(last.status, style=DELIVERY_STYLES.get(last.status, ""))
    if last.last_status_code is not None:
        text.append(f" {last.last_status_code}")
    when = last.last_attempt_at or last.created_at
    text.append(f" {EVENT_WORDS.get(last.event_type, last.event_type)} {when.astimezone(UTC):%m-%d %H:%M}")
    return text


def webhook_cells(webhook: Webhook) -> list[str | Text]:
    state = Text(webhook.status, style="green" if webhook.status == "active" else "bold red")
    if webhook.disabled_reason:
        state.append(f" ({webhook.disabled_reason})", style="dim")
    events = ", ".join(EVENT_WORDS.get(event, event) for event in webhook.events)
    return [webhook.url, events, state, last_delivery_text(webhook.last_delivery)]


def delete_view(webhook: Webhook) -> ConfirmView:
    return ConfirmView(
        title="Confirm: delete webhook",
        rows=(
            ("Webhook", webhook.webhook_id),
            ("URL", webhook.url),
            ("Events", ", ".join(webhook.events)),
            ("Removes", "the subscription and its delivery log"),
        ),
    )


class WebhooksPane(Vertical):
    """The Webhooks tab: a line about the subscriptions (or why they cannot be shown) over their table."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._bar = Static(id="hooks-bar", markup=False)
        self._table: NavTable[str | Text] = NavTable(id="webhooks")
        self.webhooks: list[Webhook] = []
        self.total = 0
        self.problem = ""
        """Why the last read failed other than by the connection (a 500, a 403), shown in place."""

    @property
    def ops(self) -> "OpsConsole":
        return cast("OpsConsole", self.app)

    def compose(self) -> ComposeResult:
        yield self._bar
        yield self._table

    def on_mount(self) -> None:
        for key, label in WEBHOOK_COLUMNS:
            self._table.add_column(label, key=key)
        self.show_bar()

    def focus_table(self) -> None:
        self._table.focus()

    @property
    def reading(self) -> bool:
        return any(w.group == "webhooks" and w.is_running for w in self.workers)

    @work(exclusive=True, group="webhooks")
    async def load(self) -> None:
        if not self.ops.has_scope(Scope.WEBHOOKS_ADMIN):
            self.show_bar()
            return
        webhooks = self.ops.client.orchestration.webhooks.list(limit=WEBHOOKS_PAGE)
        listed = await read(self, webhooks, title="Webhooks", on_problem=self._set_problem)
        if listed is None:
            return
        self.problem = ""
        self._show(listed.items, listed.total)

    def _show(self, webhooks: list[Webhook], total: int) -> None:
        self.webhooks, self.total = webhooks, total
        table = self._table
        if [w.webhook_id for w in webhooks] == [str(k.value) for k in table.rows]:
            for webhook in webhooks:
                for (key, _), cell in zip(WEBHOOK_COLUMNS, webhook_cells(webhook), strict=True):
                    table.put(webhook.webhook_id, key, cell)
        else:
            table.clear()
            for webhook in webhooks:
                table.add_row(*webhook_cells(webhook), key=webhook.webhook_id)
        self.show_bar()
        self.screen.refresh_bindings()

    def _set_problem(self, problem: str) -> None:
        self.problem = problem
        self.show_bar()

    def show_bar(self) -> None:
        if self.problem:
            text = self.problem
        elif not self.ops.has_scope(Scope.WEBHOOKS_ADMIN):
            text = LOCKED
        else:
            text = f"{self.total} subscription{'' if self.total == 1 else 's'}, each with its latest delivery"
            text += " · x deletes one" if self.total else ""
            text += " · subscribe with POST /webhooks"
        self._bar.update(text)
        self._bar.set_class(bool(self.problem), "-problem")

    @property
    def selected(self) -> Webhook | None:
        key = self._table.cursor_key
        return next((w for w in self.webhooks if w.webhook_id == key), None)

    @work(exclusive=True, group="delete-webhook")
    async def delete(self, webhook: Webhook) -> None:
        """Delete `webhook` after the confirm dialog; a cancel sends nothing."""
        hooks = self.ops.client.orchestration.webhooks

        async def request(_reason: str | None) -> Prepared[str]:
            return Prepared(delete_view(webhook), webhook.webhook_id)

        async def confirm(webhook_id: str) -> Webhook:
            return await hooks.delete(webhook_id)

        title = f"Delete webhook {webhook.url}"
        deleted = await run_flow(self.ops, title=title, request=request, confirm=confirm, retryable=lambda _e: False)
        if deleted is not None:
            self.ops.say(f"Deleted webhook {deleted.url}.")
            self.load()
