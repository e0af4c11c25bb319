"""More of the console's lists: any ticket list as CSV, and one message in detail.

- `GET /api/v1/tickets.csv`: the tickets `GET /api/v1/tickets` would list with the same
  query (filters, `q`, `assignee`, `sort`), all of them up to `limit` (default and at most
  20,000), as a spreadsheet: UTF-8 with a byte order mark, a header row in Chinese, times in
  Beijing time, and cells that would start a formula quoted. Phone numbers stay as written
  for the token and the staff who handle tickets; captains and volunteers get them masked.
- `GET /api/v1/messages/{id}`: an inbound message with its decision (outcome, reason, the
  NLU's intent ranking, entities and evidence), the building group it came from, the ticket
  it opened or touched (when the viewer may see it) and the outbox rows it made; phone
  numbers masked for those who only read, as in every answer (`bot.api_masks`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select

from bot import params
from bot.api import RUNTIME, inbound_json, outbox_json, tickets_json
from bot.auth import scope
from bot.auth.viewer import can_see, reads_only, require_viewer
from bot.ticket_lists import BEIJING, FILTERS, csv_bytes, read_list
from storage import tickets as ticket_queries
from storage.models import InboundRecord, OutboxMessage, Ticket

EXPORT_MAX = 20_000


async def tickets_csv(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    org = await runtime.org.get()
    params.known_query(request.query, (*FILTERS, "limit"))
    chosen = read_list(request.query, viewer, org)
    limit = params.query_int(request.query, "limit", default=EXPORT_MAX, low=1, high=EXPORT_MAX)
    async with runtime.sessions() as session:
        rows, total = await ticket_queries.list_tickets(session, chosen.conditions, limit, 0,
                                                        chosen.sort, chosen.city,
                                                        chosen.parts, chosen.searched)
    day = datetime.now(UTC).astimezone(BEIJING).strftime("%Y%m%d")
    name = f"工单-{day}.csv"
    return web.Response(
        body=csv_bytes(rows, org, reads_only(viewer, org)),
        content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f"attachment; filename=\"tickets-{day}.csv\"; "
                                        f"filename*=UTF-8''{quote(name)}",
                 "X-Total-Count": str(total)})


def _made_by(inbound_id: int) -> Any:
    """Outbox rows a message made: their keys start "in:<id>:" (a range, so that the
    unique index on the key serves it on both databases)."""
    prefix = f"in:{inbound_id}:"
    return (OutboxMessage.dedup_key >= prefix) & (OutboxMessage.dedup_key < f"in:{inbound_id};")


async def message_detail(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    message_id = params.path_id(request)
    params.known_query(request.query, ())
    org = await runtime.org.get()
    mask = reads_only(viewer, org)
    async with runtime.sessions() as session:
        message = (await session.execute(select(InboundRecord).where(
            InboundRecord.id == message_id, *scope.inbound_conditions(viewer, org)))
        ).scalar_one_or_none()
        if message is None:
            return web.json_response(
                {"error": f"没有找到消息 {message_id}（或不在您的范围内）。No message {message_id}."},
                status=404)
        sent = (await session.execute(select(OutboxMessage).where(_made_by(message_id))
                                      .order_by(OutboxMessage.id))).scalars().all()
        decision = message.decision or {}
        ticket_id = decision.get("ticket_id") if isinstance(decision, dict) else None
        ticket = await session.get(Ticket, ticket_id) if isinstance(ticket_id, int) else None
        if ticket is None:  # the ticket a message opened, if its decision does not say
            ticket = (await session.execute(select(Ticket).where(
                Ticket.source_message_id == message_id))).scalar_one_or_none()
        shown = (await tickets_json(session, [ticket], org, mask=mask))[0] \
            if ticket is not None and can_see(viewer, org, ticket) else None
    group = org.group_for(message.channel, message.chat_id) if message.chat_id else None
    building = org.building(group.building_id) if group is not None else None
    person = org.person_by_sender(message.channel, message.sender_id)
    return web.json_response({
        "message": inbound_json(message, mask=mask),
        "group": {"name": group.name, "channel": group.channel, "chat_id": group.chat_id,
                  "building": building.number if building else None} if group else None,
        "sender": {"name": person.name, "roles": [org.role_label(r) for r in person.roles]}
        if person is not None else None,
        "ticket": shown,
        "outbox": [outbox_json(m, mask=mask) for m in sent],
    })


def list_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/tickets.csv", tickets_csv)
    app.router.add_get("/api/v1/messages/{id}", message_detail)
