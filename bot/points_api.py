"""The points bank under /api/v1/points (admin token): balances, one person's entries, and
redeeming points.

A person is named by their `wecom_userid` or `wechat_id`. A redemption is a decision
(`handlers.wishes.redeem`) applied by the one writer: a negative entry in the ledger with a
key of its own per request, refused with 409 when the balance is short. The person's
account is held while the balance is read and spent, so two redemptions at once cannot
both spend it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot import params
from bot.api import RUNTIME, iso
from bot.auth.scope import visible_person_ids
from bot.auth.viewer import Viewer, require_admin, require_viewer
from bot.writer import Origin
from domain.org import OrgMap, PersonInfo
from domain.points import PointsAccount
from handlers import wishes
from storage import points as points_queries

MAX_PERSON_CHARS = 100
MAX_WHAT_CHARS = 100
MAX_BY_CHARS = 64
MAX_POINTS = 1_000_000
ENTRIES_DEFAULT = 100
ENTRIES_MAX = 1000


def _not_found(key: str) -> web.Response:
    return web.json_response({"error": f"nobody has the wecom_userid or wechat_id {key!r}"},
                             status=404)


def _handle(person: PersonInfo) -> str:
    return person.wecom_userid or person.wechat_id or str(person.id)


def account_json(person: PersonInfo, account: PointsAccount) -> dict[str, Any]:
    return {
        "person": _handle(person), "name": person.name, "balance": account.balance,
        "entries": [{"at": iso(e.at), "points": e.points, "reason": e.reason,
                     "ticket": e.ticket_id} for e in account.entries],
    }


async def list_balances(request: web.Request) -> web.Response:
    """Every volunteer, and anyone else with an entry, with their balance (highest first)."""
    params.known_query(request.query, ())
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    org = await runtime.org.get()
    async with runtime.sessions() as session:
        balances = await points_queries.balances(session)
    ids = set(balances) | {p.id for p in org.people.values() if org.is_volunteer(p.id)}
    visible = visible_person_ids(viewer, org)
    if visible is not None:
        ids &= visible
    people = [org.person(i) for i in ids]
    rows = sorted((p for p in people if p is not None),
                  key=lambda p: (-balances.get(p.id, 0), p.id))
    return web.json_response({"people": [
        {"person": _handle(p), "name": p.name, "balance": balances.get(p.id, 0)} for p in rows]})


def _lookup(request: web.Request, org: OrgMap, viewer: Viewer) -> PersonInfo | str:
    """The person the path names, if the viewer may see their points; else the name as
    given (answered 404 alike, whether nobody has it or they are outside the scope)."""
    key = params.path_text(request, "person", MAX_PERSON_CHARS).strip()
    person = org.person_by_wecom(key) or org.person_by_wechat(key)
    visible = visible_person_ids(viewer, org)
    if person is None or (visible is not None and person.id not in visible):
        return key
    return person


async def get_account(request: web.Request) -> web.Response:
    """One person's balance and entries, newest first (`limit`, default 100)."""
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    org = await runtime.org.get()
    person = _lookup(request, org, viewer)
    if isinstance(person, str):
        return _not_found(person)
    params.known_query(request.query, ("limit",))
    limit = params.query_int(request.query, "limit", default=ENTRIES_DEFAULT, low=1,
                             high=ENTRIES_MAX)
    async with runtime.sessions() as session:
        account = await points_queries.account(session, person.id, limit)
    return web.json_response(account_json(person, account))


async def redeem(request: web.Request) -> web.Response:
    """Body {"points": 10, "what": "大米一袋"} (and "by", who redeems): 200 with the new
    balance and the entry; 409 when the balance is short."""
    runtime = request.app[RUNTIME]
    viewer = await require_viewer(request)
    require_admin(viewer)
    org = await runtime.org.get()
    person = _lookup(request, org, viewer)
    body = await params.json_object(request)
    params.only_fields(body, ("points", "what", "by"))
    if isinstance(person, str):
        return _not_found(person)
    points = params.json_int(body, "points", low=1, high=MAX_POINTS)
    what = (params.json_text(body, "what", max_chars=MAX_WHAT_CHARS) or "").strip()
    if not what:
        raise params.BadRequest('"what" must name what the points are redeemed for')
    by = (params.json_text(body, "by", max_chars=MAX_BY_CHARS) or "").strip() or "admin"
    if not viewer.is_token:
        if "by" in body:
            raise params.BadRequest(
                f'"by" is not accepted from a signed-in person: the redemption is recorded '
                f"under {viewer.name}")
        by = viewer.name
    key = f"redeem:{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    async with runtime.sessions() as session, session.begin():
        await points_queries.lock_account(session, person.id)
        balance = await points_queries.balance(session, person.id)
        decision = wishes.redeem(org, person.id, balance, points, what, by, key)
        if decision.outcome == "refused":
            return web.json_response(
                {"error": f"the balance of {_handle(person)} is {balance}, short of {points}",
                 "balance": balance}, status=409)
        origin = Origin(key=f"api:{key}", actor=by, now=now, actor_person_id=viewer.person_id)
        await runtime.writer.apply(session, decision, origin, org)
        account = await points_queries.account(session, person.id, 1)
    runtime.outbox.wake()
    answer = account_json(person, account)
    answer["entry"] = answer.pop("entries")[0]
    return web.json_response(answer)


def points_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/points", list_balances)
    app.router.add_get("/api/v1/points/{person}", get_account)
    app.router.add_post("/api/v1/points/{person}/redeem", redeem)
