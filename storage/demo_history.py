"""A believable history for the demo estate: every day from the first of last month (Beijing
time) until now, residents' reports of every category and what became of them, so that the
dashboard and the monthly review (月度点评) have something to show.

Each ticket lives the loop as gridbot would have run it: accepted (or, for a wish, claimed by
a volunteer of its grid) and resolved by the holder, escalated when a deadline passed (the
event says which, as the escalation handler's does), now and then whistled to a department
that reports (报到) or misses its deadline, rated by its resident (a confirmed wish earns its
volunteer the street's points) or closed unrated after the street's confirm time, a few
cancelled by their reporter; some gather followers. A handful of hard cases stay open: old,
escalated again and again, followed by many. What would happen after `now` has not happened:
such a ticket is still open where its life stands now, with its deadlines in its columns and
the timers that watch those still ahead, so the demo's loop carries on with them.

Everything is generated from a fixed seed and `now`, and written straight into the tables
(tickets, events, followers, points, timers) in one transaction; it is loaded only into a
database without tickets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from domain.notices import SHANGHAI
from domain.org import BuildingInfo, OrgMap
from storage.db import SessionFactory
from storage.models import Ticket, TicketFollower
from storage.orgmap import load_org_map
from storage.ticket_rows import insert_events, insert_points
from storage.timers import insert_timers, timer_row

SEED = "gridbot-demo-history"
#: Tickets a day across the demo's 96 buildings, on a weekday and at the weekend.
PER_DAY = (24, 18)
CATEGORY_WEIGHTS = (("repair", 44), ("complaint", 26), ("wish", 15), ("dispute", 15))
TIER_WEIGHTS = (("micro", 40), ("small", 35), ("medium", 18), ("big", 7))
RATING_WEIGHTS = ((5, 58), (4, 26), (3, 9), (2, 4), (1, 3))
HARD_CASES = 6

TEXTS = {
    "repair": (
        "{b}号楼电梯又坏了，卡在{f}楼不动，老人上下楼很不方便",
        "{b}号楼楼道灯不亮好几天了，晚上看不见路",
        "{b}号楼门禁坏了，外面的人随便进出",
        "{b}号楼{f}楼厨房下水道堵了，水漫出来了",
        "{b}号楼顶楼漏水，墙皮都泡起来了",
        "{b}号楼对讲机按了没反应，快递员进不来",
        "{b}号楼门口路灯坏了一片，晚上很黑",
        "{b}号楼楼下井盖松动，踩上去会晃",
        "{b}号楼消防栓箱门坏了关不上",
        "{b}号楼{f}楼水管爆了，楼道里都是水",
    ),
    "complaint": (
        "{b}号楼楼下烧烤店油烟太大，窗户都不敢开",
        "晚上十一点还有人在{b}号楼前广场跳舞，太吵了",
        "{b}号楼楼道里堆满杂物，消防通道堵死了",
        "{b}号楼旁边绿化带被人种了菜还浇粪，臭得很",
        "{b}号楼有人把电动车推进楼道充电，太危险了",
        "{b}号楼垃圾房好几天没清运，味道很大",
        "{b}号楼{f}楼装修，中午也不停，噪音太大",
        "{b}号楼门口乱停车，救护车都进不来",
        "{b}号楼楼上天天往下扔烟头",
    ),
    "wish": (
        "{b}号楼{f}楼独居老人腿脚不便，想请志愿者帮忙买菜",
        "{b}号楼{f}楼老人想请人帮忙换个灯泡",
        "{b}号楼老人想学用智能手机挂号，希望有志愿者教一下",
        "{b}号楼有几袋旧衣服，想请人帮忙送到回收点",
        "{b}号楼{f}楼行动不便，想请人陪同去社区医院配药",
        "{b}号楼{f}楼家里空调滤网想请人帮忙清洗",
    ),
    "dispute": (
        "{b}号楼楼上漏水到我家，楼上不肯修",
        "{b}号楼邻居家狗天天叫，沟通了没用",
        "{b}号楼楼下邻居占用公共车位，说了还吵起来",
        "{b}号楼隔壁装修把墙打裂了，不肯赔",
        "{b}号楼空调外机对着我家窗户吹，谈不拢",
        "{b}号楼邻居在公共走廊装鞋柜，协商不成",
    ),
}
HARD_TEXTS = (
    ("repair", None, "{b}号楼顶楼漏水一个多月了，物业说要等维修基金，家里墙都发霉了"),
    ("complaint", None, "{b}号楼旁边工地夜里施工，投诉了好几次还是天天到凌晨"),
    ("repair", None, "{b}号楼电梯三天两头坏，维保单位一直推，老人被困过两次"),
    ("dispute", "big", "{b}号楼两户因为楼上渗水赔偿闹到要打官司，多次调解未果"),
    ("complaint", None, "{b}号楼底商餐馆油烟直排，居民联名反映了还没解决"),
    ("dispute", "medium", "{b}号楼公共走廊被一户长期占用，邻里矛盾越闹越大"),
)
RESIDENT_TITLES = ("阿姨", "师傅", "先生", "女士", "老伯", "大姐")
RESIDENT_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
PROGRESS_NOTES = ("已联系物业上门查看", "已到现场，正在处理", "材料已订，明天上门", "已协调相关方")
REDEMPTIONS = (("兑换：社区理发券", 30), ("兑换：米一袋", 50), ("兑换：洗衣液", 20))


@dataclass
class _Ticket:
    """One ticket of the history as it will be written."""

    values: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    followers: list[dict[str, Any]] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)
    timers: list[tuple[str, datetime]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HistorySummary:
    tickets: int
    events: int
    first_day: date

    def __str__(self) -> str:
        return (f"history since {self.first_day.isoformat()}: {self.tickets} tickets, "
                f"{self.events} events")


def _weighted(rng: random.Random, table: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


def _hours(rng: random.Random, median: float, spread: float = 0.8) -> timedelta:
    """A lognormal duration around `median` hours."""
    return timedelta(hours=median * rng.lognormvariate(0, spread))


class _Life:
    """Writes the events of one ticket up to `now`, keeping its columns as they stand."""

    def __init__(self, org: OrgMap, now: datetime, ticket: _Ticket, building: BuildingInfo):
        self.org, self.now, self.t, self.building = org, now, ticket, building
        self.v = ticket.values
        self.sla = org.sla_for(building.id)

    def happens(self, at: datetime) -> bool:
        return at <= self.now

    def event(self, at: datetime, kind: str, text: str, actor_id: int | None = None,
              data: dict[str, Any] | None = None, actor: str | None = None) -> None:
        person = self.org.person(actor_id) if actor_id is not None else None
        self.t.events.append({"at": at, "kind": kind, "text": text, "data": data,
                              "actor": actor or (person.name if person else "gridbot"),
                              "actor_person_id": actor_id})
        self.v["updated_at"] = at

    def escalate(self, at: datetime, overdue: str | None, holder: int | None,
                 title: str, tier: str | None = None) -> None:
        level = self.v["escalation_level"] + 1
        person = self.org.person(holder) if holder is not None else None
        name = person.name if person else ""
        data: dict[str, Any] = {"level": level, "holder": name, "title": title}
        if overdue is not None:
            data["overdue"] = overdue
        if tier is not None and tier != self.v["tier"]:
            data |= {"tier": tier, "previous_tier": self.v["tier"]}
            self.v["tier"] = tier
        why = {"accept": "超过接单时限仍未接单", "resolve": "超过办结时限仍未办结",
               None: "网格员发起升级"}[overdue]
        self.event(at, "escalated", f"{why}，第{level}次升级，由{title}{name}督办",
                   data=data, actor="gridbot" if overdue else None,
                   actor_id=None if overdue else self.v["assignee_id"])
        grace = timedelta(seconds=self.sla.grace_seconds(self.v["urgency"]))
        self.v.update(escalation_level=level, assignee_id=holder)
        if self.v["status"] in ("new", "reopened"):
            self.v["accept_due_at"] = at + grace
        if overdue == "resolve" or self.v["resolve_due_at"] < at + grace:
            self.v["resolve_due_at"] = at + grace

    def above(self) -> tuple[int | None, str, str | None]:
        """Who holds the ticket after one more escalation, their title, a dispute's tier."""
        level = self.v["escalation_level"]
        if self.v["category"] == "dispute" and self.v["tier"] != "big":
            tiers = ("micro", "small", "medium", "big")
            tier = tiers[tiers.index(self.v["tier"]) + 1]
            mediator = self.org.mediator(self.building.district_id, tier)
            return mediator, {"small": "居委会调解员", "medium": "第三方调解员",
                              "big": "社区解纷员"}[tier], tier
        grid = self.org.grid(self.building.grid_id)
        district = self.org.district(self.building.district_id)
        rungs: list[tuple[int | None, str]] = []
        if self.v["category"] != "dispute" and grid is not None:
            rungs.append((grid.leader_id, "网格长"))
        rungs += [(p, "居委会") for p in self.org.admins_of_district(self.building.district_id)[:1]]
        if district is not None:
            rungs += [(p, "街道") for p in self.org.admins_of_street(district.street_id)[:1]]
        rung = rungs[min(level, len(rungs) - 1)] if rungs else (None, "街道")
        return rung[0], rung[1], None


def _resident(rng: random.Random, building: BuildingInfo) -> tuple[str, str]:
    name = rng.choice(RESIDENT_SURNAMES) + rng.choice(RESIDENT_TITLES)
    return f"wxid_demo_b{building.number}_{rng.randrange(1, 60)}", name


def _first_holder(org: OrgMap, category: str, tier: str | None,
                  building: BuildingInfo) -> int | None:
    grid = org.grid(building.grid_id)
    if category == "wish":
        return None
    if category == "dispute":
        if tier == "micro":
            captains = org.captains_of(building.id)
            return captains[0] if captains else None
        return org.mediator(building.district_id, tier or "small")
    return grid.worker_id if grid else None


def _new_ticket(org: OrgMap, rng: random.Random, created: datetime, category: str,
                building: BuildingInfo, text: str, tier: str | None = None) -> _Ticket:
    groups = org.groups_of_building(building.id)
    group = next((g for g in groups if g.channel == "simulator"), groups[0] if groups else None)
    reporter_id, reporter_name = _resident(rng, building)
    urgency = "emergency" if category == "repair" and rng.random() < 0.05 else "normal"
    if category == "dispute" and tier is None:
        tier = _weighted(rng, TIER_WEIGHTS)
    accept_due, resolve_due = org.sla_for(building.id).deadlines(category, urgency, created)
    values = dict(
        category=category, status="new", urgency=urgency, tier=tier, facility=None,
        building_id=building.id, grid_id=building.grid_id,
        group_id=group.id if group else None,
        assignee_id=_first_holder(org, category, tier, building),
        reporter_channel=group.channel if group else "simulator", reporter_id=reporter_id,
        reporter_name=reporter_name, source_message_id=None, text=text, location=None,
        escalation_level=0, accept_due_at=accept_due, resolve_due_at=resolve_due,
        department_id=None, respond_due_at=None, reported_at=None, confirm_due_at=None,
        accepted_at=None, resolved_at=None, closed_at=None, rating=None,
        created_at=created, updated_at=created,
    )
    ticket = _Ticket(values)
    ticket.events.append({"at": created, "kind": "created", "actor": reporter_name,
                          "actor_person_id": None, "data": None,
                          "text": f"{_CATEGORY_NAMES[category]}：{text}"})
    return ticket


_CATEGORY_NAMES = {"repair": "报修", "complaint": "投诉", "wish": "微心愿", "dispute": "矛盾纠纷"}


def _live(org: OrgMap, rng: random.Random, now: datetime, ticket: _Ticket,
          building: BuildingInfo, *, hard: bool = False, top: int = 2) -> None:
    """The ticket's life from its creation, as far as `now`; a hard case climbs up to `top`
    escalations."""
    life = _Life(org, now, ticket, building)
    v = ticket.values
    created: datetime = v["created_at"]
    if not hard and rng.random() < 0.03:
        at = created + _hours(rng, 1.5)
        if life.happens(at):
            life.event(at, "cancelled", f"{v['reporter_name']}撤销了工单",
                       actor=v["reporter_name"])
            v["status"] = "cancelled"
        return
    _followers(rng, ticket, building, now, count=rng.randint(3, 8) if hard else (
        rng.randint(1, 3) if rng.random() < 0.08 else 0))

    # Accepted, or claimed; a deadline that passes first escalates the ticket.
    if v["category"] == "wish":
        volunteers = org.volunteers_of(building.grid_id)
        at = created + _hours(rng, 5, 1.0)
        if volunteers and at < created + timedelta(days=2):
            if not life.happens(at):
                _watch(ticket, now)
                return
            volunteer = rng.choice(volunteers)
            v.update(assignee_id=volunteer, status="accepted", accepted_at=at)
            life.event(at, "claimed", f"志愿者 {life.org.person(volunteer).name} 认领",  # type: ignore[union-attr]
                       actor_id=volunteer)
        else:
            grid = org.grid(building.grid_id)
            at = created + timedelta(days=2)
            if not life.happens(at):
                _watch(ticket, now)
                return
            v["assignee_id"] = grid.worker_id if grid else None
            life.event(at, "handed_over", "两天无人认领，交网格员跟进")
            at += _hours(rng, 1)
            if not life.happens(at):
                _watch(ticket, now)
                return
            v.update(status="accepted", accepted_at=at)
            life.event(at, "accepted", "接单", actor_id=v["assignee_id"])
    else:
        late = hard or rng.random() < 0.12
        median = 0.1 if v["urgency"] == "emergency" else 0.6
        at = created + (_hours(rng, median, 0.6) if not late else
                        timedelta(seconds=life.sla.accept_seconds(v["urgency"]) + 1800))
        while v["accept_due_at"] < at and v["escalation_level"] < 3:
            due = v["accept_due_at"]
            if not life.happens(due):
                break
            holder, title, tier = life.above()
            life.escalate(due, "accept", holder, title, tier)
            at = max(at, due + _hours(rng, 0.5, 0.5))
        if not life.happens(at):
            _watch(ticket, now)
            return
        v.update(status="accepted", accepted_at=at)
        life.event(at, "accepted", "接单", actor_id=v["assignee_id"])

    # Now and then whistled to a department, which reports (报到) or misses its deadline.
    accepted: datetime = v["accepted_at"]
    if v["category"] in ("repair", "complaint") and (hard or rng.random() < 0.07):
        _whistle(org, rng, life, building, accepted + _hours(rng, 1, 0.5))

    # Resolved, in time or after a deadline passed.
    median = {"repair": 7, "complaint": 16, "wish": 26, "dispute": 60}[v["category"]]
    if v["urgency"] == "emergency":
        median = 2
    at = accepted + _hours(rng, median, 0.7)
    if hard:
        at = now + timedelta(days=30)
    if rng.random() < 0.3 or hard:
        note = accepted + (at - accepted) / 3
        if life.happens(note):
            v["status"] = "in_progress"
            life.event(note, "progress", rng.choice(PROGRESS_NOTES), actor_id=v["assignee_id"])
    while v["resolve_due_at"] < at and v["escalation_level"] < top:
        due = v["resolve_due_at"]
        if not life.happens(due):
            break
        holder, title, tier = life.above()
        life.escalate(due, "resolve", holder, title, tier)
        if hard and v["escalation_level"] < top:
            # The holder pushes the deadline by a week while the case drags on.
            v["resolve_due_at"] = due + timedelta(days=7)
    if not life.happens(at):
        _watch(ticket, now)
        return
    confirm = at + timedelta(seconds=life.sla.confirm)
    v.update(status="resolved", resolved_at=at, confirm_due_at=confirm)
    life.event(at, "resolved", "已办结", actor_id=v["assignee_id"])

    # Rated by its resident, or closed unrated.
    if rng.random() < 0.72:
        rated = at + _hours(rng, 8, 1.0)
        if rated < confirm and life.happens(rated):
            stars = _weighted(rng, RATING_WEIGHTS)
            v.update(status="closed", rating=stars, closed_at=rated)
            life.event(rated, "rated", f"评价 {stars} 星", actor=v["reporter_name"])
            holder = v["assignee_id"]
            if v["category"] == "wish" and holder is not None and org.is_volunteer(holder):
                ticket.points.append({"person_id": holder, "at": rated, "by": v["reporter_name"],
                                      "points": org.points_for(building.id, "wish")})
            return
    if life.happens(confirm):
        v.update(status="closed", closed_at=confirm)
        life.event(confirm, "closed", "居民未评价，到期自动关闭")
        return
    _watch(ticket, now)


def _whistle(org: OrgMap, rng: random.Random, life: _Life, building: BuildingInfo,
             at: datetime) -> None:
    district = org.district(building.district_id)
    street_id = district.street_id if district else None
    departments = [d for d in org.departments.values() if d.street_id == street_id]
    if not departments or not life.happens(at):
        return
    department = rng.choice(departments)
    grid = org.grid(building.grid_id)
    whistler = grid.leader_id if grid else None
    due = at + timedelta(seconds=department.respond_seconds)
    life.v.update(department_id=department.id, respond_due_at=due)
    life.event(at, "whistled", f"吹哨：{department.name}，限时报到", actor_id=whistler,
               data={"department": department.name})
    reported = at + timedelta(seconds=department.respond_seconds * rng.uniform(0.2, 1.6))
    if reported > due and life.happens(due):
        life.event(due, "respond_overdue", f"{department.name}超过报到时限仍未报到，已告知街道管理员",
                   data={"department": department.name, "told": []})
    if life.happens(reported):
        life.v["reported_at"] = reported
        life.event(reported, "reported", f"{department.name}报到",
                   actor_id=department.person_id, actor=department.name)


def _followers(rng: random.Random, ticket: _Ticket, building: BuildingInfo, now: datetime,
               count: int) -> None:
    v = ticket.values
    for n in range(count):
        at = v["created_at"] + _hours(rng, 6 * (n + 1), 0.6)
        if at > now:
            break
        sender, name = _resident(rng, building)
        if sender == v["reporter_id"] or any(f["sender_id"] == sender for f in ticket.followers):
            continue
        ticket.followers.append({"channel": v["reporter_channel"], "sender_id": sender,
                                 "sender_name": name, "group_id": v["group_id"],
                                 "created_at": at})
        ticket.events.append({"at": at, "kind": "followed", "actor": name,
                              "actor_person_id": None, "data": None,
                              "text": "同一问题再次反映"})


def _watch(ticket: _Ticket, now: datetime) -> None:
    """The timers that watch the deadlines still ahead of an open ticket."""
    v = ticket.values
    if v["status"] in ("new", "reopened") and v["accept_due_at"] > now:
        ticket.timers.append(("accept_due", v["accept_due_at"]))
    if v["resolve_due_at"] > now:
        ticket.timers.append(("resolve_due", v["resolve_due_at"]))
    if v["respond_due_at"] is not None and v["reported_at"] is None and v["respond_due_at"] > now:
        ticket.timers.append(("respond_due", v["respond_due_at"]))


def first_day(now: datetime) -> date:
    """The first day of the history: the first of last month, Beijing time."""
    today = now.astimezone(SHANGHAI).date()
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def plan_history(org: OrgMap, now: datetime) -> list[_Ticket]:
    """The history's tickets, oldest first; the same for the same map and `now`."""
    start = first_day(now)
    rng = random.Random(f"{SEED}:{start.isoformat()}")
    buildings = sorted(org.buildings.values(), key=lambda b: b.id)
    if not buildings:
        return []
    planned: list[_Ticket] = []
    day = start
    while (opening := datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)) < now:
        weekend = day.weekday() >= 5
        count = max(0, round(rng.gauss(PER_DAY[weekend], 4)))
        for _ in range(count):
            created = opening + timedelta(hours=min(23.5, max(6.5, rng.gauss(13.5, 4))),
                                          minutes=rng.randrange(60))
            if created > now - timedelta(minutes=30):
                continue
            building = rng.choice(buildings)
            category = _weighted(rng, CATEGORY_WEIGHTS)
            text = rng.choice(TEXTS[category]).format(b=building.number, f=rng.randint(2, 18))
            ticket = _new_ticket(org, rng, created, category, building, text)
            _live(org, rng, now, ticket, building)
            planned.append(ticket)
        day += timedelta(days=1)
    for n, (category, tier, words) in enumerate(HARD_TEXTS[:HARD_CASES]):
        created = now - timedelta(days=12 + 5 * n, hours=rng.randrange(12))
        if created.astimezone(SHANGHAI).date() < start:
            created = datetime(start.year, start.month, start.day, 10, tzinfo=SHANGHAI)
        building = buildings[(7 + 17 * n) % len(buildings)]
        ticket = _new_ticket(org, rng, created, category, building,
                             words.format(b=building.number), tier)
        _live(org, rng, now, ticket, building, hard=True, top=2 + n % 2)
        planned.append(ticket)
    planned.sort(key=lambda t: t.values["created_at"])
    return planned


def _redemptions(org: OrgMap, rng: random.Random, now: datetime, start: date,
                 earned: dict[int, int]) -> list[dict[str, Any]]:
    """A few volunteers spend some of what they earned."""
    rows = []
    for n, person_id in enumerate(sorted(p for p, points in earned.items() if points >= 30)[:6]):
        reason, points = REDEMPTIONS[n % len(REDEMPTIONS)]
        if points > earned[person_id]:
            continue
        opening = datetime(start.year, start.month, start.day, tzinfo=SHANGHAI)
        at = min(now - timedelta(hours=1), opening + timedelta(days=20 + n, hours=15))
        rows.append({"key": f"demo-redeem:{person_id}:{n}", "person_id": person_id,
                     "points": -points, "reason": reason, "ticket_id": None, "at": at,
                     "by": "admin"})
    return rows


async def load_history(session_factory: SessionFactory,
                       now: datetime | None = None) -> HistorySummary | None:
    """Write the history into a database that has an estate and no ticket yet; None (and
    nothing written) otherwise."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    async with session_factory() as session, session.begin():
        if await session.scalar(select(func.count()).select_from(Ticket)):
            return None
        org = await load_org_map(session)
        planned = plan_history(org, now)
        if not planned:
            return None
        ids = (await session.execute(
            insert(Ticket).returning(Ticket.id, sort_by_parameter_order=True),
            [t.values for t in planned])).scalars().all()
        events, followers, points, timers = [], [], [], []
        earned: dict[int, int] = {}
        for ticket_id, ticket in zip(ids, planned, strict=True):
            events += [{**e, "ticket_id": ticket_id} for e in ticket.events]
            followers += [{**f, "ticket_id": ticket_id} for f in ticket.followers]
            for entry in ticket.points:
                earned[entry["person_id"]] = earned.get(entry["person_id"], 0) + entry["points"]
                points.append({**entry, "key": f"wish:{ticket_id}", "ticket_id": ticket_id,
                               "reason": f"完成微心愿 #{ticket_id}"})
            timers += [timer_row(kind, due, now, ticket_id=ticket_id)
                       for kind, due in ticket.timers]
        rng = random.Random(f"{SEED}:redeem")
        points += _redemptions(org, rng, now, first_day(now), earned)
        events.sort(key=lambda e: (e["at"], e["ticket_id"]))
        await insert_events(session, events)
        await insert_points(session, points)
        if followers:
            await session.execute(insert(TicketFollower), followers)
        await insert_timers(session, timers)
    return HistorySummary(len(planned), len(events), first_day(now))
