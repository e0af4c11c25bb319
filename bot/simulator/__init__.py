"""The chat simulator: write as a resident into a demo building group, or as staff on
WeCom, and watch what gridbot answers and pushes. Its messages go through the same
intake, handlers and outbox as real ones; only the last hop is recorded instead of sent.

Without channels (the demo) its API is open, on 127.0.0.1 by default. Once any real channel is
configured, its API needs the admin token (`bot.api.require_token`) and its feed masks what a
building group would not show (`feed_mask`)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot import params
from bot.api import RUNTIME, SIMULATOR_LOCKED, inbound_json, outbox_json
from bot.channels import InboundMessage
from bot.simulator.feed_mask import FeedMask
from domain.org import OrgMap
from storage.models import InboundRecord, OutboxMessage

STATIC = Path(__file__).parent / "static"
MAX_TEXT = 2000
MAX_ID_CHARS = 100
MAX_CHAT_CHARS = 200
MAX_NAME_CHARS = 100
MAX_CURSOR = 2**62
FEED_PAGE = 200
_sequence = itertools.count()


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "simulator.html")


async def directory(request: web.Request) -> web.Response:
    org = await request.app[RUNTIME].org.get()
    return web.json_response(with_kinds(org, org.directory()))


def person_kinds(org: OrgMap, person_id: int) -> list[str]:
    """What a person is, in the words the simulator picks commands by: grid_worker,
    grid_leader, captain, volunteer, mediator, department, district_admin, street_admin."""
    person = org.person(person_id)
    if person is None:
        return []
    kinds = {f"{role.scope}_admin" if role.role == "admin" else role.role for role in person.roles}
    return sorted(kinds)


def with_kinds(org: OrgMap, directory: dict[str, Any]) -> dict[str, Any]:
    """The directory with each staff member's and volunteer's `kinds`."""
    for entry in [*directory.get("staff", []), *directory.get("volunteers", [])]:
        entry["kinds"] = person_kinds(org, entry["id"])
    return directory


async def say(request: web.Request) -> web.Response:
    body = await params.json_object(request)
    params.only_fields(body, ("text", "sender_id", "chat_id", "sender_name"))
    text = params.json_text(body, "text", max_chars=MAX_TEXT)
    sender_id = params.json_text(body, "sender_id", max_chars=MAX_ID_CHARS)
    chat_id = params.json_text(body, "chat_id", max_chars=MAX_CHAT_CHARS)
    sender_name = params.json_text(body, "sender_name", max_chars=MAX_NAME_CHARS)
    if not text or not text.strip():
        raise params.BadRequest("text must be a non-empty string")
    if not sender_id or not sender_id.strip():
        raise params.BadRequest("sender_id must be a non-empty string")
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


async def feed(request: web.Request) -> web.Response:
    """What came in and what went out since the given cursors, oldest first."""
    runtime = request.app[RUNTIME]
    q = request.query
    after_in = params.query_int(q, "after_in", default=0, low=0, high=MAX_CURSOR)
    after_out = params.query_int(q, "after_out", default=0, low=0, high=MAX_CURSOR)
    async with runtime.sessions() as session:
        inbound = (await session.execute(
            select(InboundRecord).where(InboundRecord.id > after_in)
            .order_by(InboundRecord.id).limit(FEED_PAGE)
        )).scalars().all()
        outbound = (await session.execute(
            select(OutboxMessage).where(OutboxMessage.id > after_out)
            .order_by(OutboxMessage.id).limit(FEED_PAGE)
        )).scalars().all()
    in_done = [m for m in inbound if m.status not in _UNSETTLED_IN]
    out_done = [m for m in outbound if m.status != "pending"]
    items: list[dict[str, Any]] = [{"direction": "in", **inbound_json(m)} for m in in_done]
    items += [{"direction": "out", **outbox_json(m)} for m in out_done]
    if request.app.get(SIMULATOR_LOCKED, False):
        org = await runtime.org.get()
        mask = FeedMask.of([*org.people_by_wecom, *org.people_by_wechat])
        items = [mask.apply(item) for item in items]
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
