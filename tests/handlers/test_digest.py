"""The morning digest as a pure decision: who gets one, what each says, in which order, and
when the next one is due."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from domain.decisions import ToPerson
from domain.org import OrgMap, RoleInfo
from handlers import texts
from handlers.digest import (
    DIGEST,
    LATE_SKIP,
    MAX_BYTES,
    DayFigures,
    DigestData,
    OpenTicket,
    digest_for,
    next_digest_at,
    recipients,
    send_digests,
)
from handlers.timers import ON_TIMER, TimerContext, TimerView
from tests.handlers.support import (
    ADMIN,
    CAPTAIN,
    DISTRICT_ADMIN,
    LEADER,
    MED_SMALL,
    ORG,
    OTHER_STREET_ADMIN,
    OTHER_WORKER,
    VOLUNTEER,
    WORKER,
)

AT = time(8, 30)
#: 08:30 in Beijing on Sunday 22 November 2026.
MORNING = datetime(2026, 11, 22, 0, 30, tzinfo=UTC)


def open_ticket(id: int, **over) -> OpenTicket:
    base = dict(id=id, category="repair", status="accepted", building_id=10, grid_id=1,
                assignee_id=WORKER, created_at=MORNING - timedelta(hours=20),
                text="楼道灯坏了", resolve_due_at=MORNING + timedelta(hours=4))
    base.update(over)
    return OpenTicket(**base)


def data(*tickets: OpenTicket, **yesterday: DayFigures) -> DigestData:
    places = {tuple(key.split("_")): value for key, value in yesterday.items()}
    return DigestData(AT, tickets, {(kind, int(n)): v for (kind, n), v in places.items()})


def digest(person: int, *tickets: OpenTicket, now: datetime = MORNING,
           **yesterday: DayFigures) -> str | None:
    return digest_for(ORG, person, now, data(*tickets, **yesterday))


def lines_with_ids(text: str) -> list[int]:
    """The ticket numbers of the lines that name one, in order."""
    import re

    return [int(m.group(1)) for line in text.split("\n") if (m := re.search(r"#(\d+)", line))]


def fire(payload: DigestData | None, *, due: datetime = MORNING, now: datetime = MORNING,
         org: OrgMap = ORG):
    ctx = TimerContext(org, now, TimerView(7, DIGEST, due), data=payload)
    assert ON_TIMER[DIGEST] is send_digests
    return ON_TIMER[DIGEST](ctx)


# ---------------------------------------------------------------- when


def test_the_next_digest_is_the_next_configured_time_in_beijing():
    assert next_digest_at(MORNING - timedelta(minutes=1), AT) == MORNING
    assert next_digest_at(MORNING, AT) == MORNING + timedelta(days=1)
    # 23:00 UTC is 07:00 the next day in Beijing: that day's 08:30, not the UTC day's.
    late_evening_utc = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    assert next_digest_at(late_evening_utc, AT) == MORNING
    # After the day that fired, always on a later day, even when the time moved later.
    assert next_digest_at(MORNING, time(9, 0), after_day=date(2026, 11, 22)) == (
        MORNING + timedelta(days=1, minutes=30))


def test_the_timer_sends_one_digest_per_person_and_schedules_the_next_day():
    decision = fire(data(open_ticket(1), open_ticket(2, grid_id=2, building_id=12,
                                                       assignee_id=OTHER_WORKER)))
    assert decision.outcome == "digest_sent"
    people = [s.to.person_id for s in decision.sends if isinstance(s.to, ToPerson)]
    assert len(people) == len(decision.sends) == len(set(people))
    assert set(people) == {WORKER, LEADER, OTHER_WORKER, ADMIN, DISTRICT_ADMIN}
    assert all(s.key == f"digest:{s.to.person_id}" for s in decision.sends)
    assert [(t.kind, t.due_at, t.ticket_id, t.notice_id) for t in decision.timers] == [
        (DIGEST, MORNING + timedelta(days=1), None, None)]


def test_a_digest_missed_while_stopped_is_sent_once_and_the_next_is_the_next_day():
    two_days_late = MORNING + timedelta(days=2, hours=1)
    decision = fire(data(open_ticket(1)), now=two_days_late)
    assert decision.outcome == "digest_sent" and decision.sends
    assert [t.due_at for t in decision.timers] == [MORNING + timedelta(days=3)]


def test_a_missed_digest_is_not_sent_shortly_before_the_next_one():
    just_before_next = MORNING + timedelta(days=1) - LATE_SKIP + timedelta(minutes=1)
    decision = fire(data(open_ticket(1)), now=just_before_next)
    assert decision.outcome == "ignored" and not decision.sends
    assert [t.due_at for t in decision.timers] == [MORNING + timedelta(days=1)]


def test_without_its_data_the_timer_sends_nothing():
    decision = fire(None)
    assert decision.outcome == "ignored" and not decision.sends and not decision.timers


# ---------------------------------------------------------------- who


def test_grid_staff_and_admins_on_wecom_get_a_digest_and_nobody_else():
    assert recipients(ORG) == sorted([WORKER, LEADER, ADMIN, OTHER_WORKER, DISTRICT_ADMIN,
                                      OTHER_STREET_ADMIN])
    assert CAPTAIN not in recipients(ORG) and MED_SMALL not in recipients(ORG)
    assert VOLUNTEER not in recipients(ORG)


def test_a_grid_worker_known_only_by_wechat_gets_no_digest():
    org = OrgMap.build(
        grids=[(1, "第1网格", 1)],
        people=[(1, "微信网格员", None, "wxid_wg", None), (2, "网格长", "wgz", None, None)],
        roles=[(1, RoleInfo("grid_worker", "grid", 1)), (2, RoleInfo("grid_leader", "grid", 1))])
    assert recipients(org) == [2]
    decision = fire(data(open_ticket(1, assignee_id=1, building_id=None)), org=org)
    assert [s.to.person_id for s in decision.sends] == [2]


def test_nobody_gets_an_empty_digest():
    quiet = data()
    assert fire(quiet).sends == []
    for person in recipients(ORG):
        assert digest_for(ORG, person, MORNING, quiet) is None
    # A quiet day elsewhere says nothing to this grid's people either.
    elsewhere = data(open_ticket(1, grid_id=2, building_id=12, assignee_id=OTHER_WORKER),
                     grid_2=DayFigures(3, 1))
    assert digest_for(ORG, WORKER, MORNING, elsewhere) is None
    assert digest_for(ORG, LEADER, MORNING, elsewhere) is None
    assert digest_for(ORG, OTHER_STREET_ADMIN, MORNING, elsewhere) is None
    decision = fire(elsewhere)
    for send in decision.sends:
        text = send.render(None)
        assert len(text.split("\n")) > 2, text  # more than the title and the greeting


# ---------------------------------------------------------------- a grid worker's digest


def test_a_workers_tickets_come_soonest_deadline_first_with_the_deadline_that_applies():
    text = digest(
        WORKER,
        open_ticket(1, resolve_due_at=MORNING + timedelta(days=2)),
        open_ticket(2, status="new", accept_due_at=MORNING + timedelta(hours=1),
                    resolve_due_at=MORNING + timedelta(days=1)),
        open_ticket(3, category="complaint", building_id=11,
                    resolve_due_at=MORNING + timedelta(hours=3)),
        open_ticket(4, resolve_due_at=None),
    )
    assert text is not None
    assert text.startswith("【每日工作提醒】11月22日 周日\n张网格，早上好！\n")
    assert "【您的在办工单】4 件，时限近的在前：" in text
    assert lines_with_ids(text) == [2, 3, 1, 4]
    assert "#2 报修｜3号楼｜待接单｜接单时限 11-22 09:30" in text
    assert "#3 投诉｜5号楼｜已接单｜办结时限 11-22 11:30" in text
    assert "#4 报修｜3号楼｜已接单\n" in text + "\n"


def test_overdue_tickets_are_marked_and_counted():
    text = digest(
        WORKER,
        open_ticket(1),
        open_ticket(2, resolve_due_at=MORNING - timedelta(hours=2), overdue=("resolve",)),
    )
    assert "【您的在办工单】2 件，其中 1 件已超时，时限近的在前：" in text
    assert "【超时】#2 报修｜3号楼｜已接单｜办结时限 11-22 06:30" in text
    assert "\n#1 报修｜3号楼｜已接单｜办结时限 11-22 12:30" in text
    assert lines_with_ids(text)[:2] == [2, 1]


def test_another_grids_tickets_and_wishes_never_appear():
    mine = open_ticket(1)
    theirs = open_ticket(2, grid_id=2, building_id=12, assignee_id=OTHER_WORKER,
                         overdue=("resolve",))
    their_wish = open_ticket(3, category="wish", status="new", grid_id=2, building_id=12,
                             assignee_id=None)
    text = digest(WORKER, mine, theirs, their_wish)
    assert lines_with_ids(text) == [1]
    other = digest(OTHER_WORKER, mine, theirs, their_wish)
    assert 1 not in lines_with_ids(other) and {2, 3} <= set(lines_with_ids(other))
    assert "第1网格" not in other


def test_unclaimed_wishes_of_the_grid_are_listed_oldest_first_without_phone_numbers():
    wish = open_ticket(5, category="wish", status="new", assignee_id=None,
                       text="帮独居老人买菜 电话13812345678", created_at=MORNING - timedelta(hours=3))
    older = open_ticket(6, category="wish", status="new", assignee_id=None, building_id=11,
                        text="陪老人去医院", created_at=MORNING - timedelta(hours=30))
    claimed = open_ticket(7, category="wish", status="accepted", assignee_id=VOLUNTEER)
    text = digest(WORKER, wish, older, claimed)
    assert "【第1网格待认领心愿】2 件：" in text
    assert "#6｜5号楼｜陪老人去医院｜11-21 02:30 发布" in text
    assert "13812345678" not in text and "电话138****" in text
    assert lines_with_ids(text) == [6, 5]
    assert 7 not in lines_with_ids(digest(LEADER, wish, claimed))


def test_yesterdays_figures_of_the_grid():
    text = digest(WORKER, open_ticket(1, overdue=("resolve",)),
                  grid_1=DayFigures(received=5, closed=4, satisfaction=4.5, rated=2))
    assert ("【第1网格】昨日收到 5 件，办结 4 件，满意度 4.5 分（2 件评价）；"
            "目前在办 1 件，其中超时 1 件。") in text
    unrated = digest(WORKER, grid_1=DayFigures(received=2, closed=1))
    assert unrated is not None
    assert "【第1网格】昨日收到 2 件，办结 1 件，暂无评价；目前在办 0 件。" in unrated
    assert "在办工单" not in unrated  # nothing held: no list


def test_a_leader_sees_the_grids_overdue_tickets_others_hold():
    late = open_ticket(1, overdue=("resolve",), resolve_due_at=MORNING - timedelta(hours=1))
    on_time = open_ticket(2)
    own = open_ticket(3, assignee_id=LEADER, overdue=("accept",), status="new",
                      accept_due_at=MORNING - timedelta(hours=2))
    text = digest(LEADER, late, on_time, own)
    assert "【您的在办工单】1 件，其中 1 件已超时" in text
    assert "【第1网格超时工单】1 件，请督办：\n【超时】#1 报修｜3号楼｜已接单｜张网格｜办结时限 11-22 07:30" in text
    assert lines_with_ids(text) == [3, 1]
    assert "超时工单" not in digest(WORKER, late, on_time, own)


# ---------------------------------------------------------------- admins


def test_a_street_admin_gets_the_streets_figures_and_oldest_open_tickets():
    tickets = [open_ticket(n, created_at=MORNING - timedelta(days=n), grid_id=1 + n % 2,
                           building_id=10 if n % 2 == 0 else 12,
                           assignee_id=WORKER if n % 2 == 0 else OTHER_WORKER,
                           overdue=("resolve",) if n > 4 else ())
               for n in range(1, 8)]
    text = digest(ADMIN, *tickets, street_1=DayFigures(12, 9, 4.25, 4))
    assert ("【宜川路街道】昨日收到 12 件，办结 9 件，满意度 4.25 分（4 件评价）；"
            "目前在办 7 件，其中超时 3 件。") in text
    assert "最久未办结的工单：" in text
    assert lines_with_ids(text) == [7, 6, 5, 4, 3]
    assert "【超时】#7 报修｜第一居民区7号楼｜已接单｜李网格｜已 7 天" in text
    assert "#4 报修｜第一居民区3号楼｜已接单｜张网格｜已 4 天" in text


def test_a_district_admin_gets_the_districts_and_another_streets_admin_nothing():
    tickets = [open_ticket(1, created_at=MORNING - timedelta(hours=5)),
               open_ticket(2, status="new", assignee_id=None, overdue=("accept",))]
    text = digest(DISTRICT_ADMIN, *tickets, district_1=DayFigures(2, 0))
    assert "【第一居民区】昨日收到 2 件，办结 0 件，暂无评价；目前在办 2 件，其中超时 1 件。" in text
    assert "【超时】#2 报修｜3号楼｜待接单｜未分派｜已 20 小时" in text
    assert "#1 报修｜3号楼｜已接单｜张网格｜已 5 小时" in text
    assert digest(OTHER_STREET_ADMIN, *tickets, district_1=DayFigures(2, 0),
                  street_1=DayFigures(2, 0)) is None


def test_someone_with_several_roles_gets_one_digest_with_each_part():
    org = OrgMap.build(
        streets=ORG.streets.values(), districts=ORG.districts.values(),
        grids=[(g.id, g.name, g.district_id) for g in ORG.grids.values()],
        buildings=ORG.buildings.values(),
        people=[(1, "身兼数职", "many", None, None)],
        roles=[(1, RoleInfo("grid_worker", "grid", 1)), (1, RoleInfo("grid_leader", "grid", 2)),
               (1, RoleInfo("admin", "district", 1))])
    payload = data(open_ticket(1, assignee_id=1),
                   open_ticket(2, grid_id=2, building_id=12, assignee_id=None,
                               overdue=("accept",), status="new"))
    decision = fire(payload, org=org)
    assert len(decision.sends) == 1
    text = decision.sends[0].render(None)
    for part in ("【您的在办工单】1 件", "【第1网格】", "【第2网格超时工单】1 件", "【第2网格】",
                 "【第一居民区】"):
        assert part in text, part


def test_a_long_digest_stays_within_what_wecom_delivers():
    many = [open_ticket(n, resolve_due_at=MORNING + timedelta(hours=n)) for n in range(1, 120)]
    wishes = [open_ticket(200 + n, category="wish", status="new", assignee_id=None,
                          text="帮忙" * 30) for n in range(40)]
    text = digest(LEADER, *[open_ticket(n.id, **{"assignee_id": LEADER}) for n in many[:60]],
                  *many[60:], *wishes)
    assert len(text.encode()) <= MAX_BYTES
    assert "……还有" in text
    worker = digest(WORKER, *many)
    assert len(worker.encode()) <= MAX_BYTES
    assert lines_with_ids(worker)[:8] == list(range(1, 9))
    assert texts.DIGEST_HELD_MORE.format(count=119 - 8) in worker


def test_in_the_afternoon_the_greeting_is_not_good_morning():
    afternoon = MORNING + timedelta(hours=7)
    text = digest(WORKER, open_ticket(1), now=afternoon)
    assert "张网格，您好！" in text and "早上好" not in text
