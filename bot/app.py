"""The aiohttp application: channels, the admin API, the simulator and the console."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path

from aiohttp import web

from bot.api import Handler, api_routes, json_errors
from bot.api_actions import action_routes
from bot.api_lists import list_routes
from bot.api_org import org_routes
from bot.api_reports import report_routes
from bot.api_retrain import retrain_routes
from bot.appkeys import RUNTIME, SIMULATOR_LOCKED, TOKEN
from bot.auth.middleware import authenticate
from bot.auth.routes import auth_routes
from bot.auth.sessions import SIGNER, Signer
from bot.channels import MAX_BODY
from bot.channels.routes import ChannelSet, channel_routes
from bot.config import Settings
from bot.http_log import quiet_malformed_requests
from bot.open311.routes import open311_routes
from bot.openapi import openapi_routes
from bot.points_api import points_routes
from bot.probes import probe_routes
from bot.runtime import Runtime
from bot.simulator import STATIC, simulator_routes
from bot.web_security import secure_headers

log = logging.getLogger(__name__)


def admin_token_path(settings: Settings) -> Path:
    return Path(settings.var_dir) / "admin_token"


def admin_token(settings: Settings) -> tuple[str, bool]:
    """The configured token, or one generated on first start and kept under var/.
    The flag says whether it was just generated."""
    if settings.admin_token:
        return settings.admin_token, False
    path = admin_token_path(settings)
    if path.is_file():
        token = path.read_text().strip()
        if token:
            return token, False
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token, True


@web.middleware
async def finish_when_client_leaves(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request is carried through even when its client hangs up half-way (a browser
    leaving a page, a proxy timing out): cancelled inside a statement, a transaction would
    cost the pool its connection, and on SQLite the abandoned connection keeps the write
    lock until it is collected. aiohttp's own servers do not cancel; its test server does."""
    return await asyncio.shield(handler(request))


async def _health(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        async with runtime.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")
    except Exception as exc:
        # The reason goes to the log only: it can name hosts and users of the database.
        log.warning("health check: the database cannot be reached: %s", type(exc).__name__)
        return web.json_response({"ok": False, "database": "unreachable"}, status=503)
    return web.json_response({"ok": True})


async def _console(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "admin.html")


async def _favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "favicon.ico")


async def _index(request: web.Request) -> web.Response:
    raise web.HTTPFound("/simulator" if request.app[RUNTIME].settings.simulator else "/admin")


def create_app(runtime: Runtime, *, workers: bool = True, web_routes: bool = True,
               token: str | None = None) -> web.Application:
    """gridbot's HTTP application. `workers=False` serves without processing (the intake
    still stores everything: a web process); `web_routes=False` serves only its health,
    readiness and metrics (a worker process: it processes, fires timers and sends, and
    takes no callbacks)."""
    settings = runtime.settings
    # A little above the channels' own limit, so they answer 413 with a reason.
    app = web.Application(client_max_size=MAX_BODY + 1024,
                          middlewares=[finish_when_client_leaves, json_errors,
                                       authenticate])
    secure_headers(app)
    quiet_malformed_requests()
    channels = ChannelSet.from_settings(settings)
    app[RUNTIME] = runtime
    app[TOKEN] = token or admin_token(settings)[0]
    app[SIMULATOR_LOCKED] = bool(channels.enabled())
    app[SIGNER] = Signer.from_settings(settings)
    app.router.add_get("/healthz", _health)
    # /livez, /readyz and /metrics on every process's port, a worker's too.
    probe_routes(app, role="worker" if not web_routes else "all" if workers else "web")
    if not web_routes:
        app.cleanup_ctx.append(_lifecycle(runtime, workers))
        return app
    channel_routes(app, channels, runtime.intake.store)
    api_routes(app)
    # The console's actions, lists, org map and retraining.
    action_routes(app)
    list_routes(app)
    org_routes(app)
    retrain_routes(app)
    points_routes(app)
    report_routes(app)
    open311_routes(app)
    openapi_routes(app)
    auth_routes(app)
    app.router.add_get("/admin", _console)
    app.router.add_get("/favicon.ico", _favicon)
    app.router.add_get("/", _index)
    if settings.simulator:
        simulator_routes(app)
    app.router.add_static("/static", STATIC)
    app.cleanup_ctx.append(_lifecycle(runtime, workers))
    return app


def _lifecycle(runtime: Runtime, workers: bool):  # type: ignore[no-untyped-def]
    async def lifecycle(app: web.Application):  # type: ignore[no-untyped-def]
        await runtime.start(workers=workers)
        yield
        await runtime.stop()

    return lifecycle
