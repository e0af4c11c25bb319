"""Pictures of tickets over HTTP.

- `GET /api/v1/tickets/{id}/attachments/{n}`: a ticket's picture, for the admin token or a
  signed-in person whose scope covers the ticket (like `GET /api/v1/tickets/{id}`).
- `GET /p/{token}`: a staff member's picture after 完成, as the residents got it in their
  chat: the unguessable token is the only key, and only such pictures have one.

A ticket in JSON lists its pictures as `attachments`: `{"kind": "image", "url": …}`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot import params
from bot.appkeys import RUNTIME
from bot.auth.viewer import require_viewer, visible_ticket
from bot.photos import SHARED_PATH
from storage import attachments

MAX_TOKEN_CHARS = 64


def attachment_url(ticket_id: int, attachment_id: int) -> str:
    return f"/api/v1/tickets/{ticket_id}/attachments/{attachment_id}"


async def add_attachments(session: AsyncSession, bodies: Iterable[dict[str, Any]]) -> None:
    """Give each ticket JSON its `attachments`."""
    bodies = list(bodies)
    found = await attachments.of_tickets(session, (b["id"] for b in bodies))
    for body in bodies:
        body["attachments"] = [{"kind": "image", "url": attachment_url(body["id"], a)}
                               for a in found.get(body["id"], [])]


def _picture(content_type: str, data: bytes) -> web.Response:
    return web.Response(body=data, headers={
        "Content-Type": content_type,
        "Content-Disposition": "inline",
        "Cache-Control": "private, max-age=3600",
    })


async def get_attachment(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    ticket_id = params.path_id(request)
    attachment_id = params.path_id(request, "attachment")
    org = await runtime.org.get()
    async with runtime.sessions() as session:
        ticket = await visible_ticket(session, viewer, org, ticket_id)
        found = await attachments.picture(session, ticket_id, attachment_id) \
            if ticket is not None else None
    if found is None:
        return web.json_response({"error": f"no picture {attachment_id} of ticket #{ticket_id}"},
                                 status=404)
    response = _picture(*found)
    # Kept by the browser only for the person who asked (a session or the token).
    response.headers["Cache-Control"] = "private, no-store"
    return response


async def shared_picture(request: web.Request) -> web.Response:
    token = params.path_text(request, "token", MAX_TOKEN_CHARS)
    async with request.app[RUNTIME].sessions() as session:
        found = await attachments.shared_picture(session, token)
    if found is None:
        raise web.HTTPNotFound(text="这张照片不存在。")
    return _picture(*found)


def attachment_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/tickets/{id}/attachments/{attachment}", get_attachment)
    app.router.add_get(SHARED_PATH + "{token}", shared_picture)
