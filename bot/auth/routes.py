"""Sign-in and sign-out, and who is signed in."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.auth.viewer import Viewer, require_viewer


def viewer_json(viewer: Viewer) -> dict[str, Any]:
    """`GET /api/v1/me`: who the console is talking to, their scope, and the CSRF token
    every change made with a session must send back in `X-CSRF-Token`."""
    return {
        "kind": viewer.kind,
        "person": viewer.account,
        "name": viewer.name,
        "roles": list(viewer.roles),
        "admin": viewer.is_admin,
        "scope": {"streets": sorted(viewer.street_ids), "districts": sorted(viewer.district_ids),
                  "grids": sorted(viewer.grid_ids), "buildings": sorted(viewer.building_ids),
                  "departments": sorted(viewer.department_ids)},
        "csrf": viewer.csrf,
        "via": viewer.via,
        "expires_at": viewer.expires_at,
    }


async def me(request: web.Request) -> web.Response:
    return web.json_response(viewer_json(await require_viewer(request)))


def auth_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/me", me)
