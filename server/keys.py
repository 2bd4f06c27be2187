"""Typed keys for what every family shares: the pipeline's stages, handlers and cleanup contexts. A family's own
keys live in its routes module (server/http/control.py has CONTROL)."""

from aiohttp import web

from server.clock import Clock
from server.plant.plant import Plant
from server.services.audit import AuditTrail
from server.services.tokens import TokenService
from server.settings import Settings
from server.storage.database import Database

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
DB = web.AppKey("db", Database)
PLANT = web.AppKey("plant", Plant)
TOKENS = web.AppKey("tokens", TokenService)
AUDIT = web.AppKey("audit", AuditTrail)
