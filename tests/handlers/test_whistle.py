"""吹哨 and 报到 decided without a server: who may whistle, what the department, the
residents and the whistler get, the department's report and work, and the report deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.decisions import Send, ToDepartment, ToGroup, ToPerson
from domain.org import DepartmentInfo, OrgMap, RoleInfo
from handlers import Context, Message
from handlers.registry import handle_command, parse_command
from handlers.ticket_commands import CommandData
from handlers.timers import TimerContext, TimerView, on_timer
from tests.handlers.support import (
    ADMIN,
    CAPTAIN,
    DISTRICT_ADMIN,
    LEADER,
    NOW,
    ORG,
    OTHER_STREET_ADMIN,
    OTHER_WORKER,
    WORKER,
    ticket,
)

FGS, CGD = 20, 21  # the WeCom accounts of 房管所 (street 1) and 城管队 (street 2)
HOUSING, POLICE, CITY = 1, 2, 3  # department ids


def with_departments(base: OrgMap) -> OrgMap:
    """The handler tests' estate plus departments: 房管所 on WeCom (4 h), 派出所 through its
    robot (30 m), and 城管队 of the other street."""
    people = [(p.id, p.name, p.wecom_userid, p.wechat_id, p.phone) for p in base.people.values()]
    roles = [(p.id, r) for p in base.people.values() for r in p.roles]
    people += [(FGS, "房管所", "fgs", None, None), (CGD, "城管队", "cgd", None, None)]
    roles += [(FGS, RoleInfo("department", "street", 1)), (CGD, RoleInfo("department", "street", 2))]
    return OrgMap.build(
        streets=base.streets.values(), districts=base.districts.values(),
        grids=[(g.id, g.name, g.district_id) for g in base.grids.values()],
        buildings=base.buildings.values(), groups=base.groups.values(),
        people=people, roles=roles,
        departments=[DepartmentInfo(HOUSING, 1, "房管所", FGS, None, 4 * 3600),
                     DepartmentInfo(POLICE, 1, "派出所", None, "key-pcs", 1800),
                     DepartmentInfo(CITY, 2, "城管队", CGD, None, 3600)],
    )


WORG = with_departments(ORG)
USERIDS = {WORKER: "zhangwg", LEADER: "chenwgz", CAPTAIN: "wanglz", ADMIN: "admin1",
           DISTRICT_ADMIN: "sunsj", OTHER_STREET_ADMIN: "caoyang", OTHER_WORKER: "liwg",
           FGS: "fgs", CGD: "cgd"}


def say(text: str, person: int | None, view, *, in_group: bool = False):
    """What `text` from `person` (None: a resident in the building group) decides about `view`."""
    if person is None or in_group:
        message = Message(1, "bridge", "wxid_res1" if person is None else "wxid_x", "王阿姨",
                          text, "b3@chatroom")
        group_id, building_id = 100, 10
    else:
        message = Message(1, "wecom_app", USERIDS[person], None, text, None)
        group_id = building_id = None
    context = Context(message=message, org=WORG, now=NOW, group_id=group_id,
                      building_id=building_id, person_id=person)
    command = parse_command(text)
    assert command is not None, text
    return handle_command(context, command, CommandData(ticket=view))


def rendered(sends: list[Send], to_type: type) -> list[str]:
    return [s.render(128) for s in sends if isinstance(s.to, to_type)]


# ---------------------------------------------------------------- 吹哨


def test_an_emergency_whistled_is_reported_on_within_the_streets_time_to_accept_one():
    emergency = ticket(urgency="emergency", text="3号楼一楼燃气泄漏，味道很大")
    [change] = say("吹哨 128 房管所", LEADER, emergency).changes
    minutes = WORG.sla_for(emergency.building_id).accept_seconds("emergency") // 60
    assert minutes < 4 * 60  # the department's own respond time is 4 hours
    assert change.fields["respond_due_at"] == NOW + timedelta(minutes=minutes)
    decision = say("吹哨 128 房管所", LEADER, emergency)
    [task] = [s for s in decision.sends if isinstance(s.to, ToDepartment)]
    assert task.render_card(128)[0].startswith("【吹哨·报修·紧急】")
    # the worker who holds it hears who has it now, and by when they must report
    [told] = [s.render(128) for s in decision.sends if s.to == ToPerson(WORKER)]
    assert told.startswith("工单 #128 已由陈网格长吹哨交房管所，须于 ") and told.endswith(" 前报到。")


@pytest.mark.parametrize("who", [LEADER, DISTRICT_ADMIN, ADMIN])
def test_a_grid_leader_or_an_admin_of_the_ticket_whistles_a_department(who):
    decision = say("吹哨 128 房管所", who, ticket())
    assert decision.outcome == "command:whistled"
    [change] = decision.changes
    assert change.kind == "whistled" and change.status is None
    assert change.fields["department_id"] == HOUSING
    assert change.fields["respond_due_at"] == NOW + timedelta(hours=4)
    assert change.fields["reported_at"] is None
    # The department's report deadline replaces the grid's accept deadline.
    assert change.fields["accept_due_at"] is None
    assert change.expect_fields == {"department_id": None}
    assert change.event_data["department"] == "房管所"

    [task] = [s for s in decision.sends if isinstance(s.to, ToDepartment)]
    assert task.to == ToDepartment(HOUSING) and task.card is not None
    title, description = task.render_card(128)
    assert "吹哨" in title and "#128" in title and "3号楼" in title
    assert "房管所" in description and "报到 128" in description
    assert "13812345678" in description  # staff on WeCom read the whole report
    [residents] = [s for s in decision.sends if s.key == "residents"]
    assert residents.to == ToGroup(100, ("wxid_res1",))
    said = residents.render(128)
    assert "#128" in said and "已吹哨，由房管所报到处理" in said
    [answer] = [s for s in decision.sends if s.key == "answer"]
    assert "已吹哨交房管所" in answer.render(128)


def test_an_accepted_ticket_keeps_its_deadlines_when_whistled():
    decision = say("吹哨 128 房管所", LEADER, ticket(status="accepted"))
    [change] = decision.changes
    assert "accept_due_at" not in change.fields


@pytest.mark.parametrize("who", [None, WORKER, CAPTAIN, OTHER_WORKER, OTHER_STREET_ADMIN, FGS])
def test_anyone_else_is_refused_politely_and_nothing_changes(who):
    decision = say("吹哨 128 房管所", who, ticket())
    assert decision.outcome == "refused" and not decision.changes
    [answer] = decision.sends
    assert not isinstance(answer.to, ToDepartment)
    said = answer.render(128)
    assert said.startswith("@王阿姨 抱歉") or said.startswith("抱歉")
    assert "网格长" in said and "吹哨" in said


def test_an_unknown_department_gets_the_list_of_the_streets_departments():
    decision = say("吹哨 128 自来水公司", ADMIN, ticket())
    assert decision.outcome == "refused" and not decision.changes
    [answer] = decision.sends
    said = answer.render(128)
    assert "自来水公司" in said and "房管所、派出所" in said
    assert "城管队" not in said  # another street's department


def test_a_department_of_another_street_is_unknown_here():
    decision = say("吹哨 128 城管队", ADMIN, ticket())
    assert decision.outcome == "refused" and not decision.changes


def test_a_robot_department_gets_the_text_with_numbers_masked():
    decision = say("吹哨 128 派出所", LEADER, ticket())
    [change] = decision.changes
    assert change.fields["respond_due_at"] == NOW + timedelta(minutes=30)
    [task] = [s for s in decision.sends if isinstance(s.to, ToDepartment)]
    said = task.render(128)
    assert "13812345678" not in said and "138****5678" in said
    assert "联系陈网格长报到" in said


def test_a_dispute_reaches_a_robot_department_without_its_text():
    dispute = ticket(category="dispute", tier="small", text="楼上李大爷漏水不肯赔 13812345678")
    decision = say("吹哨 128 派出所", LEADER, dispute)
    [task] = [s for s in decision.sends if isinstance(s.to, ToDepartment)]
    said = task.render(128)
    assert "李大爷" not in said and "1381" not in said and "联系陈网格长" in said
    assert "#128" in said and "矛盾纠纷" in said
    # On WeCom, 1:1, the department reads it all.
    decision = say("吹哨 128 房管所", LEADER, dispute)
    [task] = [s for s in decision.sends if isinstance(s.to, ToDepartment)]
    assert "李大爷" in task.render_card(128)[1]


def test_whistling_the_same_department_again_is_answered_and_changes_nothing():
    whistled = ticket(department_id=HOUSING, respond_due_at=NOW + timedelta(hours=1))
    decision = say("吹哨 128 房管所", LEADER, whistled)
    assert decision.outcome == "refused" and not decision.changes
    assert "已吹哨给房管所" in decision.sends[0].render(128)
    # Another department takes it over, with a fresh deadline.
    other = say("吹哨 128 派出所", LEADER, whistled)
    [change] = other.changes
    assert change.fields["department_id"] == POLICE
    assert change.expect_fields == {"department_id": HOUSING}


def test_a_closed_ticket_cannot_be_whistled():
    decision = say("吹哨 128 房管所", LEADER, ticket(status="closed"))
    assert decision.outcome == "refused" and not decision.changes
    assert "已关闭" in decision.sends[0].render(128)


def test_whistle_needs_a_department_name():
    decision = say("吹哨 128", LEADER, ticket())
    assert decision.outcome == "refused" and "吹哨 编号 部门名称" in decision.sends[0].render(128)


# ---------------------------------------------------------------- 报到


WHISTLED = dict(department_id=HOUSING, respond_due_at=NOW + timedelta(hours=4),
                accept_due_at=None)


def test_the_department_reports_and_the_residents_hear_it():
    decision = say("报到 128", FGS, ticket(**WHISTLED))
    assert decision.outcome == "command:reported"
    [change] = decision.changes
    assert change.kind == "reported" and change.status == "accepted"
    assert change.fields == {"reported_at": NOW, "accepted_at": NOW}
    assert change.expect_status == ("new", "reopened")
    assert change.expect_fields == {"department_id": HOUSING, "reported_at": None}
    said = rendered(decision.sends, ToGroup)
    assert any("#128" in s and "房管所已报到" in s for s in said)


def test_the_tickets_holder_hears_of_the_departments_report_and_resolution():
    pushed = [s.render(128) for s in say("报到 128", FGS, ticket(**WHISTLED)).sends
              if s.to == ToPerson(WORKER)]
    assert pushed == ["工单 #128 房管所已报到，接手处理。"]
    for first_word in ("接单 128", "进展 128 明早上门"):  # its first word is its report
        assert [s.render(128) for s in say(first_word, FGS, ticket(**WHISTLED)).sends
                if s.to == ToPerson(WORKER)] == pushed, first_word
    done = say("完成 128 已更换电梯控制板", FGS,
               ticket(status="in_progress", reported_at=NOW, **WHISTLED))
    assert [s.render(128) for s in done.sends if s.to == ToPerson(WORKER)] == [
        "工单 #128 已由房管所办结：已更换电梯控制板"]
    own = say("完成 128 好了", WORKER, ticket(status="in_progress"))
    assert not [s for s in own.sends if s.to == ToPerson(WORKER)]


def test_a_report_on_a_ticket_under_way_keeps_its_status():
    decision = say("报到 128", FGS, ticket(status="in_progress", **WHISTLED))
    [change] = decision.changes
    assert change.status is None and change.fields == {"reported_at": NOW}


@pytest.mark.parametrize("who", [None, WORKER, LEADER, ADMIN, CGD])
def test_only_the_whistled_department_reports(who):
    decision = say("报到 128", who, ticket(**WHISTLED))
    assert decision.outcome == "refused" and not decision.changes
    assert "只有被吹哨的房管所可以报到" in decision.sends[0].render(128)


def test_a_ticket_nobody_whistled_needs_no_report():
    decision = say("报到 128", FGS, ticket())
    assert decision.outcome == "refused" and not decision.changes


def test_a_second_report_changes_nothing():
    decision = say("报到 128", FGS, ticket(reported_at=NOW - timedelta(hours=1), **WHISTLED))
    assert decision.outcome == "answered" and not decision.changes
    assert "已于" in decision.sends[0].render(128)


def test_a_robot_departments_report_is_recorded_by_whoever_may_whistle():
    robot = dict(WHISTLED, department_id=POLICE)
    decision = say("报到 128", LEADER, ticket(**robot))
    [change] = decision.changes
    assert change.kind == "reported" and "陈网格长代派出所报到" in change.text
    assert say("报到 128", WORKER, ticket(**robot)).outcome == "refused"


def test_the_department_works_its_ticket_like_a_worker():
    progress = say("进展 128 已派人上门查看", FGS, ticket(status="accepted",
                                                        reported_at=NOW, **WHISTLED))
    [change] = progress.changes
    assert change.kind == "progress" and "reported_at" not in change.fields
    assert any("已派人上门查看" in s for s in rendered(progress.sends, ToGroup))
    done = say("完成 128 已修复", FGS, ticket(status="in_progress", reported_at=NOW, **WHISTLED))
    assert done.changes[0].kind == "resolved" and done.changes[0].status == "resolved"


def test_progress_before_the_report_counts_as_the_report():
    decision = say("进展 128 明早上门", FGS, ticket(**WHISTLED))
    [change] = decision.changes
    assert change.fields["reported_at"] == NOW


def test_the_departments_accept_is_its_report_and_the_grid_keeps_the_ticket():
    decision = say("接单 128", FGS, ticket(**WHISTLED))
    [change] = decision.changes
    assert change.fields["reported_at"] == NOW and "assignee_id" not in change.fields
    assert any("已由房管所接单" in s for s in rendered(decision.sends, ToGroup))


def test_a_department_cannot_act_on_a_ticket_not_whistled_to_it():
    for text in ("进展 128 看看", "完成 128 好了", "接单 128"):
        assert say(text, FGS, ticket()).outcome == "refused"
        assert say(text, CGD, ticket(**WHISTLED)).outcome == "refused"


# ---------------------------------------------------------------- the report deadline


def timer(view, due=None) -> TimerContext:
    due = due or view.respond_due_at
    return TimerContext(WORG, NOW, TimerView(9, "respond_due", due, view.id), view)


def test_a_department_that_did_not_report_in_time_is_reported_to_the_street_admins():
    overdue = ticket(**dict(WHISTLED, respond_due_at=NOW - timedelta(seconds=1)))
    decision = on_timer(timer(overdue))
    assert decision.outcome == "respond_overdue"
    [change] = decision.changes
    assert change.kind == "respond_overdue" and change.status is None
    assert change.expect_fields == {"department_id": HOUSING, "reported_at": None}
    assert "房管所超过报到时限" in change.text and "街道管理员" in change.text
    [push] = decision.sends
    assert push.to == ToPerson(ADMIN) and push.card is not None  # not the other street's
    title, description = push.render_card(128)
    assert "#128" in title and "未报到" in title and "房管所" in description


@pytest.mark.parametrize("state", [
    dict(reported_at=NOW - timedelta(hours=1)),  # reported in time
    dict(status="closed"),
    dict(respond_due_at=NOW + timedelta(hours=3)),  # whistled again since
    dict(department_id=None),
])
def test_the_report_deadline_does_nothing_when_its_moment_has_passed(state):
    due = NOW - timedelta(seconds=1)
    view = ticket(**{**WHISTLED, "respond_due_at": due, **state})
    decision = on_timer(timer(view, due))
    assert decision.outcome == "ignored" and not decision.changes and not decision.sends


def test_a_departments_task_list_shows_its_report_deadline_first():
    from handlers.ticket_commands import my_tasks

    context = Context(Message(1, "wecom_app", "fgs", None, "我的任务", None), WORG, NOW, None,
                      None, FGS)
    waiting = ticket(id=129, **dict(WHISTLED, respond_due_at=NOW + timedelta(hours=1)))
    reported = ticket(status="accepted", reported_at=NOW, **WHISTLED)
    decision = my_tasks(context, parse_command("我的任务"), [reported, waiting])
    [answer] = decision.sends
    lines = answer.render(None).splitlines()[1:]
    assert lines[0].startswith("#129") and "张网格｜房管所" in lines[0]
    assert "报到时限 11-22 17:00" in lines[0]
    assert lines[1].startswith("#128") and "｜时限 11-23 16:00" in lines[1]
    assert lines[1].endswith("｜3号楼电梯坏了 联系我13812345…")  # what it is about
    late = ticket(id=130, **dict(WHISTLED, respond_due_at=NOW - timedelta(minutes=5)))
    [answer] = my_tasks(context, parse_command("我的任务"), [late]).sends
    assert answer.render(None).splitlines()[1].startswith("【超时】#130 ")
