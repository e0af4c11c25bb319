"""The chat simulator: write as a resident into a demo building group, or as staff on
WeCom, and watch what gridbot answers and pushes. Its messages go through the same
intake, handlers and outbox as real ones; only the last hop is recorded instead of sent.

Without channels (the demo) its API is open, on 127.0.0.1 by default. Once any real channel is
configured, its API needs the admin token (`bot.api.require_token`) and its feed masks what a
building group would not show (`feed_mask`)."""

from __future__ import annotations

import base64
import itertools
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot import media, params
from bot.api import RUNTIME, SIMULATOR_LOCKED, inbound_json, outbox_json
from bot.channels import InboundMessage
from bot.channels.media import IMAGE, VOICE, inline_ref, spoken
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
#: A say with a picture: the picture's base64 (at most media.MAX_BYTES) and the rest.
MAX_SAY_BYTES = (media.MAX_BYTES + 2) // 3 * 4 + 64 * 1024
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
    """A message into a group (chat_id) or 1:1 (no chat_id). `voice`: it was spoken, and
    `text` is its transcription (empty: speech recognition made nothing of it). `picture`:
    a photo sent with it, base64 encoded; held to the same type and size rules as a
    channel's picture (bot.media.checked)."""
    body = await params.json_object(request, max_bytes=MAX_SAY_BYTES)
    params.only_fields(body, ("text", "sender_id", "chat_id", "sender_name", "voice",
                              "picture", "mentions_bot"))
    text = params.json_text(body, "text", max_chars=MAX_TEXT) or ""
    sender_id = params.json_text(body, "sender_id", max_chars=MAX_ID_CHARS)
    chat_id = params.json_text(body, "chat_id", max_chars=MAX_CHAT_CHARS)
    sender_name = params.json_text(body, "sender_name", max_chars=MAX_NAME_CHARS)
    voice = params.json_flag(body, "voice")
    picture = _picture(body.get("picture"))
    if voice and picture is not None:
        raise params.BadRequest("a message is a voice or carries a picture, not both")
    if voice:
        text = spoken(text)
    elif not text.strip() and picture is None:
        raise params.BadRequest("text must be a non-empty string")
    if not sender_id or not sender_id.strip():
        raise params.BadRequest("sender_id must be a non-empty string")
    mentions = body.get("mentions_bot")
    if mentions is not None and not isinstance(mentions, bool):
        raise params.BadRequest("mentions_bot must be true or false")
    now = time.time()
    message = InboundMessage(
        channel="simulator",
        msg_id=f"sim-{int(now * 1000)}-{next(_sequence)}",
        sender_id=sender_id.strip(),
        text=text,
        sent_at=int(now),
        chat_id=chat_id,
        sender_name=sender_name,
        mentions_bot=bool(mentions) or "@gridbot" in text,
        # As a bridge's: a picture with words is read as text, and the picture goes with it.
        kind=VOICE if voice else IMAGE if picture is not None and not text.strip() else "text",
        media=inline_ref(picture) if picture is not None else None,
    )
    duplicate = await request.app[RUNTIME].intake.store(message)
    return web.json_response({"accepted": True, "duplicate": duplicate, "msg_id": message.msg_id})


def _picture(value: Any) -> bytes | None:
    """The bytes of a `picture` field (base64, or a data: URL), if it is a picture gridbot keeps."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise params.BadRequest("picture must be a base64 string")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        data = base64.b64decode(value, validate=True)
    except ValueError:
        raise params.BadRequest("picture must be a base64 string") from None
    try:
        media.checked(data)
    except media.MediaRefused as exc:
        raise params.BadRequest(f"picture: {exc}") from None
    return data


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
    items: list[dict[str, Any]] = [
        {"direction": "in", **inbound_json(m), "kind": m.kind,
         "picture": bool(m.media) and m.kind != VOICE}
        for m in in_done]
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
