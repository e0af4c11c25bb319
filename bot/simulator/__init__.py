"""The chat simulator: write as a resident into a demo building group, or as staff on
WeCom, and watch what gridbot answers and pushes. Its messages go through the same
intake, handlers and outbox as real ones; only the last hop is recorded instead of sent."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.api import RUNTIME, inbound_json, outbox_json
from bot.channels import InboundMessage
from storage.models import InboundRecord, OutboxMessage

STATIC = Path(__file__).parent / "static"
MAX_TEXT = 2000
_sequence = itertools.count()


def _error(reason: str, status: int = 400) -> web.Response:
    return web.json_response({"error": reason}, status=status)


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "simulator.html")


async def directory(request: web.Request) -> web.Response:
    org = await request.app[RUNTIME].org.get()
    return web.json_response(org.directory())


async def say(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error("the body must be JSON")
    if not isinstance(body, dict):
        return _error("the body must be a JSON object")
    text, sender_id = body.get("text"), body.get("sender_id")
    chat_id, sender_name = body.get("chat_id"), body.get("sender_name")
    if not isinstance(text, str) or not text.strip():
        return _error("text must be a non-empty string")
    if len(text) > MAX_TEXT:
        return _error(f"text is longer than {MAX_TEXT} characters")
    if not isinstance(sender_id, str) or not sender_id.strip():
        return _error("sender_id must be a non-empty string")
    if chat_id is not None and not isinstance(chat_id, str):
        return _error("chat_id must be a string or null")
    if sender_name is not None and not isinstance(sender_name, str):
        return _error("sender_name must be a string or null")
    now = time.time()
    message = InboundMessage(
        channel="simulator",
        msg_id=f"sim-{int(now * 1000)}-{next(_sequence)}",
        sender_id=sender_id.strip(),
        text=text,
        sent_at=int(now),
        chat_id=chat_id,
        sender_name=sender_name,
        mentions_bot="@gridbot" in text,
    )
    duplicate = await request.app[RUNTIME].intake.store(message)
    return web.json_response({"accepted": True, "duplicate": duplicate, "msg_id": message.msg_id})


def _cursor(request: web.Request, name: str) -> int:
    try:
        return max(0, int(request.query.get(name, "0")))
    except ValueError:
        return 0


async def feed(request: web.Request) -> web.Response:
    """What came in and what went out since the given cursors, oldest first."""
    runtime = request.app[RUNTIME]
    after_in, after_out = _cursor(request, "after_in"), _cursor(request, "after_out")
    async with runtime.sessions() as session:
        inbound = (await session.execute(
            select(InboundRecord).where(InboundRecord.id > after_in)
            .order_by(InboundRecord.id).limit(200)
        )).scalars().all()
        outbound = (await session.execute(
            select(OutboxMessage).where(OutboxMessage.id > after_out)
            .order_by(OutboxMessage.id).limit(200)
        )).scalars().all()
    in_done = [m for m in inbound if m.status not in _UNSETTLED_IN]
    out_done = [m for m in outbound if m.status != "pending"]
    items: list[dict[str, Any]] = [{"direction": "in", **inbound_json(m)} for m in in_done]
    items += [{"direction": "out", **outbox_json(m)} for m in out_done]
    # Advance only past what is settled, so a row still in flight is shown once it settles.
    return web.json_response({
        "items": items,
        "after_in": _settled_cursor(after_in, [(m.id, m.status not in _UNSETTLED_IN) for m in inbound]),
        "after_out": _settled_cursor(after_out, [(m.id, m.status != "pending") for m in outbound]),
    })


_UNSETTLED_IN = ("received", "processing")


def _settled_cursor(cursor: int, rows: list[tuple[int, bool]]) -> int:
    for row_id, settled in rows:
        if not settled:
            break
        cursor = row_id
    return cursor


def simulator_routes(app: web.Application) -> None:
    app.router.add_get("/simulator", page)
    app.router.add_get("/simulator/api/directory", directory)
    app.router.add_post("/simulator/api/say", say)
    app.router.add_get("/simulator/api/feed", feed)
