"""The console's actions on a ticket: `POST /api/v1/tickets/{id}/{action}`.

Each action is the same decision as the chat command (`handlers.actions`): the signed-in
person's `Context`, the data the shell loads for the command (`bot.command_data`), the
handler, and the one writer with an `Origin` that names the person. It is refused as the
chat command refuses it — 403 when the person's role does not allow it, 409 when the
ticket's status does not (or it moved meanwhile), 400 for a wrong argument — with what the
chat would have answered in `{"error": …}`, and nothing changes. The body is checked first:
an action that takes no field refuses any (400 saying so), and one that takes a field says
what it must be (`note: must not be empty`, `tier: one of micro, small, medium, big`) rather
than the chat's usage line. Who may act at all: a ticket outside the viewer's scope is 404,
one they may only read (a captain's) 403.

The admin token stands for no person: the actions someone answers for (every action here)
are refused to it with 403; it keeps what needs no person — re-filing (PATCH
/api/v1/tickets/{id}), retrying a delivery, redeeming points, the org file and retraining.

`GET /api/v1/tickets/{id}/actions` says which actions the viewer may take now and why not
the others (each decided as if taken, nothing applied), with whom a ticket may be
transferred to, the departments it may be whistled to and the dispute tiers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot import command_data, params
from bot.api import RUNTIME, tickets_json
from bot.api_masks import ACTION_FIELDS, mask_fields
from bot.auth.viewer import Viewer, can_act, can_see, origin_for, reads_only, require_viewer
from domain.org import OrgMap
from domain.tickets import TIERS, TicketView
from handlers import Command, CommandData, Context, texts
from handlers.actions import (
    ACTIONS,
    ConsoleAction,
    console_answer,
    console_command,
    console_context,
    decide,
    escalation_target,
    refusal_kind,
)
from handlers.commands import fold
from handlers.streets import street_of, transfer_candidates
from storage import tickets as ticket_queries
from storage.models import Ticket

#: A note, a reason, an account or a department name: as long as a chat message says it.
MAX_ARG_CHARS = 500
STATUS_OF = {"role": 403, "state": 409, "usage": 400, "missing": 404}
#: What each action's body carries (besides nothing), for the console's forms.
FIELDS = {"note": "说明", "to": "转派给（企业微信账号）", "department": "部门名称",
          "tier": "调解层级"}
#: What a field must be, said when a body's is not (400).
FIELD_RULES = {
    "note": "must not be empty",
    "to": "a staff member's WeCom account (wecom_userid): 1 to 64 letters, digits, '.', "
          "'@', '_' or '-'",
    "department": "must not be empty: the name of one of the street's departments",
    "tier": f"one of {', '.join(TIERS)}",
}
#: What `GET …/actions` tries an action with that needs an argument.
TRIAL_NOTE = "（试）"


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _not_found(ticket_id: int) -> web.Response:
    return _error(404, f"没有找到工单 #{ticket_id}（或不在您的范围内）。No ticket #{ticket_id}.")


def _refusal(viewer: Viewer, org: OrgMap, ticket: TicketView) -> tuple[int, str] | None:
    """Why the viewer may not act on the ticket at all (status, reason), or None."""
    if not can_act(viewer, org, ticket):
        return 403, texts.ONLY_TO_READ.format(id=ticket.id)
    if viewer.is_token or viewer.person_id is None:
        return 403, texts.TOKEN_IS_NOBODY
    return None


def action_arg(action: ConsoleAction, body: dict[str, Any]) -> str | None:
    """The action's argument from its body, checked as the chat command checks it, but
    refused (400) naming the field and what it must be: no field for an action that takes
    none, a required one missing or empty, or one its check refuses (a tier not on the
    ladder)."""
    params.only_fields(body, (action.field,) if action.field else (), action.name)
    if action.field is None:
        return None
    field, spec = action.field, action.spec
    arg = params.json_text(body, field, max_chars=MAX_ARG_CHARS)
    given = (arg or "").strip()
    if not given:
        if spec.arg == "required":
            params.refuse_field(field, FIELD_RULES.get(field, "must not be empty"))
        return arg
    if spec.check is not None and not spec.check(fold(given) if spec.fold else given):
        params.refuse_field(field, FIELD_RULES.get(field, "is not understood"))
    return arg


def _asked(viewer: Viewer, org: OrgMap, now: datetime, action: ConsoleAction, ticket_id: int,
           arg: str | None) -> tuple[Context, Command]:
    """The context of the viewer's action and the command it is."""
    assert viewer.person_id is not None
    command = console_command(action, ticket_id, arg)
    text = " ".join(part for part in (action.spec.word, str(ticket_id), command.arg) if part)
    return console_context(org, now, viewer.person_id, text), command


def action_handler(action: ConsoleAction):  # type: ignore[no-untyped-def]
    async def act(request: web.Request) -> web.Response:
        runtime = request.app[RUNTIME]
        viewer = await require_viewer(request)
        ticket_id = params.path_id(request)
        params.known_query(request.query, ())
        arg = action_arg(action, await params.json_object_or_empty(request))
        org = await runtime.org.get()
        now = datetime.now(UTC)
        try:
            async with runtime.sessions() as session, session.begin():
                view = await ticket_queries.ticket_view(session, ticket_id)
                if view is None or not can_see(viewer, org, view):
                    return _not_found(ticket_id)
                refused = _refusal(viewer, org, view)
                if refused is not None:
                    return _error(*refused)
                ctx, command = _asked(viewer, org, now, action, ticket_id, arg)
                # What the shell loads for the chat command (its spec's `loads`).
                data = await command_data.load(session, ctx, command, action.spec.loads)
                decision = decide(ctx, action, command, data)
                kind = refusal_kind(decision)
                decision, answer = console_answer(decision, ticket_id)
                if kind is not None:
                    return _error(STATUS_OF[kind], answer or decision.reason)
                origin = origin_for(viewer, f"api:{uuid.uuid4().hex}", now)
                await runtime.writer.apply(session, decision, origin, org)
                await session.flush()
                ticket = await session.get(Ticket, ticket_id, populate_existing=True)
                mask = reads_only(viewer, org)
                [shown] = await tickets_json(session, [ticket], org, mask=mask)
                result = {"ticket": shown, "answer": answer,
                          "changed": bool(decision.changes), "reason": decision.reason}
                if mask:
                    result = mask_fields(result, ACTION_FIELDS)
        except ticket_queries.StaleTicket:
            return _error(409, f"工单 #{ticket_id} 刚刚被别人改动了，请刷新后再试。"
                               f"Ticket #{ticket_id} changed meanwhile; try again.")
        if decision.sends:
            runtime.outbox.wake()
        return web.json_response(result)

    act.__name__ = f"ticket_{action.name}"
    return act


def _trial_arg(action: ConsoleAction, org: OrgMap, ticket: TicketView,
               candidates: list[str], departments: list[str]) -> str | None:
    """An argument to try an action with, so that only who may act and the ticket's status
    decide whether it is offered."""
    if action.field == "to":
        return candidates[0] if candidates else None
    if action.field == "department":
        return departments[0] if departments else None
    if action.field == "tier":
        return next((t for t in TIERS if t != ticket.tier), TIERS[0])
    if action.name in ("progress", "cancel"):
        return TRIAL_NOTE
    return None


async def available_actions(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    ticket_id = params.path_id(request)
    params.known_query(request.query, ())
    org = await runtime.org.get()
    now = datetime.now(UTC)
    async with runtime.sessions() as session:
        view = await ticket_queries.ticket_view(session, ticket_id)
    if view is None or not can_see(viewer, org, view):
        return _not_found(ticket_id)
    people = transfer_candidates(org, view)
    street_id = street_of(org, view)
    departments = [d for d in org.departments.values() if d.street_id == street_id]
    accounts = [p.wecom_userid for p in people if p.wecom_userid and p.id != view.assignee_id]
    names = [d.name for d in departments if d.id != view.department_id] or [
        d.name for d in departments]
    refused = _refusal(viewer, org, view)
    offered = []
    for action in ACTIONS.values():
        why: str | None
        if refused is not None:
            allowed, why = False, refused[1]
        else:
            arg = _trial_arg(action, org, view, accounts, names)
            if action.field == "to" and arg is None:
                allowed, why = False, texts.CONSOLE_NO_STAFF
            else:
                ctx, command = _asked(viewer, org, now, action, ticket_id, arg)
                decision = decide(ctx, action, command, CommandData(ticket=view))
                kind = refusal_kind(decision)
                _, answer = console_answer(decision, ticket_id)
                allowed = kind is None and bool(decision.changes)
                why = None if allowed else (answer or decision.reason)
        offered.append({"action": action.name, "label": action.label, "allowed": allowed,
                        "why": why, "field": action.field,
                        "field_label": FIELDS.get(action.field or ""),
                        "required": action.spec.arg == "required"})
    return web.json_response({
        "ticket": ticket_id,
        "actions": offered,
        "staff": [{"account": p.wecom_userid, "name": p.name,
                   "roles": [org.role_label(r) for r in p.roles]} for p in people],
        "departments": [{"name": d.name, "on_wecom": d.person_id is not None}
                        for d in departments],
        "tiers": [{"tier": t, "name": texts.TIER_NAMES[t]} for t in TIERS],
        "escalates_to": escalation_target(org, view),
    })


def action_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/tickets/{id}/actions", available_actions)
    for action in ACTIONS.values():
        app.router.add_post(f"/api/v1/tickets/{{id}}/{action.name}", action_handler(action))
