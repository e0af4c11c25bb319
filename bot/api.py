"""The admin HTTP API under /api/v1 (bearer token).

Every parameter and body is read through `bot.params` (a query parameter a route does not
read is refused); answers show outbox targets with their secrets (robot webhook keys)
redacted, and residents' phone numbers masked for those who only read (`bot.api_masks`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import params, ticket_lists
from bot.addressing import Addressing
from bot.api_attachments import add_attachments, attachment_routes
from bot.api_city import city_stats
from bot.api_masks import (
    EVENT_FIELDS,
    INBOUND_FIELDS,
    OUTBOX_FIELDS,
    TICKET_FIELDS,
    mask_fields,
    masked,
)
from bot.appkeys import RUNTIME, SIMULATOR_LOCKED, TOKEN  # noqa: F401 (imported from here too)
from bot.auth import scope
from bot.auth.viewer import (
    Viewer,
    can_act,
    can_see,
    reads_only,
    refuse,
    require_admin,
    require_viewer,
    visible_ticket,
)
from bot.processing import explain_text, parse_text
from bot.redaction import redact_secrets
from bot.reports import city
from bot.reports.scope import viewer_scope
from bot.writer import Origin
from domain.notices import NOTICE_STATUSES, NoticeView
from domain.org import OrgMap
from domain.tickets import CATEGORIES
from handlers import actions
from storage import nlu_store
from storage import notices as notice_queries
from storage import tickets as ticket_queries
from storage.models import InboundRecord, OutboxMessage, ReviewItem, Ticket
from storage.nlu_store import INTENTS
from storage.stats import follower_counts

log = logging.getLogger("gridbot.api")

MAX_PARSE_CHARS = 10_000
MAX_BY_CHARS = 64
MAX_VERSION_CHARS = 40
MAX_OFFSET = 10**9
INBOUND_STATUSES = ("received", "processing", "done", "failed")
OUTBOX_STATUSES = ("pending", "sent", "dead")
#: The query parameters of the routes that take some (the others take none).
LIST_PARAMS = (*ticket_lists.FILTERS, "limit", "offset")
LOG_PARAMS = ("status", "limit")
PAGE_PARAMS = ("status", "limit", "offset")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _answers_json(path: str) -> bool:
    return path.startswith(("/api/", "/simulator/api/"))


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The API answers errors as {"error": …}, aiohttp's own (404, 405, 413) included; an
    unexpected exception is logged with its traceback and answered 500 without one."""
    if not _answers_json(request.path):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
        error = exc.text or exc.reason
        if exc.status in (404, 405) and error in (f"{exc.status}: {exc.reason}", exc.reason):
            # aiohttp's own answer to a path or method no route has: say what was asked.
            takes = f" (it takes {exc.headers.get('Allow', '')})" if exc.status == 405 else ""
            error = f"{request.method} {request.path} is not answered here{takes}"
            if request.path.startswith("/api/"):
                error += "; /api/v1/openapi.json describes the API"
        return web.json_response({"error": error}, status=exc.status, headers=headers)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": "internal error; the log has the details"}, status=500)


def _by(body: dict[str, Any], viewer: Viewer) -> str:
    """Who made a change through the API: the signed-in person; with the admin token, "admin"
    unless the body names someone. A session may not name anyone (400)."""
    by = params.json_text(body, "by", max_chars=MAX_BY_CHARS, default="")
    if not viewer.is_token:
        if "by" in body:
            raise params.BadRequest(
                f'"by" is not accepted from a signed-in person: the change is recorded under '
                f"{viewer.name}")
        return viewer.name
    return by.strip() if by and by.strip() else "admin"


def _actor_origin(viewer: Viewer, by: str, now: datetime) -> Origin:
    """An API action's origin: the person's name and id, or what the token's caller named."""
    return Origin(key=f"api:{uuid.uuid4().hex}", actor=by, now=now,
                  actor_person_id=viewer.person_id)


def ticket_json(ticket: Ticket, org: OrgMap) -> dict[str, Any]:
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    grid = org.grid(ticket.grid_id) if ticket.grid_id is not None else None
    assignee = org.person(ticket.assignee_id) if ticket.assignee_id is not None else None
    department = org.department(ticket.department_id) if ticket.department_id else None
    return {
        "id": ticket.id,
        "category": ticket.category,
        "status": ticket.status,
        "building": building.number if building else None,
        "grid": grid.name if grid else None,
        "assignee": assignee.name if assignee else None,
        "assignee_userid": assignee.wecom_userid if assignee else None,
        "urgency": ticket.urgency,
        "tier": ticket.tier,
        "facility": ticket.facility,
        "location": ticket.location,
        "text": ticket.text,
        "reporter": ticket.reporter_name,
        "escalation_level": ticket.escalation_level,
        "accept_due_at": iso(ticket.accept_due_at),
        "resolve_due_at": iso(ticket.resolve_due_at),
        "accepted_at": iso(ticket.accepted_at),
        "resolved_at": iso(ticket.resolved_at),
        "closed_at": iso(ticket.closed_at),
        "confirm_due_at": iso(ticket.confirm_due_at),
        "rating": ticket.rating,
        "department": department.name if department else None,
        "respond_due_at": iso(ticket.respond_due_at),
        "reported_at": iso(ticket.reported_at),
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
    }


async def tickets_json(session: AsyncSession, tickets: Sequence[Ticket], org: OrgMap, *,
                       mask: bool = False) -> list[dict[str, Any]]:
    """Each ticket in JSON (`ticket_json`) with its `followers` (how many residents reported
    it again and hear of its progress too) and its `attachments`; with `mask`, phone numbers
    masked (for those who only read)."""
    bodies = [ticket_json(ticket, org) for ticket in tickets]
    if mask:
        bodies = [mask_fields(body, TICKET_FIELDS) for body in bodies]
    followers = await follower_counts(session, [ticket.id for ticket in tickets])
    for body in bodies:
        body["followers"] = followers.get(body["id"], 0)
    await add_attachments(session, bodies)
    return bodies


async def parse(request: web.Request) -> web.Response:
    params.known_query(request.query, ())
    body = await params.json_object(request)
    # Rasa's /model/parse also takes a "message_id", which a parse without a tracker ignores.
    params.only_fields(body, ("text", "explain", "message_id"))
    text = params.json_text(body, "text", max_chars=MAX_PARSE_CHARS)
    if text is None:
        raise params.BadRequest('the body must be a JSON object with a string "text"')
    explain = params.json_flag(body, "explain")
    parser = request.app[RUNTIME].nlu()
    answer = await parse_text(parser, text)
    if explain:
        answer = {**answer, "evidence": explain_text(parser, text, answer)}
    return web.json_response(answer)


async def list_tickets(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    org = await runtime.org.get()
    q = request.query
    params.known_query(q, LIST_PARAMS)
    # Filters, search (q), assignee and sort, within the viewer's scope (bot.ticket_lists).
    chosen = ticket_lists.read_list(q, viewer, org)
    limit = params.query_int(q, "limit", default=100, low=1, high=1000)
    offset = params.query_int(q, "offset", default=0, low=0, high=MAX_OFFSET)
    async with runtime.sessions() as session:
        rows, total = await ticket_queries.list_tickets(session, chosen.conditions, limit,
                                                        offset, chosen.sort, chosen.city,
                                                        chosen.parts, chosen.searched)
        bodies = await tickets_json(session, rows, org, mask=reads_only(viewer, org))
    return web.json_response({"tickets": bodies, "total": total})


async def get_ticket(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    ticket_id = params.path_id(request)
    params.known_query(request.query, ())
    org = await runtime.org.get()
    mask = reads_only(viewer, org)
    async with runtime.sessions() as session:
        ticket = await visible_ticket(session, viewer, org, ticket_id)
        if ticket is None:
            return web.json_response({"error": f"no ticket #{ticket_id}"}, status=404)
        events = await ticket_queries.events_of(session, ticket_id)
        outbox = (await session.execute(
            select(OutboxMessage).where(OutboxMessage.ticket_id == ticket_id).order_by(OutboxMessage.id)
        )).scalars().all()
        source = (
            await session.get(InboundRecord, ticket.source_message_id)
            if ticket.source_message_id else None
        )
        [body] = await tickets_json(session, [ticket], org, mask=mask)
    # A report made by voice keeps the voice's media id.
    body["voice_media_id"] = ((source.media or {}).get("media_id")
                              if source is not None and source.kind == "voice" else None)
    body["events"] = [
        {"at": iso(e.at), "actor": e.actor, "kind": e.kind, "text": e.text, "data": e.data}
        for e in events
    ]
    body["messages"] = [outbox_json(m, mask=mask) for m in outbox]
    body["decision"] = source.decision if source else None
    if mask:
        body["events"] = [mask_fields(event, EVENT_FIELDS) for event in body["events"]]
        body["decision"] = masked(body["decision"])
    return web.json_response(body)


async def correct_ticket(request: web.Request) -> web.Response:
    """Body {"category": "repair"} re-files a ticket, {"category": "none"} cancels it as no
    matter at all; like the 改类 chat command, the correction lands in the NLU review queue."""
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    ticket_id = params.path_id(request)
    params.known_query(request.query, ())
    body = await params.json_object(request)
    params.only_fields(body, ("category", "by"))
    chosen = params.json_choice(body, "category", (*CATEGORIES, "none"))
    category = None if chosen == "none" else chosen
    by = _by(body, viewer)
    org = await runtime.org.get()
    now = datetime.now(UTC)
    try:
        async with runtime.sessions() as session, session.begin():
            view = await ticket_queries.ticket_view(session, ticket_id)
            if view is None or not can_see(viewer, org, view):
                return web.json_response({"error": f"no ticket #{ticket_id}"}, status=404)
            if not can_act(viewer, org, view):
                raise refuse(f"#{ticket_id} 不由您处理，只能查看。You may read ticket "
                             f"#{ticket_id} but not change it.")
            decision = actions.recategorize(view, category, by)
            if decision.outcome == "refused":
                what = "cancelled" if category is None else "re-filed"
                return web.json_response(
                    {"error": f"ticket #{ticket_id} is {view.status}; it can no longer be {what}"},
                    status=409)
            origin = _actor_origin(viewer, by, now)
            await runtime.writer.apply(session, decision, origin, org)
            await session.flush()
            ticket = await session.get(Ticket, ticket_id, populate_existing=True)
            [answer] = await tickets_json(session, [ticket], org,
                                          mask=reads_only(viewer, org))
    except ticket_queries.StaleTicket as exc:
        return web.json_response({"error": f"{exc}; try again"}, status=409)
    return web.json_response(answer)


def outbox_json(m: OutboxMessage, *, mask: bool = False) -> dict[str, Any]:
    """A delivery, its secrets redacted; with `mask`, phone numbers masked."""
    body = {
        "id": m.id, "ticket_id": m.ticket_id, "transport": m.transport,
        "target": redact_secrets(m.target), "payload": redact_secrets(m.payload),
        "status": m.status, "attempts": m.attempts, "last_error": m.last_error,
        "created_at": iso(m.created_at), "sent_at": iso(m.sent_at),
        "next_attempt_at": iso(m.next_attempt_at),
    }
    return mask_fields(body, OUTBOX_FIELDS) if mask else body


def inbound_json(m: InboundRecord, *, mask: bool = False) -> dict[str, Any]:
    """A message that came in and its decision; with `mask`, phone numbers masked."""
    body = {
        "id": m.id, "channel": m.channel, "msg_id": m.msg_id, "chat_id": m.chat_id,
        "sender_id": m.sender_id, "sender_name": m.sender_name, "text": m.text,
        "status": m.status, "attempts": m.attempts, "error": m.error, "decision": m.decision,
        "received_at": iso(m.received_at), "processed_at": iso(m.processed_at),
    }
    return mask_fields(body, INBOUND_FIELDS) if mask else body


async def list_messages(request: web.Request) -> web.Response:
    """Inbound messages with what gridbot decided and why (newest first)."""
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    q = request.query
    params.known_query(q, LOG_PARAMS)
    limit = params.query_int(q, "limit", default=50, low=1, high=500)
    status = params.query_choices(q, "status", INBOUND_STATUSES)
    org = await runtime.org.get()
    query = (select(InboundRecord).where(*scope.inbound_conditions(viewer, org))
             .order_by(InboundRecord.id.desc()).limit(limit))
    if status:
        query = query.where(InboundRecord.status.in_(status.split(",")))
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).scalars().all()
    mask = reads_only(viewer, org)
    return web.json_response({"messages": [inbound_json(m, mask=mask) for m in rows]})


def _outbox_conditions(request: web.Request, viewer: Viewer, org: OrgMap) -> list[Any]:
    return scope.outbox_conditions(viewer, org, Addressing(request.app[RUNTIME].settings))


async def list_outbox(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    q = request.query
    params.known_query(q, LOG_PARAMS)
    limit = params.query_int(q, "limit", default=50, low=1, high=500)
    status = params.query_choices(q, "status", OUTBOX_STATUSES)
    org = await runtime.org.get()
    query = (select(OutboxMessage).where(*_outbox_conditions(request, viewer, org))
             .order_by(OutboxMessage.id.desc()).limit(limit))
    if status:
        query = query.where(OutboxMessage.status.in_(status.split(",")))
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).scalars().all()
    mask = reads_only(viewer, org)
    return web.json_response({"outbox": [outbox_json(m, mask=mask) for m in rows]})


def _not_retried(row: OutboxMessage) -> str:
    """Why a delivery that is not dead is not sent again (409)."""
    if row.status == "pending":
        return (f"outbox message {row.id} is already waiting to be sent (pending, attempt "
                f"{row.attempts + 1} due {iso(row.next_attempt_at)}); only a dead one is "
                f"retried")
    if row.status == "sent":
        return (f"outbox message {row.id} was already sent at {iso(row.sent_at)}; only a "
                f"dead one is retried")
    return f"outbox message {row.id} is {row.status}; only a dead one is retried"


async def retry_outbox(request: web.Request) -> web.Response:
    """Send a dead message again, after the cause (a wrong user id, an untrusted IP) is fixed.
    It takes no fields; one waiting to be sent, or sent, answers 409."""
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    row_id = params.path_id(request)
    params.known_query(request.query, ())
    params.only_fields(await params.json_object_or_empty(request), (), "a retry")
    org = await runtime.org.get()
    async with runtime.sessions() as session, session.begin():
        row = (await session.execute(select(OutboxMessage).where(
            OutboxMessage.id == row_id, *_outbox_conditions(request, viewer, org)))
        ).scalar_one_or_none()
        if row is None:
            return web.json_response({"error": f"no outbox message {row_id}"}, status=404)
        if row.status != "dead":
            return web.json_response({"error": _not_retried(row)}, status=409)
        row.status, row.attempts, row.lease_until = "pending", 0, None
        row.next_attempt_at = datetime.now(UTC)
        body = outbox_json(row, mask=reads_only(viewer, org))
    runtime.outbox.wake()
    return web.json_response(body)


async def review_queue(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    require_admin(viewer)
    org = await runtime.org.get()
    q = request.query
    params.known_query(q, PAGE_PARAMS)
    status = params.query_choice(q, "status", ("open", "labeled", "dismissed")) or "open"
    limit = params.query_int(q, "limit", default=100, low=1, high=1000)
    offset = params.query_int(q, "offset", default=0, low=0, high=MAX_OFFSET)
    async with runtime.sessions() as session:
        items = await nlu_store.review_items(session, status, limit, offset,
                                             scope.review_conditions(viewer, org))
    return web.json_response({"items": [nlu_store.item_json(i) for i in items]})


async def label_review(request: web.Request) -> web.Response:
    """Body {"intent": "complaint"} labels the item; {"dismiss": true} drops it."""
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    require_admin(viewer)
    item_id = params.path_id(request)
    params.known_query(request.query, ())
    body = await params.json_object(request)
    params.only_fields(body, ("intent", "dismiss", "by"))
    if params.json_flag(body, "dismiss"):
        if "intent" in body:
            raise params.BadRequest('give either {"intent": …} or {"dismiss": true}, not both')
        intent = None
    elif "intent" in body:
        intent = params.json_choice(body, "intent", INTENTS)
    else:
        raise params.BadRequest('give {"intent": "<one of the five intents>"} or {"dismiss": true}')
    by = _by(body, viewer)
    org = await runtime.org.get()
    try:
        async with runtime.sessions() as session, session.begin():
            visible = await nlu_store.review_items(
                session, None, 1, 0, [ReviewItem.id == item_id,
                                      *scope.review_conditions(viewer, org)])
            if not visible:
                raise nlu_store.RegistryError(f"no review item {item_id}")
            item = await nlu_store.label_item(session, item_id, intent, by)
            answer = nlu_store.item_json(item)
    except nlu_store.RegistryError as exc:
        status = 404 if "no review item" in str(exc) else 400
        return web.json_response({"error": str(exc)}, status=status)
    return web.json_response(answer)


async def list_models(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    require_admin(await require_viewer(request))
    params.known_query(request.query, ())
    async with runtime.sessions() as session:
        models = await nlu_store.list_models(session)
    return web.json_response({
        "serving": runtime.models.version,
        "models": [{"version": m.version, "created_at": iso(m.created_at),
                    "examples": m.examples, "macro_f1": m.macro_f1, "note": m.note,
                    "active": m.active} for m in models],
    })


async def activate_model(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    require_admin(await require_viewer(request))
    version = params.path_text(request, "version", MAX_VERSION_CHARS)
    params.known_query(request.query, ())
    try:
        async with runtime.sessions() as session, session.begin():
            previous = await nlu_store.activate(session, version)
    except nlu_store.RegistryError as exc:
        return web.json_response({"error": str(exc)}, status=404)
    await runtime.models.refresh(force=True)
    return web.json_response({"active": version, "previous": previous})


async def rollback_model(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    require_admin(await require_viewer(request))
    params.known_query(request.query, ())
    try:
        async with runtime.sessions() as session, session.begin():
            version = await nlu_store.rollback(session)
    except nlu_store.RegistryError as exc:
        return web.json_response({"error": str(exc)}, status=409)
    await runtime.models.refresh(force=True)
    return web.json_response({"active": version})


async def stats(request: web.Request) -> web.Response:
    """The figures of the tickets the viewer sees."""
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    org = await runtime.org.get()
    params.known_query(request.query, ("since",))
    since = params.query_since(request.query)
    now = datetime.now(UTC)
    if viewer.is_token and city.made_ahead(org):
        return web.json_response(await city_stats(runtime, org, since))
    async with runtime.sessions() as session:
        result = await city.stats_answer(session, org, since, viewer_scope(viewer, org), now)
    return web.json_response(result)


def notice_json(notice: NoticeView, org: OrgMap) -> dict[str, Any]:
    """A captain's notice: where it went and how many residents acknowledged it (收到),
    in all and per building."""
    captain = org.person(notice.captain_id)
    groups = [org.group(g) for g in notice.group_ids]
    buildings = []
    for building_id in notice.building_ids:
        building = org.building(building_id)
        buildings.append({"building": building.number if building else None,
                          "acknowledged": notice.acknowledged.get(building_id, 0)})
    return {
        "id": notice.id,
        "captain": captain.name if captain else None,
        "captain_id": (captain.wecom_userid or captain.wechat_id) if captain else None,
        "text": notice.text,
        "send_at": iso(notice.send_at),
        "status": notice.status,
        "sent_at": iso(notice.sent_at),
        "created_at": iso(notice.created_at),
        "groups": [{"channel": g.channel, "chat_id": g.chat_id, "name": g.name,
                    "building": b.number if (b := org.building(g.building_id)) else None}
                   for g in groups if g is not None],
        "acknowledged": notice.acknowledged_total,
        "buildings": buildings,
    }


async def list_notices(request: web.Request) -> web.Response:
    """Captains' notices, the latest to go out first (filter: `status`)."""
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    q = request.query
    params.known_query(q, PAGE_PARAMS)
    status = params.query_choices(q, "status", NOTICE_STATUSES)
    limit = params.query_int(q, "limit", default=100, low=1, high=1000)
    offset = params.query_int(q, "offset", default=0, low=0, high=MAX_OFFSET)
    org = await runtime.org.get()
    async with runtime.sessions() as session:
        notices, total = await notice_queries.list_notices(
            session, status.split(",") if status else None, limit, offset,
            scope.notice_conditions(viewer, org))
    return web.json_response({"notices": [notice_json(n, org) for n in notices],
                              "total": total})


def api_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/nlu/parse", parse)
    app.router.add_get("/api/v1/tickets", list_tickets)
    app.router.add_get("/api/v1/tickets/{id}", get_ticket)
    attachment_routes(app)
    app.router.add_patch("/api/v1/tickets/{id}", correct_ticket)
    app.router.add_get("/api/v1/stats", stats)
    app.router.add_get("/api/v1/notices", list_notices)
    app.router.add_get("/api/v1/messages", list_messages)
    app.router.add_get("/api/v1/outbox", list_outbox)
    app.router.add_post("/api/v1/outbox/{id}/retry", retry_outbox)
    app.router.add_get("/api/v1/nlu/review", review_queue)
    app.router.add_post("/api/v1/nlu/review/{id}", label_review)
    app.router.add_get("/api/v1/nlu/models", list_models)
    app.router.add_post("/api/v1/nlu/models/{version}/activate", activate_model)
    app.router.add_post("/api/v1/nlu/rollback", rollback_model)
