"""Assets screen (from the palette): every version of the assets that drive the ask pipeline — prompt, policy,
query, mapping, screen — with its status; the content of the version under the cursor; and, with `assets:write`,
a new draft copied from a version and the publishing of a draft (the published version before it is archived),
both through the ConfirmDialog."""

import asyncio
from collections.abc import Iterable, Mapping
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Static

from console.connection import ConnectionState
from console.problems import CONNECTION_ERRORS, describe, read
from console.screens.assets_flows import copy_as_draft, publish_draft
from console.screens.assets_words import content_view, label, ordered, row_cells
from console.screens.ops_screen import OpsScreen
from console.widgets.nav_table import NavTable
from shared.errors import OpsClientError
from shared.orchestration import ASSET_TYPES, Asset, AssetSummary, AssetType
from shared.scopes import Scope

COLUMNS = ("type", "asset", "version", "status", "author", "created")
TYPE_FILTERS: tuple[AssetType | None, ...] = (None, *ASSET_TYPES)


class AssetsScreen(OpsScreen):
    HEADING = "Assets"
    CSS_PATH = "assets.tcss"
    ACTION_SCOPES: ClassVar[Mapping[str, Scope]] = {"publish": Scope.ASSETS_WRITE, "draft": Scope.ASSETS_WRITE}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "publish", "Publish", id="assets.publish", tooltip="Publish the draft under the cursor"),
        Binding("d", "draft", "New draft", id="assets.draft", tooltip="A draft copy of the version under the cursor"),
        Binding("f", "cycle_type", "Type", id="assets.type", tooltip="Show one asset type, the next, then all"),
        Binding("r", "refresh", "Refresh", id="assets.refresh", tooltip="Read every type's versions again"),
    ]
    HELP_COLOURS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("published (green)", "the version every ask uses"),
        ("draft (yellow)", "not used until published; p publishes it"),
        ("archived (dim)", "published once, replaced since"),
    )

    assets: reactive[list[AssetSummary]] = reactive(list, always_update=True)
    """Every version of every type, as last read."""
    type_filter: reactive[AssetType | None] = reactive(None, init=False)
    problem: reactive[str] = reactive("", init=False)

    def __init__(self) -> None:
        super().__init__()
        self._table: NavTable[object] = NavTable(id="asset-versions")
        self._content = Static("Select a version to see its content.", id="asset-content-body")
        self._footnote = Static(id="assets-footnote", markup=False)
        self._contents: dict[str, Asset] = {}
        """Contents read, by version id; only of published and archived versions, which cannot change."""
        self._shown_id: str | None = None
        self._want: str | None = None
        """A version to put the cursor on once the list has it (a draft just created)."""

    def compose_body(self) -> Iterable[Widget]:
        yield self._table
        yield VerticalScroll(self._content, id="asset-content")
        yield self._footnote

    def on_mount(self) -> None:
        self._table.add_column("Type", key="type", width=8)
        self._table.add_column("Asset", key="asset", width=14)
        self._table.add_column("Version", key="version", width=8)
        self._table.add_column("Status", key="status", width=9)
        self._table.add_column("Author", key="author", width=14)
        self._table.add_column("Created", key="created", width=11)
        self.watch(self.ops, "connection", self._on_connection, init=False)
        self.watch(self.ops, "scopes", lambda _scopes: self._scopes_changed())
        self._show_footnote()
        self._table.focus()

    def on_screen_resume(self) -> None:
        self.load()

    def _on_connection(self, state: ConnectionState) -> None:
        if state is ConnectionState.CONNECTED:
            self.load()

    def _scopes_changed(self) -> None:
        self.refresh_bindings()
        self._show_footnote()

    # --- reading ---

    @work(exclusive=True, group="assets")
    async def load(self) -> None:
        client = self.ops.client.orchestration
        every_type = asyncio.gather(*(client.assets(asset_type) for asset_type in ASSET_TYPES))
        lists = await read(self, every_type, title="Assets", on_problem=self._set_problem)
        if lists is None:
            return
        self.problem = ""
        self.assets = ordered([asset for listed in lists for asset in listed.assets])

    def _set_problem(self, problem: str) -> None:
        self.problem = problem

    def watch_assets(self) -> None:
        self._fill_table()

    def watch_type_filter(self) -> None:
        self._fill_table()

    def watch_problem(self) -> None:
        self._show_footnote()

    @property
    def listed(self) -> list[AssetSummary]:
        return [a for a in self.assets if self.type_filter is None or a.asset_type == self.type_filter]

    def _fill_table(self) -> None:
        table = self._table
        visible = self.listed
        if [str(key.value) for key in table.rows] != [a.id for a in visible]:
            keep = self._want or table.cursor_key
            table.clear()
            for asset in visible:
                table.add_row(*row_cells(asset), key=asset.id)
            keys = [a.id for a in visible]
            if keep in keys:
                table.move_cursor(row=keys.index(keep))
                self._want = None
        else:
            for asset in visible:
                for column, value in zip(COLUMNS, row_cells(asset), strict=True):
                    table.put(asset.id, column, value)
        self.refresh_bindings()
        self._show_footnote()
        self._follow_cursor()

    @property
    def selected(self) -> AssetSummary | None:
        key = self._table.cursor_key
        return next((a for a in self.assets if a.id == key), None)

    @on(DataTable.RowHighlighted, "#asset-versions")
    def _highlighted(self) -> None:
        self.refresh_bindings()
        self._follow_cursor()

    def _follow_cursor(self) -> None:
        selected = self.selected
        if selected is None:
            self._shown_id = None
            self._content.update("No versions to show." if self.assets else "Reading the assets…")
            return
        if selected.id != self._shown_id or selected.status == "draft":
            self.load_content(selected)

    @work(exclusive=True, group="content")
    async def load_content(self, summary: AssetSummary) -> None:
        asset = self._contents.get(summary.id)
        if asset is None or asset.status != summary.status:
            try:
                asset = await self.ops.client.orchestration.asset(summary.asset_type, summary.asset_id, summary.version)
            except CONNECTION_ERRORS as exc:
                self.ops.show_problem(exc, title=f"Asset {label(summary)}")
                return
            except OpsClientError as exc:
                self._content.update(f"{label(summary)}: {describe(exc)}")
                return
            if asset.status != "draft":
                self._contents[asset.id] = asset
        self._shown_id = asset.id
        self._content.update(content_view(asset))

    def _show_footnote(self) -> None:
        drafts = sum(1 for a in self.assets if a.status == "draft")
        parts = [self.problem] if self.problem else []
        shown = self.type_filter or "all types"
        parts.append(f"{shown}: {len(self.listed)} versions, {drafts} draft" + ("" if drafts == 1 else "s"))
        if not self.ops.has_scope(Scope.ASSETS_WRITE):
            parts.append("read-only token: publishing needs assets:write")
        else:
            parts.append("d: draft from a version · p: publish a draft")
        self._footnote.update(" · ".join(parts))
        self._footnote.set_class(bool(self.problem), "-problem")

    # --- keys ---

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not super().check_action(action, parameters):
            return False
        selected = self.selected
        if action == "publish":
            return selected is not None and selected.status == "draft"
        if action == "draft":
            return selected is not None
        return True

    def action_refresh(self) -> None:
        self.load()

    def action_cycle_type(self) -> None:
        index = TYPE_FILTERS.index(self.type_filter)
        self.type_filter = TYPE_FILTERS[(index + 1) % len(TYPE_FILTERS)]

    def action_publish(self) -> None:
        if not self.require_scope(Scope.ASSETS_WRITE, "asset changes"):
            return
        selected = self.selected
        if selected is None or selected.status != "draft":
            self.ops.say("Only a draft can be published: d makes one from this version.", severity="warning")
            return
        self.publish(selected)

    def action_draft(self) -> None:
        if not self.require_scope(Scope.ASSETS_WRITE, "asset changes"):
            return
        selected = self.selected
        if selected is not None:
            self.new_draft(selected)

    # --- changes, each through the ConfirmDialog ---

    @work(exclusive=True, group="change")
    async def publish(self, draft: AssetSummary) -> None:
        published = await publish_draft(self.ops, draft)
        if published is not None:
            self.ops.say(f"Published {label(published)}; the version published before is archived.")
            self.load()

    @work(exclusive=True, group="change")
    async def new_draft(self, source: AssetSummary) -> None:
        created = await copy_as_draft(self.ops, source)
        if created is not None:
            self.ops.say(f"Created the draft {label(created)}; p publishes it.")
            self._want = created.id
            self.load()
