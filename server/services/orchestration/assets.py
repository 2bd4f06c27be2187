"""The asset registry: versions of prompts, policies, query templates, mappings and screen layouts, each a draft
until published; publishing archives the version published before. The ask pipeline reads the published version
of each asset it uses, or the version a request pins (`asset_overrides`), and records which."""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from server.clock import Clock
from server.errors import Conflict, DependencyFailure, FieldError, NotFound, ValidationFailed
from server.services.orchestration.asset_content import (
    CONTENT_MODELS,
    PIPELINE_ASSETS,
    MappingContent,
    PolicyContent,
    PromptContent,
    QueryContent,
    ScreenContent,
)
from server.storage.assets import AssetRepository, Outcome, StoredAsset, asset_key
from shared.orchestration import (
    VERSION_PATTERN,
    Asset,
    AssetCreate,
    AssetList,
    AssetListQuery,
    AssetSummary,
    AssetType,
    AssetUpdate,
)


@dataclass(frozen=True, slots=True)
class AppliedAssets:
    """The asset versions one ask runs with, and their references (`type -> asset_id:version`) for the trace."""

    prompt: PromptContent
    policy: PolicyContent
    query: QueryContent
    mapping: MappingContent
    screen: ScreenContent
    refs: dict[str, str]


def _summary(asset: StoredAsset) -> AssetSummary:
    return AssetSummary.model_validate(_fields(asset))


def _full(asset: StoredAsset) -> Asset:
    return Asset.model_validate({**_fields(asset), "content": asset.content})


def _fields(asset: StoredAsset) -> dict[str, Any]:
    return {
        "id": asset.id,
        "asset_type": asset.asset_type,
        "asset_id": asset.asset_id,
        "version": asset.version,
        "name": asset.name,
        "description": asset.description,
        "created_at": asset.created_at,
        "status": asset.status,
        "author": asset.author,
        "metadata": asset.metadata,
        "published_at": asset.published_at,
    }


def check_content(asset_type: AssetType, content: dict[str, Any]) -> BaseModel:
    """The content as its type's model; a ValidationFailed naming each invalid field of the body's `content`."""
    try:
        return CONTENT_MODELS[asset_type].model_validate(content)
    except ValidationError as exc:
        raise ValidationFailed(
            [
                FieldError("body", ("content", *err["loc"]), err["msg"], err["type"])
                for err in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
        ) from None


class AssetService:
    def __init__(self, repository: AssetRepository, clock: Clock) -> None:
        self._repository = repository
        self._clock = clock
        self._published: dict[tuple[str, str], tuple[StoredAsset, BaseModel]] = {}
        self._parsed: dict[str, BaseModel] = {}  # contents of immutable versions, by version key

    async def seed(self, directory: Path) -> list[str]:
        """Publish each asset file of `directory` whose asset has no version yet (the first start); returns their
        ids. Later versions are the registry's business, so a restart never overrides what operators published."""
        now = self._clock.now()
        assets = []
        for path in sorted(directory.glob("*.json")):
            raw = json.loads(path.read_text(encoding="utf-8"))
            asset_type = cast(AssetType, raw["asset_type"])
            check_content(asset_type, raw["content"])
            assets.append(
                StoredAsset(
                    id=asset_key(asset_type, raw["asset_id"], raw["version"]),
                    asset_type=asset_type,
                    asset_id=raw["asset_id"],
                    version=raw["version"],
                    name=raw["name"],
                    description=raw.get("description", ""),
                    status="published",
                    author=raw.get("author", "ops-team"),
                    metadata=raw.get("metadata", {}),
                    content=raw["content"],
                    created_at=now,
                    published_at=now,
                )
            )
        seeded = await self._repository.seed(assets)
        await self.reload()
        return seeded

    async def reload(self) -> None:
        """Read the published versions again (at start and after each publish)."""
        published: dict[tuple[str, str], tuple[StoredAsset, BaseModel]] = {}
        for asset in await self._repository.published():
            content = CONTENT_MODELS[cast(AssetType, asset.asset_type)].model_validate(asset.content)
            published[(asset.asset_type, asset.asset_id)] = (asset, content)
        self._published = published

    async def list(self, asset_type: AssetType, query: AssetListQuery) -> AssetList:
        assets = await self._repository.versions(
            asset_type, version=query.version, status=query.status, asset_id=query.asset_id
        )
        return AssetList(assets=[_summary(a) for a in assets], total=len(assets))

    async def get(self, asset_type: AssetType, asset_id: str, version: str) -> Asset:
        return _full(await self._stored(asset_type, asset_id, version))

    async def _stored(self, asset_type: AssetType, asset_id: str, version: str) -> StoredAsset:
        asset = await self._repository.get(asset_type, asset_id, version)
        if asset is None:
            raise NotFound(f"no {asset_type} asset '{asset_id}' version {version}", code="asset_not_found")
        return asset

    async def create(self, asset_type: AssetType, body: AssetCreate, author: str) -> Asset:
        check_content(asset_type, body.content)
        asset = StoredAsset(
            id=asset_key(asset_type, body.asset_id, body.version),
            asset_type=asset_type,
            asset_id=body.asset_id,
            version=body.version,
            name=body.name,
            description=body.description,
            status="draft",
            author=author,
            metadata=body.metadata,
            content=body.content,
            created_at=self._clock.now(),
            published_at=None,
        )
        if await self._repository.insert(asset) is Outcome.EXISTS:
            raise Conflict(
                f"{asset_type} asset '{body.asset_id}' already has a version {body.version}",
                code="asset_version_exists",
            )
        return _full(asset)

    async def update(self, asset_type: AssetType, asset_id: str, version: str, body: AssetUpdate) -> Asset:
        changes = body.model_dump(exclude_none=True)
        if "content" in changes:
            check_content(asset_type, changes["content"])
        outcome = await self._repository.update_draft(asset_type, asset_id, version, changes)
        if outcome is Outcome.MISSING:
            raise NotFound(f"no {asset_type} asset '{asset_id}' version {version}", code="asset_not_found")
        if outcome is Outcome.IMMUTABLE:
            raise Conflict(
                f"{asset_type} asset '{asset_id}' version {version} is no longer a draft: create a new version",
                code="asset_immutable",
            )
        return await self.get(asset_type, asset_id, version)

    async def publish(self, asset_type: AssetType, asset_id: str, version: str) -> tuple[Asset, str | None]:
        """Publish a version; returns it and the version archived by it, if any."""
        asset = await self._stored(asset_type, asset_id, version)
        check_content(asset_type, asset.content)  # a draft written before a schema change may no longer fit
        outcome, archived = await self._repository.publish(asset_type, asset_id, version, self._clock.now())
        if outcome is Outcome.MISSING:
            raise NotFound(f"no {asset_type} asset '{asset_id}' version {version}", code="asset_not_found")
        await self.reload()
        return await self.get(asset_type, asset_id, version), archived

    async def resolve(self, overrides: dict[AssetType, str]) -> AppliedAssets:
        """The pipeline's assets: the published version of each, or the version `overrides` pins."""
        contents: dict[str, BaseModel] = {}
        refs: dict[str, str] = {}
        for asset_type, asset_id in PIPELINE_ASSETS.items():
            pinned = overrides.get(asset_type)
            if pinned is not None:
                contents[asset_type], refs[asset_type] = await self._pinned(asset_type, asset_id, pinned)
                continue
            found = self._published.get((asset_type, asset_id))
            if found is None:
                raise DependencyFailure(f"no published {asset_type} asset '{asset_id}'", code="asset_unavailable")
            contents[asset_type], refs[asset_type] = found[1], f"{asset_id}:{found[0].version}"
        return AppliedAssets(
            prompt=cast(PromptContent, contents["prompt"]),
            policy=cast(PolicyContent, contents["policy"]),
            query=cast(QueryContent, contents["query"]),
            mapping=cast(MappingContent, contents["mapping"]),
            screen=cast(ScreenContent, contents["screen"]),
            refs=refs,
        )

    async def _pinned(self, asset_type: AssetType, default_id: str, pinned: str) -> tuple[BaseModel, str]:
        asset_id, _, version = pinned.rpartition(":")
        asset_id = asset_id or default_id
        if not _is_version(version):
            raise ValidationFailed(
                [
                    FieldError(
                        "body",
                        ("context", "asset_overrides", asset_type),
                        "expected 'asset_id:version' or a version such as 1.0.0",
                        "value_error",
                    )
                ]
            )
        key = asset_key(asset_type, asset_id, version)
        parsed = self._parsed.get(key)
        if parsed is None:
            asset = await self._stored(asset_type, asset_id, version)
            parsed = CONTENT_MODELS[asset_type].model_validate(asset.content)
            if asset.status != "draft":  # drafts change: read them again each time
                self._parsed[key] = parsed
        return parsed, f"{asset_id}:{version}"


def _is_version(text: str) -> bool:
    return re.fullmatch(VERSION_PATTERN, text) is not None
