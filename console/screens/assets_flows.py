"""The Assets screen's two changes, each a `run_flow` through the ConfirmDialog: publish a draft (the published
version before it is archived) and make a new draft as a copy of a version. Run inside the screen's workers."""

from typing import TYPE_CHECKING

from console.commanding import Prepared, run_flow
from console.screens.assets_words import draft_view, label, next_patch, publish_view
from shared.errors import Conflict, OpsClientError
from shared.orchestration import Asset, AssetSummary

if TYPE_CHECKING:
    from console.app import OpsConsole


async def publish_draft(app: "OpsConsole", draft: AssetSummary) -> Asset | None:
    """The published version, or None when the operator cancelled or the server refused (the app said why)."""
    client = app.client.orchestration

    async def request(_reason: str | None) -> Prepared[AssetSummary]:
        # Read now, not from the table: the dialog says what the publish will archive as things stand.
        published = await client.assets(draft.asset_type, asset_id=draft.asset_id, status="published")
        return Prepared(publish_view(draft, published.assets), draft)

    async def confirm(ticket: AssetSummary) -> Asset:
        return await client.publish_asset(ticket.asset_type, ticket.asset_id, ticket.version)

    return await run_flow(app, title=f"Publish {label(draft)}", request=request, confirm=confirm)


async def copy_as_draft(app: "OpsConsole", source: AssetSummary) -> Asset | None:
    """A new draft with `source`'s content and the next patch version of its asset, or None (cancelled, refused)."""
    client = app.client.orchestration

    async def request(_reason: str | None) -> Prepared[tuple[Asset, str]]:
        versions = await client.assets(source.asset_type, asset_id=source.asset_id)
        original = await client.asset(source.asset_type, source.asset_id, source.version)
        version = next_patch([a.version for a in versions.assets])
        return Prepared(draft_view(source, version), (original, version))

    async def confirm(ticket: tuple[Asset, str]) -> Asset:
        original, version = ticket
        return await client.create_asset(
            original.asset_type,
            original.asset_id,
            version,
            name=original.name,
            description=original.description,
            metadata=original.metadata,
            content=original.content,
        )

    def taken(exc: OpsClientError) -> bool:
        # Someone made that version meanwhile: a new request picks the next one.
        return isinstance(exc, Conflict)

    return await run_flow(app, title=f"New draft of {label(source)}", request=request, confirm=confirm, retryable=taken)
