"""The morning digest (每日工作提醒): once a day, at `GRIDBOT_DIGEST_AT` (Beijing time), every
grid worker and grid leader on WeCom gets one message with the open tickets they hold (the
soonest deadline first, the overdue ones marked), the unclaimed wishes of their grids and
their grids' figures of yesterday; a leader also sees the overdue tickets of their grid
that others hold. District and street admins get their district's or street's figures and
its oldest open tickets (and the tickets they hold themselves).

The digest is a timer of kind `digest` about no ticket and no notice. The shell loads
`DigestData` (every open ticket, yesterday's figures per grid, district and street, the
configured time); `send_digests` decides, and schedules the next one: the first
`DigestData.at` after now on a later Beijing day than the one that fired, so that each day
has one digest timer (its key is its kind and its day, `storage.timers.timer_row`) however
many processes schedule it. A digest fired late, after gridbot was stopped over its time,
is still sent once — unless the next one is due within `LATE_SKIP`, when it would only
come twice in a row.

Nobody gets an empty digest: a person with nothing open, nothing to claim and a quiet
yesterday gets no message at all, rather than a daily "今日无待办" that would teach people
to skip the digest on the days it matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from domain.decisions import Decision, ScheduleTimer, Send, ToPerson
from domain.notices import SHANGHAI
from domain.org import OrgMap
from domain.tickets import Category, Status
from handlers import texts

if TYPE_CHECKING:
    from handlers.timers import TimerContext

DIGEST = "digest"
#: A digest fired this close before the next one is not sent (gridbot was stopped over its
#: time and started shortly before the next).
LATE_SKIP = timedelta(hours=3)
#: WeCom cuts a text message at 2048 bytes; a digest stays below.
MAX_BYTES = 2000
#: How many lines each list shows, tried in turn until the message fits.
LIST_LIMITS = (8, 4, 2, 1, 0)
#: How many of a scope's oldest open tickets an admin's digest lists.
OLDEST = 5

Place = tuple[str, int]  # ("grid" | "district" | "street", id)


@dataclass(frozen=True, slots=True)
class OpenTicket:
    """An open ticket as the digest reads it. `overdue` names the deadlines it is past
    (as the figures count them: "accept", "resolve", "respond")."""

    id: int
    category: str
    status: str
    building_id: int | None
    grid_id: int | None
    assignee_id: int | None
    created_at: datetime
    text: str = ""
    accept_due_at: datetime | None = None
    resolve_due_at: datetime | None = None
    respond_due_at: datetime | None = None
    department_id: int | None = None
    reported_at: datetime | None = None
    overdue: tuple[str, ...] = ()

    def deadlines(self) -> list[tuple[datetime, str]]:
        """The deadlines that still apply, soonest first: accepting while nobody has, the
        department's report while it has not, resolving."""
        found = []
        if self.status in (Status.NEW, Status.REOPENED) and self.accept_due_at is not None:
            found.append((self.accept_due_at, "accept"))
        if (self.department_id is not None and self.reported_at is None
                and self.respond_due_at is not None):
            found.append((self.respond_due_at, "respond"))
        if self.resolve_due_at is not None:
            found.append((self.resolve_due_at, "resolve"))
        return sorted(found)

    def next_deadline(self) -> tuple[datetime, str] | None:
        found = self.deadlines()
        return found[0] if found else None

    @property
    def unclaimed_wish(self) -> bool:
        """A wish still waiting for a volunteer (`handlers.volunteers.unclaimed`)."""
        return (self.category == Category.WISH and self.status == Status.NEW
                and self.assignee_id is None)


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One place's figures of a Beijing day, as the dashboard counts them: tickets received
    that day, tickets closed (办结) that day, the average rating of those closed."""

    received: int = 0
    closed: int = 0
    satisfaction: float | None = None
    rated: int = 0

    @property
    def quiet(self) -> bool:
        return not self.received and not self.closed


@dataclass(frozen=True, slots=True)
class DigestData:
    """What the shell loads for a digest: the configured time, every open ticket, and
    yesterday's figures per place (a place without an entry had none)."""

    at: time
    open_tickets: tuple[OpenTicket, ...] = ()
    yesterday: Mapping[Place, DayFigures] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Index:
    """The open tickets by holder, by grid and by district (of their building), built once
    for everyone's digests."""

    held: Mapping[int, list[OpenTicket]]
    grids: Mapping[int, list[OpenTicket]]
    districts: Mapping[int, list[OpenTicket]]

    @classmethod
    def of(cls, org: OrgMap, tickets: Iterable[OpenTicket]) -> _Index:
        held: dict[int, list[OpenTicket]] = {}
        grids: dict[int, list[OpenTicket]] = {}
        districts: dict[int, list[OpenTicket]] = {}
        for ticket in tickets:
            if ticket.assignee_id is not None:
                held.setdefault(ticket.assignee_id, []).append(ticket)
            if ticket.grid_id is not None:
                grids.setdefault(ticket.grid_id, []).append(ticket)
            building = (org.building(ticket.building_id) if ticket.building_id is not None
                        else None)
            if building is not None:
                districts.setdefault(building.district_id, []).append(ticket)
        return cls(held, grids, districts)


# ---------------------------------------------------------------- when


def beijing_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def next_digest_at(now: datetime, at: time, after_day: date | None = None) -> datetime:
    """The first `at` (Beijing time) after `now`, on a day later than `after_day`."""
    day = beijing_day(now)
    if after_day is not None and day <= after_day:
        day = after_day + timedelta(days=1)
    while True:
        due = datetime.combine(day, at.replace(tzinfo=None), tzinfo=SHANGHAI)
        if due > now:
            return due
        day += timedelta(days=1)


# ---------------------------------------------------------------- the timer


def send_digests(ctx: TimerContext) -> Decision:
    """The `digest` timer: each person's digest, and the next day's timer."""
    data = ctx.data
    if not isinstance(data, DigestData):
        return Decision("ignored", texts.WHY_DIGEST_NO_DATA)
    fired_day = beijing_day(ctx.timer.due_at)
    due = next_digest_at(ctx.now, data.at, fired_day)
    following = [ScheduleTimer(DIGEST, due)]
    if beijing_day(ctx.now) > fired_day and due - ctx.now < LATE_SKIP:
        return Decision("ignored", texts.WHY_DIGEST_LATE.format(
            day=_day(fired_day), next=texts.when(due)), timers=following)
    sends = []
    index = _Index.of(ctx.org, data.open_tickets)
    for person_id in recipients(ctx.org):
        text = digest_for(ctx.org, person_id, ctx.now, data, index)
        if text is not None:
            sends.append(Send(ToPerson(person_id), "{text}", {"text": text},
                              key=f"digest:{person_id}"))
    return Decision("digest_sent", texts.WHY_DIGEST_SENT.format(
        count=len(sends), next=texts.when(due)), sends=sends, timers=following)


def recipients(org: OrgMap) -> list[int]:
    """Everyone a digest is for, by id: grid workers and leaders, district and street admins,
    on WeCom (a digest is a WeCom message; someone known only by WeChat gets none)."""
    found = []
    for person in sorted(org.people.values(), key=lambda p: p.id):
        if person.wecom_userid and any(_digest_role(r.role, r.scope) for r in person.roles):
            found.append(person.id)
    return found


def _digest_role(role: str, scope: str) -> bool:
    return ((role in ("grid_worker", "grid_leader") and scope == "grid")
            or (role == "admin" and scope in ("district", "street")))


# ---------------------------------------------------------------- one person's digest


def digest_for(org: OrgMap, person_id: int, now: datetime, data: DigestData,
               index: _Index | None = None) -> str | None:
    """The person's digest, or None when it would say nothing. Lists are cut until the
    message fits in `MAX_BYTES`."""
    person = org.person(person_id)
    if person is None:
        return None
    index = index if index is not None else _Index.of(org, data.open_tickets)
    for limit in LIST_LIMITS:
        sections = _sections(org, person_id, now, data.yesterday, index, limit)
        if not sections:
            return None
        local = now.astimezone(SHANGHAI)
        greeting = texts.DIGEST_MORNING if local.hour < 12 else texts.DIGEST_HELLO
        text = "\n".join([texts.DIGEST_TITLE.format(day=_day(local.date())),
                          greeting.format(name=person.name), *sections])
        if len(text.encode()) <= MAX_BYTES:
            return text
    return _cut(text)


def _cut(text: str) -> str:
    """What still does not fit after every list was shortened: cut at a line."""
    kept: list[str] = []
    for line in text.split("\n"):
        if len("\n".join([*kept, line, "…"]).encode()) > MAX_BYTES:
            break
        kept.append(line)
    return "\n".join([*kept, "…"])


def _sections(org: OrgMap, person_id: int, now: datetime,
              yesterday: Mapping[Place, DayFigures], index: _Index, limit: int) -> list[str]:
    sections: list[str] = []
    held = sorted(index.held.get(person_id, ()), key=_by_deadline)
    if held:
        sections.append(_held(org, held, now, limit))
    worked = org.grids_of(person_id, "grid_worker")
    led = org.grids_of(person_id, "grid_leader")
    for grid_id in [*worked, *(g for g in led if g not in worked)]:
        sections += _grid(org, grid_id, person_id if grid_id in led else None,
                          index.grids.get(grid_id, []), yesterday, now, limit)
    for role in org.roles_of(person_id):
        if role.role == "admin" and role.scope in ("district", "street"):
            section = _scope(org, role.scope, role.scope_id, index, yesterday, now, limit)
            if section:
                sections.append(section)
    return sections


def _by_deadline(ticket: OpenTicket) -> tuple[int, datetime, int]:
    deadline = ticket.next_deadline()
    return (0, deadline[0], ticket.id) if deadline else (1, ticket.created_at, ticket.id)


def _held(org: OrgMap, held: list[OpenTicket], now: datetime, limit: int) -> str:
    overdue = sum(1 for t in held if t.overdue)
    header = (texts.DIGEST_HELD_OVERDUE if overdue else texts.DIGEST_HELD).format(
        count=len(held), overdue=overdue)
    lines = [header, *(_ticket_line(org, t) for t in held[:limit])]
    if len(held) > limit:
        lines.append(texts.DIGEST_HELD_MORE.format(count=len(held) - limit))
    return "\n".join(lines)


def _grid(org: OrgMap, grid_id: int, leader_id: int | None, in_grid: Sequence[OpenTicket],
          yesterday: Mapping[Place, DayFigures], now: datetime, limit: int) -> list[str]:
    """A grid's part: its overdue tickets others hold (for its leader), its unclaimed
    wishes, its figures. Parts with nothing to say are left out."""
    grid = org.grid(grid_id)
    if grid is None:
        return []
    parts = []
    if leader_id is not None:
        late = sorted((t for t in in_grid if t.overdue and t.assignee_id != leader_id),
                      key=_by_deadline)
        if late:
            lines = [texts.DIGEST_GRID_OVERDUE.format(grid=grid.name, count=len(late)),
                     *(_ticket_line(org, t, holder=True) for t in late[:limit])]
            parts.append("\n".join(lines + _more(len(late), limit)))
    wishes = sorted((t for t in in_grid if t.unclaimed_wish), key=lambda t: (t.created_at, t.id))
    if wishes:
        lines = [texts.DIGEST_WISHES.format(grid=grid.name, count=len(wishes)),
                 *(_wish_line(org, t) for t in wishes[:limit])]
        parts.append("\n".join(lines + _more(len(wishes), limit)))
    figures = _figures_line(yesterday.get(("grid", grid_id), DayFigures()), in_grid)
    if figures:
        parts.append(texts.DIGEST_PLACE.format(place=grid.name, figures=figures))
    return parts


def _scope(org: OrgMap, scope: str, scope_id: int, index: _Index,
           yesterday: Mapping[Place, DayFigures], now: datetime, limit: int) -> str | None:
    """A district's or street's part: its figures and its oldest open tickets."""
    if scope == "district":
        place = org.district(scope_id)
        districts = [scope_id]
    else:
        place = org.street(scope_id)
        districts = [d.id for d in org.districts_of_street(scope_id)]
    if place is None:
        return None
    open_here = [t for d in districts for t in index.districts.get(d, ())]
    figures = _figures_line(yesterday.get((scope, scope_id), DayFigures()), open_here)
    if not figures:
        return None
    lines = [texts.DIGEST_PLACE.format(place=place.name, figures=figures)]
    oldest = sorted(open_here, key=lambda t: (t.created_at, t.id))[:min(limit, OLDEST)]
    if oldest:
        lines.append(texts.DIGEST_OLDEST)
        lines += [_ticket_line(org, t, holder=True, age=now, district=scope == "street")
                  for t in oldest]
    return "\n".join(lines)


def _more(count: int, limit: int) -> list[str]:
    return [texts.DIGEST_MORE.format(count=count - limit)] if count > limit else []


# ---------------------------------------------------------------- lines


def _day(day: date) -> str:
    return texts.DIGEST_DAY.format(month=day.month, day=day.day,
                                   weekday=texts.WEEKDAYS[day.weekday()])


def _building(org: OrgMap, ticket: OpenTicket, district: bool = False) -> str | None:
    building = org.building(ticket.building_id) if ticket.building_id is not None else None
    if building is None:
        return None
    name = f"{building.number}号楼"
    place = org.district(building.district_id) if district else None
    return f"{place.name}{name}" if place is not None else name


def _ticket_line(org: OrgMap, ticket: OpenTicket, *, holder: bool = False,
                 age: datetime | None = None, district: bool = False) -> str:
    """`#128 报修｜3号楼｜已接单｜办结时限 12-02 18:00`, marked when overdue."""
    deadline = ticket.next_deadline()
    fields = [f"#{ticket.id} {texts.CATEGORY_NAMES.get(ticket.category, ticket.category)}",
              _building(org, ticket, district),
              texts.STATUS_NAMES.get(ticket.status, ticket.status)]
    if holder:
        person = org.person(ticket.assignee_id) if ticket.assignee_id is not None else None
        fields.append(person.name if person is not None
                      else texts.DIGEST_UNCLAIMED if ticket.unclaimed_wish
                      else texts.DIGEST_NOBODY)
    if age is not None:
        fields.append(_age(age - ticket.created_at))
    elif deadline is not None:
        fields.append(texts.DIGEST_DEADLINE.format(
            kind=texts.DIGEST_DEADLINE_NAMES[deadline[1]], at=texts.when(deadline[0])))
    line = "｜".join(f for f in fields if f)
    return texts.DIGEST_OVERDUE_MARK + line if ticket.overdue else line


def _age(waited: timedelta) -> str:
    if waited >= timedelta(days=1):
        return texts.DIGEST_AGE_DAYS.format(days=waited.days)
    return texts.DIGEST_AGE_HOURS.format(hours=max(1, int(waited.total_seconds() // 3600)))


def _wish_line(org: OrgMap, ticket: OpenTicket) -> str:
    fields = [f"#{ticket.id}", _building(org, ticket),
              texts.excerpt(texts.mask_phones(ticket.text), 20),
              texts.DIGEST_POSTED.format(at=texts.when(ticket.created_at))]
    return "｜".join(f for f in fields if f)


def _figures_line(day: DayFigures, open_now: Iterable[OpenTicket]) -> str | None:
    """Yesterday's figures and the open tickets now; None when there is nothing to say."""
    open_list = list(open_now)
    overdue = sum(1 for t in open_list if t.overdue)
    if day.quiet and not open_list:
        return None
    if day.satisfaction is not None:
        rating = texts.DIGEST_SATISFACTION.format(score=f"{day.satisfaction:g}", rated=day.rated)
    else:
        rating = texts.DIGEST_NO_RATING
    now_part = (texts.DIGEST_OPEN_OVERDUE if overdue else texts.DIGEST_OPEN).format(
        count=len(open_list), overdue=overdue)
    return texts.DIGEST_FIGURES.format(received=day.received, closed=day.closed,
                                       rating=rating, open=now_part)
