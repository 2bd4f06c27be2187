"""What the Assets screen shows of a version, in words and cells, and the confirmations of its two changes (a new
draft, a publish). No app here: the screen calls these."""

import json

from rich.console import Group
from rich.syntax import Syntax
from rich.text import Text

from console.widgets.confirm_dialog import ConfirmView
from shared.orchestration import ASSET_TYPES, Asset, AssetSummary

STATUS_STYLES = {"published": "green", "draft": "yellow", "archived": "dim"}


def version_key(version: str) -> tuple[int, ...]:
    """`1.10.0` sorts after `1.9.0`."""
    return tuple(int(part) for part in version.split("."))


def next_patch(versions: list[str]) -> str:
    """The version after the highest of `versions`: its patch number plus one."""
    major, minor, patch = max(versions, key=version_key).split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


def ordered(assets: list[AssetSummary]) -> list[AssetSummary]:
    """By type in the contract's order, then asset, newest version first."""
    return sorted(
        assets,
        key=lambda a: (ASSET_TYPES.index(a.asset_type), a.asset_id, tuple(-n for n in version_key(a.version))),
    )


def row_cells(asset: AssetSummary) -> list[str | Text]:
    return [
        asset.asset_type,
        asset.asset_id,
        asset.version,
        Text(asset.status, style=STATUS_STYLES.get(asset.status, "")),
        asset.author,
        asset.created_at.strftime("%m-%d %H:%M"),
    ]


def label(asset: AssetSummary) -> str:
    """`policy ops-policy 1.0.0`."""
    return f"{asset.asset_type} {asset.asset_id} {asset.version}"


def content_view(asset: Asset) -> Group:
    """A version's facts, then its content as highlighted JSON."""
    facts = Text(label(asset), style="bold")
    facts.append(" · ")
    facts.append(asset.status, style=STATUS_STYLES.get(asset.status, ""))
    if asset.published_at is not None:
        facts.append(f" {asset.published_at:%Y-%m-%d %H:%M} UTC")
    facts.append(f" · by {asset.author}")
    facts.append(f"\n{asset.name}", style="bold")
    if asset.description:
        facts.append(f": {asset.description}")
    if asset.metadata:
        facts.append("\nmetadata " + json.dumps(asset.metadata, ensure_ascii=False, default=str), style="dim")
    body = json.dumps(asset.content, indent=2, ensure_ascii=False, default=str)
    return Group(facts, Text(), Syntax(body, "json", theme="ansi_dark", word_wrap=True, background_color="default"))


def publish_view(draft: AssetSummary, published: list[AssetSummary]) -> ConfirmView:
    """What publishing `draft` will do: it becomes the version every ask uses; the published one is archived."""
    replaced = ", ".join(p.version for p in published) or "none (the first published version)"
    return ConfirmView(
        title=f"Confirm: publish {label(draft)}",
        rows=(
            ("Asset", f"{draft.asset_type} {draft.asset_id}"),
            ("Publish", f"{draft.version} (draft, by {draft.author})"),
            ("Archive", replaced),
            ("Name", draft.name),
            ("Effect", "every later ask uses this version; it can no longer be edited"),
        ),
    )


def draft_view(source: AssetSummary, version: str) -> ConfirmView:
    return ConfirmView(
        title=f"Confirm: new draft {source.asset_type} {source.asset_id} {version}",
        rows=(
            ("Asset", f"{source.asset_type} {source.asset_id}"),
            ("New version", f"{version} (draft)"),
            ("Content", f"a copy of {source.version} ({source.status})"),
            ("Effect", "none until it is published; an ask may pin it to try it"),
        ),
    )
