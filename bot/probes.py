"""What a supervisor, a proxy and Prometheus ask every gridbot process, web and worker alike.

- `/livez`: the process answers (no database): restart it when this fails.
- `/readyz`: it can do its work now — the database answers, Redis answers when configured,
  and in a process that handles messages the NLU model is loaded; 503 naming what is not,
  so a proxy sends callbacks elsewhere meanwhile. Each check is bounded in time.
- `/metrics`: Prometheus's text format (`bot.metrics`); open, or behind a bearer token when
  `GRIDBOT_METRICS_TOKEN` is set. Either way keep it off the internet at the proxy.
- `/healthz` (in `bot.app`) stays as it was: the database answers.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from bot import metrics
from bot.appkeys import RUNTIME
from bot.auth.viewer import bears
from storage.db import within
from storage.errors import short_reason

log = logging.getLogger(__name__)

#: The longest one readiness check waits.
READY_TIMEOUT = 2.0
#: Whether this process handles messages (so its readiness needs the NLU model).
HANDLES = web.AppKey("handles_messages", bool)


async def _livez(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _check(what: str, probe: Any) -> str:
    try:
        await within(probe, READY_TIMEOUT)
    except Exception as exc:
        # The reason goes to the log only: it can name hosts and users.
        log.warning("readiness: %s cannot be reached: %s", what,
                    "timed out" if isinstance(exc, TimeoutError) else short_reason(exc))
        return "unreachable"
    return "ok"


async def _database(runtime: Any) -> None:
    async with runtime.engine.connect() as connection:
        await connection.exec_driver_sql("SELECT 1")


async def _readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    probes = {"database": _database(runtime)}
    if runtime.redis is not None:
        probes["redis"] = runtime.redis.ping()
    answers = await asyncio.gather(*(_check(name, probe) for name, probe in probes.items()))
    checks = dict(zip(probes, answers, strict=True))
    if request.app[HANDLES]:
        checks["nlu"] = "ok" if runtime.models.loaded else "loading"
    ready = all(state == "ok" for state in checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def _metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    token = runtime.settings.metrics_token
    if token and not bears(request, token):
        return web.json_response(
            {"error": "Missing or wrong bearer token (Authorization: Bearer "
                      "<GRIDBOT_METRICS_TOKEN>)."},
            status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body = await metrics.exposition(runtime.engine)
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE,
                                            "Cache-Control": "no-store"})


def probe_routes(app: web.Application, *, role: str) -> None:
    """/livez, /readyz and /metrics for a process of `role` (all, web or worker)."""
    app[HANDLES] = role != "web"
    metrics.PROCESS.labels(role).set(1)
    app.router.add_get("/livez", _livez)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
