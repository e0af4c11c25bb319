"""The keys under which the application keeps what its handlers share."""

from __future__ import annotations

from aiohttp import web

from bot.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)
TOKEN = web.AppKey("admin_token", str)
#: True when the simulator's API needs the admin token too (a real channel is configured).
SIMULATOR_LOCKED = web.AppKey("simulator_locked", bool)
