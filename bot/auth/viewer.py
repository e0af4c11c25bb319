"""Who is asking, and what they may see and act on.

A `Viewer` is the admin token (machines: everything) or a person of the org file signed in
with a session. A person's scope comes from their roles, read afresh from the org map on
every request, so a role the org file takes away is gone at once:

| role | sees the tickets |
| --- | --- |
| street admin (`admins` of the street) | of every building of the street |
| district admin (`admins` of a district) | of every building of the district |
| grid leader | of the grid (its buildings, and the tickets filed under it) |
| building captain | of their buildings (to read; they act in chat) |
| everyone (grid worker, mediator, volunteer, department…) | they hold: assigned to them, or whistled to their department |

Held tickets are matched by the ticket's `assignee_id` and `department_id` as they are now,
so a ticket handed to someone appears for them and leaves the one who handed it on.

`ticket_conditions` restricts any ticket query; `can_see` and `can_act` decide about one
ticket (`TicketView`) without the database; both say the same thing. `visible_ticket` loads
one ticket only if the viewer may see it (answer 404 otherwise: whether a ticket outside the
scope exists is not told). `reads_only` says who only reads (captains, volunteers): every
answer shows them residents' phone numbers masked. `origin_for` records an action under the
person's name and id.
"""

from __future__ import annotations

import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.appkeys import RUNTIME, TOKEN
from bot.auth.sessions import COOKIE, SIGNER
from bot.writer import Origin
from domain.org import OrgMap
from domain.tickets import TicketView
from storage.figures_sql import member_of
from storage.models import Ticket

#: The actor events record for the admin token.
TOKEN_ACTOR = "admin"
#: Roles whose holders handle tickets and read them as written (phone numbers included);
#: someone with none of them (a captain, a volunteer) only reads (`reads_only`).
HANDLING_ROLES = ("grid_worker", "grid_leader", "mediator", "admin", "department")

_NONE: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Viewer:
    """The admin token (`kind` "token"), or a signed-in person and their scope."""

    kind: Literal["token", "person"]
    person_id: int | None = None
    name: str = TOKEN_ACTOR
    #: The person's WeCom userid, else their WeChat id.
    account: str | None = None
    #: Streets and districts they are an admin of; grids they lead; buildings they are
    #: captain of; departments they answer for.
    street_ids: frozenset[int] = _NONE
    district_ids: frozenset[int] = _NONE
    grid_ids: frozenset[int] = _NONE
    building_ids: frozenset[int] = _NONE
    department_ids: frozenset[int] = _NONE
    #: Their roles as the console names them ("网格员 第1网格").
    roles: tuple[str, ...] = ()
    #: The session's CSRF token, how they signed in, and when the session ends.
    csrf: str | None = field(default=None, repr=False)
    via: str | None = None
    expires_at: int | None = None

    @property
    def is_token(self) -> bool:
        return self.kind == "token"

    @property
    def is_admin(self) -> bool:
        """The admin token or a street admin: the routes that run the whole service (the
        language model, its review queue, redeeming points, sign-in for others)."""
        return self.is_token or bool(self.street_ids)

    @property
    def leads(self) -> bool:
        """Whether the person is over a place (street, district or grid), not only over
        the tickets they hold."""
        return bool(self.street_ids or self.district_ids or self.grid_ids)


TOKEN_VIEWER = Viewer("token")

#: Where `viewer_of` keeps its answer for the rest of the request.
VIEWER: Any = (web.RequestKey("gridbot_viewer", Viewer | None)  # type: ignore[arg-type]
               if hasattr(web, "RequestKey") else "gridbot_viewer")


def person_viewer(org: OrgMap, person_id: int, *, csrf: str | None = None,
                  via: str | None = None, expires_at: int | None = None) -> Viewer | None:
    """The viewer for a person of the org map; None for someone it does not know or who
    holds no role (a resident)."""
    person = org.person(person_id)
    if person is None or not org.is_staff(person_id):
        return None

    def scope(role: str, kind: str) -> frozenset[int]:
        return frozenset(r.scope_id for r in person.roles if r.role == role and r.scope == kind)

    return Viewer(
        kind="person", person_id=person.id, name=person.name,
        account=person.wecom_userid or person.wechat_id,
        street_ids=scope("admin", "street"),
        district_ids=scope("admin", "district"),
        grid_ids=scope("grid_leader", "grid"),
        building_ids=scope("captain", "building"),
        department_ids=frozenset(d.id for d in org.departments_of_person(person.id)),
        roles=tuple(org.role_label(r) for r in person.roles),
        csrf=csrf, via=via, expires_at=expires_at,
    )


# ---------------------------------------------------------------- places


def visible_building_ids(viewer: Viewer, org: OrgMap) -> frozenset[int] | None:
    """The buildings whose tickets the viewer sees as a whole (None: all of them, for the
    token); the tickets a person holds elsewhere are not among them."""
    if viewer.is_token:
        return None
    return frozenset(viewer.building_ids) | org.buildings_within(
        street_ids=viewer.street_ids, district_ids=viewer.district_ids,
        grid_ids=viewer.grid_ids)


def visible_grid_ids(viewer: Viewer, org: OrgMap) -> frozenset[int] | None:
    """The grids the viewer is over (None: all, for the token): those they lead and every
    grid of their districts and streets."""
    if viewer.is_token:
        return None
    return frozenset(viewer.grid_ids) | org.grids_within(street_ids=viewer.street_ids,
                                                         district_ids=viewer.district_ids)


def _holds(viewer: Viewer, ticket: TicketView | Ticket) -> bool:
    return (ticket.assignee_id is not None and ticket.assignee_id == viewer.person_id) or (
        ticket.department_id is not None and ticket.department_id in viewer.department_ids)


def _over(viewer: Viewer, org: OrgMap, ticket: TicketView | Ticket, *,
          captains: bool) -> bool:
    """Whether the ticket's place lies in the viewer's street, district or grid (or, with
    `captains`, in a building they are captain of)."""
    if ticket.grid_id is not None and ticket.grid_id in viewer.grid_ids:
        return True
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    if building is None:
        return False
    if captains and building.id in viewer.building_ids:
        return True
    if building.grid_id in viewer.grid_ids or building.district_id in viewer.district_ids:
        return True
    district = org.district(building.district_id)
    return district is not None and district.street_id in viewer.street_ids


# ---------------------------------------------------------------- tickets


def ticket_conditions(viewer: Viewer, org: OrgMap) -> list[Any]:
    """Conditions on `Ticket` that keep a query to the viewer's tickets (none for the
    token). `org` is the map the scope was read from: the buildings the viewer is over are
    bound as one array (`storage.figures_sql.member_of`), so that the conditions stay short
    for a street of any size and PostgreSQL reads each part from its index (an OR of
    subqueries it would test ticket by ticket, over a whole city's)."""
    if viewer.is_token:
        return []
    parts: list[Any] = []
    if viewer.person_id is not None:
        parts.append(Ticket.assignee_id == viewer.person_id)
    if viewer.department_ids:
        parts.append(Ticket.department_id.in_(sorted(viewer.department_ids)))
    buildings = visible_building_ids(viewer, org)
    if buildings:
        parts.append(member_of(Ticket.building_id, buildings))
    if viewer.grid_ids:
        parts.append(member_of(Ticket.grid_id, viewer.grid_ids))
    return [or_(*parts)] if parts else [Ticket.id.is_(None)]


def can_see(viewer: Viewer, org: OrgMap, ticket: TicketView | Ticket) -> bool:
    """Whether the viewer may read this ticket (the same answer as `ticket_conditions`)."""
    return viewer.is_token or _holds(viewer, ticket) or _over(viewer, org, ticket, captains=True)


def can_act(viewer: Viewer, org: OrgMap, ticket: TicketView | Ticket) -> bool:
    """Whether the viewer may act on this ticket from the console or the API: the token,
    whoever holds it, and the admins and grid leader over its place. Captains only read
    (they act in chat); each action's handler still refuses what the person's role may not
    do, the same way as the chat command."""
    return viewer.is_token or _holds(viewer, ticket) or _over(viewer, org, ticket, captains=False)


async def visible_ticket(session: AsyncSession, viewer: Viewer, org: OrgMap,
                         ticket_id: int) -> Ticket | None:
    """The ticket, if it exists and the viewer may see it."""
    found = await session.execute(
        select(Ticket).where(Ticket.id == ticket_id, *ticket_conditions(viewer, org)))
    return found.scalar_one_or_none()


def reads_only(viewer: Viewer, org: OrgMap) -> bool:
    """Whether the viewer only reads tickets — a captain, a volunteer: no role that handles
    them —, so that residents' phone numbers are masked in whatever the API answers them
    (lists, a ticket, messages, the outbox, a CSV). Not for the token and the staff who
    handle tickets, who have to call back."""
    if viewer.is_token or viewer.person_id is None:
        return False
    return not any(r.role in HANDLING_ROLES for r in org.roles_of(viewer.person_id))


# ---------------------------------------------------------------- actions


def origin_for(viewer: Viewer, key: str, now: datetime | None = None) -> Origin:
    """Where an API or console action comes from: events record the person's name and id
    (the admin token's actions: "admin")."""
    return Origin(key=key, actor=viewer.name, now=now or datetime.now(UTC),
                  actor_person_id=viewer.person_id)


def _forbidden(reason: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=json.dumps({"error": reason}, ensure_ascii=False),
                             content_type="application/json")


def require_admin(viewer: Viewer) -> None:
    """Refuse (403) anyone but the admin token and street admins."""
    if not viewer.is_admin:
        raise _forbidden("只有街道管理员可以这样做。Only the street's admins (or the admin "
                         "token) may do this.")


def refuse(reason: str) -> web.HTTPForbidden:
    """A 403 with `{"error": reason}` for a route to raise."""
    return _forbidden(reason)


# ---------------------------------------------------------------- the request


async def viewer_of(request: web.Request) -> Viewer | None:
    """Who sent this request: the admin token (`Authorization: Bearer …`), or the person
    whose session cookie it carries; None for nobody (no credentials, a wrong token, a
    forged or expired cookie, a person the org file no longer gives a role)."""
    if VIEWER in request:
        return request[VIEWER]
    viewer = await _identify(request)
    request[VIEWER] = viewer
    return viewer


def has_admin_token(request: web.Request) -> bool:
    """Whether the request carries `Authorization: Bearer <the admin token>`."""
    return bears(request, request.app[TOKEN])


def bears(request: web.Request, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>` (the scheme in any case,
    as RFC 9110 has it: some clients send `bearer`)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        value.strip().encode("utf-8", "replace"), token.encode())


async def _identify(request: web.Request) -> Viewer | None:
    if "Authorization" in request.headers:
        # A request that brings a token is judged by it alone, whatever cookie it carries.
        return TOKEN_VIEWER if has_admin_token(request) else None
    signer = request.app.get(SIGNER)
    cookie = request.cookies.get(COOKIE)
    if signer is None or not cookie:
        return None
    session = signer.read(cookie, int(time.time()))
    if session is None:
        return None
    org = await request.app[RUNTIME].org.get()
    return person_viewer(org, session.person_id, csrf=session.csrf, via=session.via,
                         expires_at=session.expires_at)


async def require_viewer(request: web.Request) -> Viewer:
    """The request's viewer; 401 when there is none (the API's middleware has already
    refused such a request, so this only guards routes reached some other way)."""
    viewer = await viewer_of(request)
    if viewer is None:
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "请先登录。Sign in first."}, ensure_ascii=False),
            content_type="application/json", headers={"WWW-Authenticate": "Bearer"})
    return viewer
