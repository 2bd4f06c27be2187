"""Typed keys for what the application shares between the pipeline's stages, handlers and cleanup contexts."""

from aiohttp import web

from server.clock import Clock
from server.plant.plant import Plant
from server.services.audit import AuditTrail
from server.services.control import ControlService
from server.services.tokens import TokenService
from server.settings import Settings
from server.storage.database import Database

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
DB = web.AppKey("db", Database)
PLANT = web.AppKey("plant", Plant)
TOKENS = web.AppKey("tokens", TokenService)
AUDIT = web.AppKey("audit", AuditTrail)
CONTROL = web.AppKey("control", ControlService)
