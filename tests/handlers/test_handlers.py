"""The functional core: decisions from a message, its context and the NLU result,
with no database and no server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.decisions import NEW_TICKET, ToGroup, ToPerson, ToSender
from domain.tickets import Follower
from handlers import CommandData, handle_command, handle_message
from handlers.registry import parse_command
from tests.handlers.support import (
    CAPTAIN,
    DISTRICT_ADMIN,
    LEADER,
    MED_BIG,
    MED_SMALL,
    NOW,
    OTHER_WORKER,
    VOLUNTEER,
    WORKER,
    ctx,
    nlu,
    staff_ctx,
    ticket,
)

# ---------------------------------------------------------------- intents


def test_repair_in_group_creates_routed_ticket_with_reply_and_task_push():
    d = handle_message(ctx("电梯坏了，联系我13812345678"),
                       nlu("repair_request", entities=[{"entity": "facility", "value": "lift"}]))
    assert d.outcome == "ticket_created"
    c = d.create
    assert (c.category, c.building_id, c.grid_id, c.assignee_id, c.facility) == (
        "repair", 10, 1, WORKER, "lift")
    assert c.accept_due_at == NOW + timedelta(hours=2)
    assert c.resolve_due_at == NOW + timedelta(hours=24)
    reply, push = d.sends
    assert reply.to == ToGroup(100, ("wxid_res1",))
    text = reply.render(128)
    assert "#128" in text and "张网格" in text
    assert "13812345678" not in text
    assert push.to == ToPerson(WORKER) and push.ticket_id == NEW_TICKET
    title, description = push.render_card(128)
    assert "#128" in title and "3号楼" in title and "报修" in title
    # staff need the phone number to reach the resident
    assert "13812345678" in description and "办结时限" in description


def test_emergency_repair_gets_short_deadlines():
    d = handle_message(ctx("电梯里有人被困住了"), nlu("repair_request", urgency="emergency"))
    assert d.create.urgency == "emergency"
    assert d.create.accept_due_at == NOW + timedelta(minutes=10)
    assert d.create.resolve_due_at == NOW + timedelta(hours=4)
    assert "紧急" in d.sends[0].render(5)


def test_building_named_in_text_overrides_group():
    d = handle_message(ctx("5号楼门口路灯不亮"),
                       nlu("repair_request", entities=[{"entity": "building", "value": "5"}]))
    assert d.create.building_id == 11


def test_of_two_buildings_named_the_one_before_the_facility_is_the_matters():
    """我家3号楼隔壁那栋5号楼的楼道灯坏了 is 5号楼's light, as is 5号楼的路灯坏了，我住3号楼; a
    unit named with the other building is not this one's."""
    three, five = ({"entity": "building", "value": "3"}, {"entity": "building", "value": "5"})
    unit, light = {"entity": "unit", "value": "2"}, {"entity": "facility", "value": "light"}
    for text, entities in (("我家3号楼2单元隔壁那栋5号楼的楼道灯坏了", [three, unit, five, light]),
                           ("5号楼的路灯坏了，我住3号楼2单元", [five, light, three, unit])):
        d = handle_message(ctx(text), nlu("repair_request", entities=entities))
        assert (d.create.building_id, d.create.location) == (11, "5号楼"), text
    named_first = [three, unit, {"entity": "floor", "value": "6"}]
    d = handle_message(ctx("3号楼2单元6楼楼道灯坏了，5号楼也是"),
                       nlu("repair_request", entities=[*named_first, light, five]))
    assert (d.create.building_id, d.create.location) == (10, "3号楼2单元6楼")


def test_unknown_building_in_text_falls_back_to_group():
    d = handle_message(ctx("99号楼门口路灯不亮"),
                       nlu("repair_request", entities=[{"entity": "building", "value": "99"}]))
    assert d.create.building_id == 10
    # nor does it follow the group's building's ticket of the same facility
    lift = [{"entity": "building", "value": "99"}, {"entity": "facility", "value": "lift"}]
    d = handle_message(ctx("99号楼电梯坏了", sender="wxid_res2"), nlu("repair_request",
                                                                  entities=lift), [ticket(id=42)])
    assert d.outcome == "ticket_created"


def test_no_building_anywhere_asks_instead_of_inventing():
    d = handle_message(ctx("路灯不亮", channel="wechat", chat_id=None, sender="openid1"),
                       nlu("repair_request"))
    assert d.outcome == "asked_building" and d.create is None
    assert d.sends[0].to == ToSender("wechat", "openid1", None)


def test_chatter_in_group_gets_no_reply():
    d = handle_message(ctx("今天天气真好"), nlu("none"))
    assert d.outcome == "ignored" and not d.sends and d.create is None


def test_chatter_addressed_to_bot_gets_help():
    d = handle_message(ctx("@gridbot 你好", mentions=True), nlu("none"))
    assert d.outcome == "help" and d.sends


def test_mention_lowers_the_bar_for_a_ticket_intent():
    ranking = [{"name": "none", "confidence": 0.55}, {"name": "complaint", "confidence": 0.3}]
    d = handle_message(ctx("@gridbot 楼道里堆满了东西", mentions=True),
                       nlu("none", 0.55, ranking=ranking))
    assert d.outcome == "ticket_created" and d.create.category == "complaint"


def test_dispute_goes_up_the_ladder_by_tier():
    micro = handle_message(ctx("楼里两家吵起来了"), nlu("dispute", tier="micro"))
    small = handle_message(ctx("楼上漏水不肯赔"), nlu("dispute", tier="small"))
    big = handle_message(ctx("打起来了报警了"), nlu("dispute", tier="big"))
    medium = handle_message(ctx("欠钱不还闹了半年"), nlu("dispute", tier="medium"))
    assert micro.create.assignee_id == CAPTAIN
    assert small.create.assignee_id == MED_SMALL
    assert big.create.assignee_id == MED_BIG
    # no medium mediator in this district: the grid worker takes it
    assert medium.create.assignee_id == WORKER
    assert medium.create.tier == "medium"


def test_wish_is_published_to_the_grids_volunteers():
    d = handle_message(ctx("独居老人想找人帮忙买菜"), nlu("micro_wish"))
    assert d.create.category == "wish"
    # Both volunteers of the grid are known only by WeChat: @-mentioned in the group.
    [reply] = d.sends
    assert reply.to == ToGroup(100, ("wxid_res1", "wxid_liu", "wxid_xiaoli"))
    assert "认领 9" in reply.render(9)


def test_second_report_of_same_thing_follows_the_open_ticket():
    open_ticket = ticket(id=42)
    d = handle_message(ctx("电梯又坏了", sender="wxid_res2", name="李叔"),
                       nlu("repair_request", entities=[{"entity": "facility", "value": "lift"}]),
                       [open_ticket])
    assert d.outcome == "followed" and d.create is None and d.follow.ticket_id == 42
    assert "#42" in d.sends[0].render(42)


def test_someone_in_danger_on_a_matter_already_reported_makes_its_ticket_an_emergency():
    trapped = {**nlu("repair_request", entities=[{"entity": "facility", "value": "lift"}],
                     urgency="emergency"), "danger": "trapped"}
    d = handle_message(ctx("电梯里有人被困住了！快来", sender="wxid_res2", name="李叔"), trapped,
                       [ticket(id=42)])
    assert d.outcome == "followed" and d.follow.ticket_id == 42 and d.create is None
    [change] = d.changes
    assert change.ticket_id == 42 and change.fields["urgency"] == "emergency"
    assert change.fields["accept_due_at"] == NOW + timedelta(minutes=10)  # not 2 hours
    task, reply = d.sends
    assert task.to == ToPerson(WORKER) and task.render(42).startswith(
        "【紧急】工单 #42 居民补充：电梯里有人被困住了！快来\n地点：3号楼\n已改为紧急")
    assert "119" in reply.render(42) and "工单改为紧急" in d.reason
    # the reporter saying so follows nothing, and the ticket becomes an emergency all the same
    own = handle_message(ctx("电梯里有人被困住了！快来"), trapped, [ticket(id=42)])
    assert own.follow is None and own.changes[0].fields["urgency"] == "emergency"
    # accepted already: its holder has nothing more to accept
    taken = handle_message(ctx("电梯里有人被困住了！快来", sender="wxid_res2", name="李叔"), trapped,
                           [ticket(id=42, status="accepted")])
    [task] = [s for s in taken.sends if s.to == ToPerson(WORKER)]
    assert "接单" not in task.render(42) and task.render(42).endswith("已改为紧急，请于 11-22 20:00 前办结")
    # already an emergency: followed as before
    again = handle_message(ctx("电梯里有人被困住了！快来", sender="wxid_res2", name="李叔"), trapped,
                           [ticket(id=42, urgency="emergency")])
    assert again.outcome == "followed" and not again.changes


def test_a_neighbour_naming_a_new_place_for_the_same_matter_is_pushed_to_the_holder():
    leak = ticket(id=42, facility="water_pipe", location="3号楼2单元301室", text="301水管漏水")
    pipe = {"entity": "facility", "value": "water_pipe"}
    d = handle_message(ctx("502室也漏水了", sender="wxid_res2", name="李叔"), nlu(
        "repair_request", entities=[pipe, {"entity": "room", "value": "502"}]), [leak])
    assert d.outcome == "followed"
    [push] = [s for s in d.sends if s.to == ToPerson(WORKER)]
    assert push.render(42) == "工单 #42 又有居民反映，地点不同：502室也漏水了\n地点：3号楼502室"
    # the same place again, or no place at all, is only counted
    for text, entities in (("301也在漏", [pipe, {"entity": "room", "value": "301"}]),
                           ("水管又漏水了", [pipe])):
        same = handle_message(ctx(text, sender="wxid_res2", name="李叔"),
                              nlu("repair_request", entities=entities), [leak])
        assert same.outcome == "followed"
        assert not [s for s in same.sends if s.to == ToPerson(WORKER)]


def test_the_reporter_saying_it_again_hears_of_their_own_ticket_and_follows_nothing():
    open_ticket = ticket(id=42, status="accepted")  # reported by wxid_res1 王阿姨
    d = handle_message(ctx("电梯到底什么时候修好啊 都一天了"),
                       nlu("repair_request", entities=[{"entity": "facility", "value": "lift"}]),
                       [open_ticket])
    assert d.outcome == "already_reported" and d.follow is None and d.create is None
    assert d.sends[0].render(42) == (
        "@王阿姨 您反映的这件事已有工单 #42（已接单），有进展会通知您；回复“查询 42”可看进度。")
    assert "#42" in d.reason and "正是此人反映的" in d.reason


def test_old_or_different_ticket_is_not_followed():
    stale = ticket(id=42, created_at=NOW - timedelta(days=3))
    other = ticket(id=43, facility="light")
    d = handle_message(ctx("电梯又坏了"), nlu(
        "repair_request", entities=[{"entity": "facility", "value": "lift"}]), [stale, other])
    assert d.outcome == "ticket_created"


def test_another_units_lift_is_another_matter():
    unit_2 = ticket(id=42, location="3号楼2单元")
    lift = {"entity": "facility", "value": "lift"}
    other = handle_message(ctx("1单元电梯又坏了", sender="wxid_res2"), nlu(
        "repair_request", entities=[lift, {"entity": "unit", "value": "1"}]), [unit_2])
    assert other.outcome == "ticket_created"
    same = handle_message(ctx("2单元电梯又坏了", sender="wxid_res2"), nlu(
        "repair_request", entities=[lift, {"entity": "unit", "value": "2"}]), [unit_2])
    assert same.outcome == "followed" and same.follow.ticket_id == 42
    unnamed = handle_message(ctx("电梯又坏了", sender="wxid_res2"), nlu(
        "repair_request", entities=[lift]), [unit_2])  # no unit said: the building's lift
    assert unnamed.outcome == "followed"


def test_decision_audit_says_why():
    d = handle_message(ctx("电梯坏了"), nlu("repair_request", 0.91))
    audit = d.audit()
    assert audit["outcome"] == "ticket_created"
    assert audit["nlu"]["intent"] == {"name": "repair_request", "confidence": 0.91}
    assert "张网格" in audit["reason"]


# ---------------------------------------------------------------- command parsing


@pytest.mark.parametrize("text,word,ticket_id,arg", [
    ("接单 128", "接单", 128, ""),
    ("接单128", "接单", 128, ""),
    ("接单 #128", "接单", 128, ""),
    ("接单 ＃１２８", "接单", 128, ""),
    ("@gridbot 接单 128", "接单", 128, ""),
    ("进展 128 已联系物业", "进展", 128, "已联系物业"),
    ("完成 128 已更换灯泡", "完成", 128, "已更换灯泡"),
    ("评价 128 5", "评价", 128, "5"),
    ("没修好 128", "没修好", 128, ""),
    ("转派 128 liwg", "转派", 128, "liwg"),
    ("我的工单", "我的工单", None, ""),
    ("我的任务", "我的任务", None, ""),
    ("通知 明天上午9点停水", "通知", None, "明天上午9点停水"),
    # words set apart after a ticket's number are the writer's remark
    ("接单 677 马上过去看", "接单", 677, "马上过去看"),
    ("升级 687 情况不明需要网格长协调", "升级", 687, "情况不明需要网格长协调"),
    ("没修好６７６，水还在漏", "没修好", 676, "水还在漏"),
    ("查询 674 怎么还没修好啊", "查询", 674, "怎么还没修好啊"),
    ("撤销 677 已经自己找人修好了", "撤销", 677, "已经自己找人修好了"),
    ("评价 677 5 师傅辛苦了", "评价", 677, "5"),
    ("评价 12，五星 谢谢", "评价", 12, "5"),
])
def test_commands_parse(text, word, ticket_id, arg):
    command = parse_command(text)
    assert command is not None and command.error is None
    assert (command.word, command.ticket_id, command.arg) == (word, ticket_id, arg)


@pytest.mark.parametrize("text,remark", [("评价 677 5 师傅辛苦了", "师傅辛苦了"),
                                         ("评价 12，五星 谢谢", "谢谢"), ("评价 12 4", "")])
def test_what_is_said_with_a_rating_is_kept(text, remark):
    assert parse_command(text).remark == remark


@pytest.mark.parametrize("text", ["查询一下物业电话", "完成了吗", "接单的师傅什么时候来", "我的工单呢在哪里看",
                                  # a number running on into words
                                  "查询 3号楼的停水", "接单 3号楼电梯", "我的任务呢"])
def test_conversation_is_not_a_command(text):
    assert parse_command(text) is None


@pytest.mark.parametrize("text", ["评价 128 9", "进展 128", "通知"])
def test_malformed_command_says_how(text):
    command = parse_command(text)
    assert command is not None and command.error


# ---------------------------------------------------------------- staff commands


def test_worker_accepts_and_the_resident_group_hears():
    d = handle_command(staff_ctx("接单 128", WORKER, "zhangwg"), parse_command("接单 128"),
                       CommandData(ticket=ticket()))
    assert d.outcome == "command:accepted"
    change = d.changes[0]
    assert change.status == "accepted" and change.expect_status == ("new", "reopened")
    answer, residents = d.sends
    assert answer.to == ToSender("wecom_app", "zhangwg", None)
    assert residents.to == ToGroup(100, ("wxid_res1",))
    assert "#128" in residents.render(128) and "张网格" in residents.render(128)


def test_progress_and_resolve_tell_the_resident():
    progress = handle_command(staff_ctx("进展 128 已联系物业", WORKER, "zhangwg"),
                              parse_command("进展 128 已联系物业"), CommandData(ticket=ticket(status="accepted")))
    assert progress.changes[0].status == "in_progress"
    assert "已联系物业" in progress.sends[1].render(128)
    done = handle_command(staff_ctx("完成 128 已更换灯泡", WORKER, "zhangwg"),
                          parse_command("完成 128 已更换灯泡"), CommandData(ticket=ticket(status="in_progress")))
    assert done.changes[0].status == "resolved"
    assert done.changes[0].fields["resolved_at"] == NOW
    text = done.sends[1].render(128)
    assert "已更换灯泡" in text and "评价 128" in text and "没修好 128" in text
    followed = handle_command(staff_ctx("完成 128 已更换灯泡", WORKER, "zhangwg"),
                              parse_command("完成 128 已更换灯泡"), CommandData(ticket=ticket(
                                  status="in_progress", follower_chats=(
                                      Follower("bridge", "wxid_res2", "李叔", 100),))))
    told = followed.sends[1]
    assert told.to == ToGroup(100, ("wxid_res1", "wxid_res2"))  # one post, both mentioned
    assert "请最先反映的居民回复“评价 128 1-5”打分" in told.render(128)


def test_staff_notes_reach_the_group_without_phone_numbers():
    d = handle_command(staff_ctx("进展 128 师傅13912345678下午到", WORKER, "zhangwg"),
                       parse_command("进展 128 师傅13912345678下午到"), CommandData(ticket=ticket()))
    group = d.sends[1].render(128)
    assert "13912345678" not in group and "139****5678" in group
    assert "13912345678" in d.changes[0].text  # the ticket history keeps it for staff


def test_someone_else_cannot_accept():
    for person, userid in ((OTHER_WORKER, "liwg"), (None, "stranger")):
        d = handle_command(staff_ctx("接单 128", person, userid), parse_command("接单 128"),
                           CommandData(ticket=ticket()))
        assert d.outcome == "refused" and not d.changes
        assert "抱歉" in d.sends[0].render(128)


def test_leader_of_the_grid_may_act():
    d = handle_command(staff_ctx("接单 128", LEADER, "chenwgz"), parse_command("接单 128"),
                       CommandData(ticket=ticket()))
    assert d.outcome == "command:accepted"
    assert d.changes[0].fields["assignee_id"] == LEADER


def test_wrong_state_is_refused():
    d = handle_command(staff_ctx("接单 128", WORKER, "zhangwg"), parse_command("接单 128"),
                       CommandData(ticket=ticket(status="resolved")))
    assert d.outcome == "refused" and not d.changes


def test_transfer_and_escalate_push_to_the_new_person():
    t = handle_command(staff_ctx("转派 128 liwg", WORKER, "zhangwg"), parse_command("转派 128 liwg"),
                       CommandData(ticket=ticket()))
    assert t.changes[0].fields["assignee_id"] == OTHER_WORKER
    [push] = [s for s in t.sends if s.to == ToPerson(OTHER_WORKER)]
    # what, where and by when, as a new task says them
    assert push.render(128) == (
        "张网格 将工单 #128 转派给您：3号楼电梯坏了 联系我13812345678\n地点：3号楼（第1网格）\n"
        "接单时限：11-22 18:00｜办结时限：11-23 16:00\n回复“接单 128”接单")
    started = handle_command(staff_ctx("转派 128 liwg", WORKER, "zhangwg"),
                             parse_command("转派 128 liwg"),
                             CommandData(ticket=ticket(status="in_progress")))
    [push] = [s for s in started.sends if s.to == ToPerson(OTHER_WORKER)]
    assert push.render(128).endswith(  # under way: how to go on with it
        "地点：3号楼（第1网格）\n办结时限：11-23 16:00\n回复“进展 128 内容”更新进展，“完成 128 说明”办结。")
    urgent = handle_command(staff_ctx("转派 128 liwg", WORKER, "zhangwg"),
                            parse_command("转派 128 liwg"),
                            CommandData(ticket=ticket(urgency="emergency")))
    [push] = [s for s in urgent.sends if s.to == ToPerson(OTHER_WORKER)]
    assert push.render(128).startswith("【紧急】张网格 将工单 #128 转派给您")
    assert not [s for s in t.sends if s.to == ToPerson(WORKER)]  # the holder handed it on
    # handed on by the grid's leader, the holder hears it is no longer theirs
    by_leader = handle_command(staff_ctx("转派 128 liwg", LEADER, "chenwgz"),
                               parse_command("转派 128 liwg"), CommandData(ticket=ticket()))
    [told] = [s for s in by_leader.sends if s.to == ToPerson(WORKER)]
    assert told.render(128) == "工单 #128 已由陈网格长转派给李网格，您不必再处理。"
    bad = handle_command(staff_ctx("转派 128 nobody", WORKER, "zhangwg"),
                         parse_command("转派 128 nobody"), CommandData(ticket=ticket()))
    assert bad.outcome == "refused"
    # the refusal says whom it may go to, the district's staff first, never a volunteer
    refused = bad.sends[0].render(128)
    assert "可以转派给：" in refused and "李网格 liwg" in refused and "刘师傅" not in refused
    # workers know each other by name
    by_name = handle_command(staff_ctx("转派 128 李网格", WORKER, "zhangwg"),
                             parse_command("转派 128 李网格"), CommandData(ticket=ticket()))
    assert by_name.changes[0].fields["assignee_id"] == OTHER_WORKER
    same = handle_command(staff_ctx("转派 128 zhangwg", WORKER, "zhangwg"),
                          parse_command("转派 128 zhangwg"), CommandData(ticket=ticket()))
    assert same.outcome == "refused" and not same.changes
    assert same.sends[0].render(same.sends[0].ticket_id) == "工单 #128 已由张网格负责，无需转派。"
    e = handle_command(staff_ctx("升级 128", WORKER, "zhangwg"), parse_command("升级 128"),
                       CommandData(ticket=ticket()))
    # the new holder gets as long to accept as the first one had (2 h for a normal repair)
    assert e.changes[0].fields == {"escalation_level": 1, "assignee_id": LEADER,
                                   "accept_due_at": NOW + timedelta(hours=2)}
    e2 = handle_command(staff_ctx("升级 128", LEADER, "chenwgz"), parse_command("升级 128"),
                        CommandData(ticket=ticket(escalation_level=1, assignee_id=LEADER)))
    assert e2.changes[0].fields["assignee_id"] == DISTRICT_ADMIN


def test_my_tasks_sorted_by_deadline():
    soon = ticket(id=2, accept_due_at=NOW + timedelta(minutes=5))
    later = ticket(id=1, accept_due_at=NOW + timedelta(hours=5))
    d = handle_command(staff_ctx("我的任务", WORKER, "zhangwg"), parse_command("我的任务"),
                       CommandData(tickets=[later, soon]))
    text = d.sends[0].render(None)
    assert text.index("#2") < text.index("#1")


# ---------------------------------------------------------------- residents


def test_resident_queries_own_ticket_in_group_without_phone():
    d = handle_command(ctx("查询 128"), parse_command("查询 128"), CommandData(ticket=ticket()))
    text = d.sends[0].render(128)
    assert "#128" in text and "待接单" in text and "13812345678" not in text


def test_stranger_from_another_group_cannot_query():
    d = handle_command(ctx("查询 128", sender="wxid_x", chat_id="b5@chatroom"),
                       parse_command("查询 128"), CommandData(ticket=ticket()))
    assert d.outcome == "refused"


def test_rate_closes_and_reopen_reopens():
    rated = handle_command(ctx("评价 128 5"), parse_command("评价 128 5"),
                           CommandData(ticket=ticket(status="resolved")))
    assert rated.changes[0].status == "closed" and rated.changes[0].fields["rating"] == 5
    reopened = handle_command(ctx("没修好 128"), parse_command("没修好 128"),
                              CommandData(ticket=ticket(status="resolved")))
    assert reopened.changes[0].status == "reopened"
    assert any(s.to == ToPerson(WORKER) for s in reopened.sends)
    other = handle_command(ctx("评价 128 1", sender="wxid_other"), parse_command("评价 128 1"),
                           CommandData(ticket=ticket(status="resolved")))
    assert other.outcome == "refused"


def test_volunteer_claims_a_wish():
    wish = ticket(category="wish", facility=None)
    d = handle_command(ctx("认领 128", sender="wxid_liu", name="刘师傅", person=VOLUNTEER),
                       parse_command("认领 128"), CommandData(ticket=wish))
    assert d.changes[0].fields["assignee_id"] == VOLUNTEER
    resident = handle_command(ctx("认领 128"), parse_command("认领 128"), CommandData(ticket=wish))
    assert resident.outcome == "refused"


def test_captain_notice_reaches_every_group_of_the_building():
    d = handle_command(ctx("通知 明天停水", sender="wxid_wang", person=CAPTAIN),
                       parse_command("通知 明天停水"), CommandData())
    groups = {s.to.group_id for s in d.sends if isinstance(s.to, ToGroup) and not s.to.mention_ids}
    assert groups == {100, 101}
    assert all("明天停水" in s.render(None) for s in d.sends[:2])
    resident = handle_command(ctx("通知 大家好"), parse_command("通知 大家好"), CommandData())
    assert resident.outcome == "refused"


# ---------------------------------------------------------------- review queue


def test_unsure_model_sends_the_message_to_review():
    sure = handle_message(ctx("电梯坏了"), nlu("repair_request", 0.95))
    assert sure.review is None
    unsure = handle_message(ctx("电梯有点怪"), nlu("repair_request", 0.5))
    assert unsure.review.reason == "low_confidence" and unsure.review.predicted == "repair_request"
    ranking = [{"name": "complaint", "confidence": 0.4}, {"name": "none", "confidence": 0.35}]
    fell_back = handle_message(ctx("嗯这个"), nlu("none", 0.35, ranking=ranking))
    assert fell_back.outcome == "ignored" and fell_back.review.predicted == "complaint"
    chatter = handle_message(ctx("早上好"), nlu("none", 0.9))
    assert chatter.review is None


def test_staff_correct_the_category_and_the_correction_is_reviewed():
    d = handle_command(staff_ctx("改类 128 投诉", WORKER, "zhangwg"), parse_command("改类 128 投诉"),
                       CommandData(ticket=ticket()))
    assert d.changes[0].fields["category"] == "complaint" and d.changes[0].status is None
    assert d.review.reason == "corrected" and d.review.suggested == "complaint"
    assert d.review.predicted == "repair_request" and d.review.ticket_id == 128
    cancel = handle_command(staff_ctx("改类 128 无效", WORKER, "zhangwg"),
                            parse_command("改类 128 无效"), CommandData(ticket=ticket()))
    assert cancel.changes[0].status == "cancelled" and cancel.review.suggested == "none"
    assert parse_command("改类 128 随便").error
    resident = handle_command(ctx("改类 128 投诉"), parse_command("改类 128 投诉"),
                              CommandData(ticket=ticket()))
    assert resident.outcome == "refused" and resident.review is None


def test_the_new_holder_of_a_handed_over_ticket_is_told_it_is_theirs():
    for status in ("accepted", "in_progress"):
        d = handle_command(staff_ctx("接单 128", OTHER_WORKER, "liwg"), parse_command("接单 128"),
                           CommandData(ticket=ticket(status=status, assignee_id=OTHER_WORKER)))
        assert not d.changes
        assert d.sends[0].render(128) == (
            "工单 #128 已在您名下处理中，无需再接单。回复“进展 128 内容”更新进展，“完成 128 说明”办结。")
    # someone who does not hold it still hears that it is already accepted
    other = handle_command(staff_ctx("接单 128", LEADER, "chenwgz"), parse_command("接单 128"),
                           CommandData(ticket=ticket(status="accepted", assignee_id=OTHER_WORKER)))
    assert not other.changes and "目前已接单" in other.sends[0].render(128)
