"""Take what start-up built out of the garbage collector's sight.

Modules, pydantic models, the application and its services live as long as the process. Left in the collector's
generations, every full collection walks all of them again, and the audit batches that sit queued for a few
milliseconds keep promoting objects until such collections come often under load. Freezing the start-up heap
(`gc.freeze`) moves it to a permanent generation that collections skip; objects made later are collected as
usual."""

import gc

from aiohttp import web


async def freeze_startup_heap(app: web.Application) -> None:
    """An `on_startup` hook, appended after the cleanup contexts have built storage and services."""
    gc.collect()
    gc.freeze()
