"""The admin HTTP API under /api/v1 (bearer token)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.processing import explain_text, parse_text
from bot.runtime import Runtime
from handlers.ticket_commands import correct_category
from storage import nlu_store
from storage import tickets as ticket_queries
from storage.models import CATEGORIES, STATUSES, InboundRecord, OutboxMessage, Ticket
from storage.orgmap import OrgMap
from storage.stats import ticket_stats

MAX_PARSE_CHARS = 10_000
RUNTIME = web.AppKey("runtime", Runtime)
TOKEN = web.AppKey("admin_token", str)


class BadRequest(web.HTTPBadRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(
            text=json.dumps({"error": reason}, ensure_ascii=False), content_type="application/json"
        )


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


@web.middleware
async def require_token(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path.startswith("/api/v1"):
        expected = request.app[TOKEN]
        given = request.headers.get("Authorization", "")
        if not given.startswith("Bearer ") or not hmac.compare_digest(
            given[7:].strip().encode(), expected.encode()
        ):
            return web.json_response(
                {"error": "missing or wrong bearer token (Authorization: Bearer <GRIDBOT_ADMIN_TOKEN>)"},
                status=401,
            )
    return await handler(request)


def ticket_json(ticket: Ticket, org: OrgMap) -> dict[str, Any]:
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    grid = org.grid(ticket.grid_id) if ticket.grid_id is not None else None
    assignee = org.person(ticket.assignee_id) if ticket.assignee_id is not None else None
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
        "rating": ticket.rating,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
    }


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise BadRequest(f"since must be an ISO date/time or unix seconds, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None
    if not low <= number <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return number


def _one_of(value: str | None, name: str, allowed: tuple[str, ...]) -> str | None:
    if not value:
        return None
    for part in value.split(","):
        if part not in allowed:
            raise BadRequest(f"{name} must be one of {', '.join(allowed)}; got {part!r}")
    return value


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


async def parse(request: web.Request) -> web.Response:
    body = await _json_object(request)
    if not isinstance(body.get("text"), str):
        raise BadRequest('the body must be a JSON object with a string "text"')
    text = body["text"]
    if len(text) > MAX_PARSE_CHARS:
        raise BadRequest(f"text is longer than {MAX_PARSE_CHARS} characters")
    parser = request.app[RUNTIME].nlu()
    answer = await parse_text(parser, text)
    if body.get("explain") is True:
        answer = {**answer, "evidence": explain_text(parser, text)}
    return web.json_response(answer)


async def list_tickets(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    org = await runtime.org.get()
    q = request.query
    building_ids = grid_ids = None
    if q.get("building"):
        building_ids = [b.id for b in org.buildings_by_number(q["building"])]
    if q.get("grid"):
        grid_ids = org.grid_ids_matching(q["grid"])
    conditions = ticket_queries.ticket_filters(
        status=_one_of(q.get("status"), "status", STATUSES),
        category=_one_of(q.get("category"), "category", CATEGORIES),
        building_ids=building_ids,
        grid_ids=grid_ids,
        since=_since(q.get("since")),
    )
    limit = _int(q.get("limit"), "limit", 100, 1, 1000)
    offset = _int(q.get("offset"), "offset", 0, 0, 10**9)
    async with runtime.sessions() as session:
        rows, total = await ticket_queries.list_tickets(session, conditions, limit, offset)
    return web.json_response({"tickets": [ticket_json(t, org) for t in rows], "total": total})


async def get_ticket(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    ticket_id = _int(request.match_info["id"], "id", 0, 1, 2**62)
    org = await runtime.org.get()
    async with runtime.sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
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
    body = ticket_json(ticket, org)
    body["events"] = [
        {"at": iso(e.at), "actor": e.actor, "kind": e.kind, "text": e.text, "data": e.data}
        for e in events
    ]
    body["messages"] = [outbox_json(m) for m in outbox]
    body["decision"] = source.decision if source else None
    return web.json_response(body)


async def correct_ticket(request: web.Request) -> web.Response:
    """Body {"category": "repair"} re-files a ticket, {"category": "none"} cancels it as no
    matter at all; like the 改类 chat command, the correction lands in the NLU review queue."""
    runtime = request.app[RUNTIME]
    ticket_id = _int(request.match_info["id"], "id", 0, 1, 2**62)
    body = await _json_object(request)
    unknown = sorted(set(body) - {"category", "by"})
    if unknown:
        raise BadRequest(f"unknown fields: {', '.join(unknown)}; only category and by change")
    allowed = (*CATEGORIES, "none")
    if body.get("category") not in allowed:
        raise BadRequest(f"category must be one of {', '.join(allowed)}")
    category = None if body["category"] == "none" else body["category"]
    by = body.get("by") if isinstance(body.get("by"), str) and body["by"].strip() else "admin"
    org = await runtime.org.get()
    async with runtime.sessions() as session, session.begin():
        view = await ticket_queries.ticket_view(session, ticket_id)
        if view is None:
            return web.json_response({"error": f"no ticket #{ticket_id}"}, status=404)
        if category is not None and category == view.category:
            ticket = await session.get(Ticket, ticket_id)
            return web.json_response(ticket_json(ticket, org))
        change, review, _ = correct_category(view, category)
        if view.status not in change.expect_status:
            return web.json_response(
                {"error": f"ticket #{ticket_id} is {view.status}; "
                          f"it can no longer be {'cancelled' if category is None else 're-filed'}"},
                status=409)
        now = datetime.now(UTC)
        try:
            await ticket_queries.apply_change(session, change, by[:64], None, now)
        except ticket_queries.StaleTicket as exc:
            return web.json_response({"error": f"{exc}; try again"}, status=409)
        await nlu_store.add_review(
            session, reason=review.reason, text=review.text, predicted=review.predicted,
            confidence=review.confidence, suggested=review.suggested, ticket_id=ticket_id)
        await session.flush()
        ticket = await session.get(Ticket, ticket_id, populate_existing=True)
        answer = ticket_json(ticket, org)
    return web.json_response(answer)


def outbox_json(m: OutboxMessage) -> dict[str, Any]:
    return {
        "id": m.id, "ticket_id": m.ticket_id, "transport": m.transport, "target": m.target, "payload": m.payload,
        "status": m.status, "attempts": m.attempts, "last_error": m.last_error,
        "created_at": iso(m.created_at), "sent_at": iso(m.sent_at),
        "next_attempt_at": iso(m.next_attempt_at),
    }


def inbound_json(m: InboundRecord) -> dict[str, Any]:
    return {
        "id": m.id, "channel": m.channel, "msg_id": m.msg_id, "chat_id": m.chat_id,
        "sender_id": m.sender_id, "sender_name": m.sender_name, "text": m.text,
        "status": m.status, "attempts": m.attempts, "error": m.error, "decision": m.decision,
        "received_at": iso(m.received_at), "processed_at": iso(m.processed_at),
    }


async def list_messages(request: web.Request) -> web.Response:
    """Inbound messages with what gridbot decided and why (newest first)."""
    runtime = request.app[RUNTIME]
    q = request.query
    limit = _int(q.get("limit"), "limit", 50, 1, 500)
    query = select(InboundRecord).order_by(InboundRecord.id.desc()).limit(limit)
    if q.get("status"):
        query = query.where(InboundRecord.status == q["status"])
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).scalars().all()
    return web.json_response({"messages": [inbound_json(m) for m in rows]})


async def list_outbox(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    q = request.query
    limit = _int(q.get("limit"), "limit", 50, 1, 500)
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if q.get("status"):
        query = query.where(OutboxMessage.status == _one_of(
            q["status"], "status", ("pending", "sent", "dead")))
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).scalars().all()
    return web.json_response({"outbox": [outbox_json(m) for m in rows]})


async def retry_outbox(request: web.Request) -> web.Response:
    """Send a dead message again, after the cause (a wrong user id, an untrusted IP) is fixed."""
    runtime = request.app[RUNTIME]
    row_id = _int(request.match_info["id"], "id", 0, 1, 2**62)
    async with runtime.sessions() as session, session.begin():
        row = await session.get(OutboxMessage, row_id)
        if row is None:
            return web.json_response({"error": f"no outbox message {row_id}"}, status=404)
        if row.status != "dead":
            return web.json_response(
                {"error": f"outbox message {row_id} is {row.status}, only dead ones are retried"},
                status=409)
        row.status, row.attempts, row.lease_until = "pending", 0, None
        row.next_attempt_at = datetime.now(UTC)
        body = outbox_json(row)
    runtime.outbox.wake()
    return web.json_response(body)


async def review_queue(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    status = _one_of(request.query.get("status", "open"), "status",
                     ("open", "labeled", "dismissed")) or "open"
    limit = _int(request.query.get("limit"), "limit", 100, 1, 1000)
    offset = _int(request.query.get("offset"), "offset", 0, 0, 10**9)
    async with runtime.sessions() as session:
        items = await nlu_store.review_items(session, status, limit, offset)
    return web.json_response({"items": [nlu_store.item_json(i) for i in items]})


async def label_review(request: web.Request) -> web.Response:
    """Body {"intent": "complaint"} labels the item; {"dismiss": true} drops it."""
    runtime = request.app[RUNTIME]
    item_id = _int(request.match_info["id"], "id", 0, 1, 2**62)
    body = await _json_object(request)
    if body.get("dismiss") is True:
        intent = None
    elif isinstance(body.get("intent"), str):
        intent = body["intent"]
    else:
        raise BadRequest('give {"intent": "<one of the five intents>"} or {"dismiss": true}')
    by = body.get("by") if isinstance(body.get("by"), str) else "admin"
    try:
        async with runtime.sessions() as session, session.begin():
            item = await nlu_store.label_item(session, item_id, intent, by)
            answer = nlu_store.item_json(item)
    except nlu_store.RegistryError as exc:
        status = 404 if "no review item" in str(exc) else 400
        return web.json_response({"error": str(exc)}, status=status)
    return web.json_response(answer)


async def list_models(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
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
    version = request.match_info["version"]
    try:
        async with runtime.sessions() as session, session.begin():
            previous = await nlu_store.activate(session, version)
    except nlu_store.RegistryError as exc:
        return web.json_response({"error": str(exc)}, status=404)
    await runtime.models.refresh(force=True)
    return web.json_response({"active": version, "previous": previous})


async def rollback_model(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        async with runtime.sessions() as session, session.begin():
            version = await nlu_store.rollback(session)
    except nlu_store.RegistryError as exc:
        return web.json_response({"error": str(exc)}, status=409)
    await runtime.models.refresh(force=True)
    return web.json_response({"active": version})


async def stats(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    org = await runtime.org.get()
    since = _since(request.query.get("since"))
    async with runtime.sessions() as session:
        result = await ticket_stats(session, org, since)
    return web.json_response(result)


def api_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/nlu/parse", parse)
    app.router.add_get("/api/v1/tickets", list_tickets)
    app.router.add_get("/api/v1/tickets/{id}", get_ticket)
    app.router.add_patch("/api/v1/tickets/{id}", correct_ticket)
    app.router.add_get("/api/v1/stats", stats)
    app.router.add_get("/api/v1/messages", list_messages)
    app.router.add_get("/api/v1/outbox", list_outbox)
    app.router.add_post("/api/v1/outbox/{id}/retry", retry_outbox)
    app.router.add_get("/api/v1/nlu/review", review_queue)
    app.router.add_post("/api/v1/nlu/review/{id}", label_review)
    app.router.add_get("/api/v1/nlu/models", list_models)
    app.router.add_post("/api/v1/nlu/models/{version}/activate", activate_model)
    app.router.add_post("/api/v1/nlu/rollback", rollback_model)
