"""What residents and staff read: notes as written, no empty fields, natural wording, no
@gridbot in cards, and reasons in Chinese."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from domain.decisions import ToGroup, ToPerson
from domain.org import BuildingInfo, DistrictInfo, GroupInfo, OrgMap, StreetInfo
from handlers import CommandData, Context, Message, handle_command, handle_message
from handlers.registry import parse_command
from handlers.texts import without_bot_mention
from tests.handlers.support import (
    CAPTAIN,
    LEADER,
    NOW,
    VOLUNTEER,
    VOLUNTEER_2,
    WORKER,
    ctx,
    nlu,
    staff_ctx,
    ticket,
)


def worker_says(text: str, t=None):
    return handle_command(staff_ctx(text, WORKER, "zhangwg"), parse_command(text),
                          CommandData(ticket=t or ticket(status="accepted")))


# ---------------------------------------------------------------- notes as written


@pytest.mark.parametrize("text,note", [
    ("进展 128 双方已和解，楼上已修好水管", "双方已和解，楼上已修好水管"),
    ("进展 ＃１２８　师傅（王）下午２点到！", "师傅（王）下午２点到！"),
    ("完成128 已更换灯泡；费用由物业承担。", "已更换灯泡；费用由物业承担。"),
    ("进展 128：已联系物业", "已联系物业"),
    ("@gridbot 进展 128 已联系物业，明早来", "已联系物业，明早来"),
])
def test_a_note_reaches_the_group_exactly_as_written(text, note):
    d = worker_says(text)
    assert d.changes[0].text == note
    assert d.sends[1].render(128).endswith(note) or note in d.sends[1].render(128)


def test_a_notice_is_kept_as_written_without_the_colon_after_the_command():
    assert parse_command("通知：明天（周六）9:00–12:00停水，请提前储水！").arg == (
        "明天（周六）9:00–12:00停水，请提前储水！")
    assert parse_command("通知：").error


def test_full_width_rating_and_account_are_still_understood():
    assert parse_command("评价 128 ５").arg == "5"
    assert parse_command("转派 ＃１２８ ｌｉｗｇ").arg == "liwg"


def test_a_rating_that_is_no_number_is_told_the_format():
    assert parse_command("评价 676 很满意 师傅辛苦了").error == "评价 编号 1-5"


# ---------------------------------------------------------------- 查询


def test_a_closed_ticket_is_listed_without_an_empty_field():
    for status, shown in (("resolved", "已办结待评价"), ("closed", "已关闭"),
                          ("cancelled", "已取消")):
        d = handle_command(ctx("查询 128"), parse_command("查询 128"),
                           CommandData(ticket=ticket(status=status)))
        assert d.sends[0].render(128) == f"@王阿姨 #128 报修｜{shown}｜3号楼｜张网格"


def test_an_open_ticket_is_listed_with_its_deadline():
    d = handle_command(ctx("查询 128"), parse_command("查询 128"),
                       CommandData(ticket=ticket(assignee_id=None)))
    assert d.sends[0].render(128) == "@王阿姨 #128 报修｜待接单｜3号楼｜待分配｜时限 11-22 18:00"


# ---------------------------------------------------------------- wishes


def wish(**over):
    return ticket(category="wish", facility=None, text="想找人帮忙买菜", **over)


def test_a_claimed_wish_tells_the_next_volunteer_who_has_it():
    claimed = wish(status="accepted", assignee_id=VOLUNTEER)
    d = handle_command(ctx("认领 128", sender="wxid_xiaoli", name="志愿者小李", person=VOLUNTEER_2),
                       parse_command("认领 128"), CommandData(ticket=claimed))
    assert d.outcome == "refused" and not d.changes
    text = d.sends[0].render(128)
    assert "已由志愿者党员刘师傅认领" in text and "#128" in text
    assert "已接单" not in text
    again = handle_command(ctx("认领 128", sender="wxid_liu", name="党员刘师傅", person=VOLUNTEER),
                           parse_command("认领 128"), CommandData(ticket=claimed))
    assert "您已经认领" in again.sends[0].render(128)
    by_worker = handle_command(
        ctx("认领 128", sender="wxid_xiaoli", name="志愿者小李", person=VOLUNTEER_2),
        parse_command("认领 128"), CommandData(ticket=wish(status="accepted", assignee_id=WORKER)))
    assert "已由张网格接手" in by_worker.sends[0].render(128)


def test_a_fulfilled_wish_asks_to_confirm_and_rate():
    claimed = wish(status="accepted", assignee_id=VOLUNTEER)
    d = handle_command(ctx("完成 128 菜已送到", sender="wxid_liu", name="党员刘师傅", person=VOLUNTEER),
                       parse_command("完成 128 菜已送到"), CommandData(ticket=claimed))
    [said] = d.sends  # in the group, once: to the resident and the volunteer
    assert said.to.mention_ids == ("wxid_res1", "wxid_liu")
    text = said.render(128)
    assert "微心愿 #128" in text and "菜已送到" in text and "评价 128" in text
    assert "没修好" not in text
    repaired = worker_says("完成 128 已更换灯泡")
    assert "没修好 128" in repaired.sends[1].render(128)


def test_a_new_wish_is_not_the_grid_workers_task():
    d = handle_message(ctx("独居老人想找人帮忙买菜"), nlu("micro_wish"))
    assert not [s for s in d.sends if s.to == ToPerson(WORKER)]
    assert d.create.assignee_id is None and d.create.accept_due_at is None
    repair = handle_message(ctx("电梯坏了"), nlu("repair_request"))
    assert "回复“接单 4”接单" in repair.sends[-1].render(4)


# ---------------------------------------------------------------- replies


@pytest.mark.parametrize("intent,extra,said", [
    ("repair_request", {}, "已收到您的报修，工单 #5"),
    ("complaint", {}, "已收到您的投诉，工单 #5"),
    ("dispute", {"tier": "small"}, "已收到您反映的矛盾纠纷，工单 #5"),
])
def test_each_kind_of_matter_is_acknowledged_in_its_own_words(intent, extra, said):
    d = handle_message(ctx("楼上漏水"), nlu(intent, **extra))
    text = d.sends[0].render(5)
    assert said in text
    assert "您的矛盾纠纷" not in text


def test_an_emergency_is_told_whom_to_call_meanwhile():
    d = handle_message(ctx("10号楼楼道里冒烟了 好像着火了"), nlu("repair_request", urgency="emergency"))
    assert "工单 #5（紧急，已优先派单；情况危急请先拨打 119 火警、120 急救或 110 报警）。" in \
        d.sends[0].render(5)
    calm = handle_message(ctx("楼道灯坏了"), nlu("repair_request"))
    assert "119" not in calm.sends[0].render(5)


def test_someone_trapped_is_an_emergency_repair_though_the_model_read_chatter():
    said = "救命 我被困在电梯里了"
    d = handle_message(ctx(said), nlu("none", 0.8, danger="trapped", ranking=[
        {"name": "none", "confidence": 0.8}, {"name": "repair_request", "confidence": 0.15}]))
    assert d.outcome == "ticket_created" and d.create.category == "repair"
    assert d.create.urgency == "emergency"
    # what to do first, before the ticket: no 报修 for someone trapped
    assert d.sends[0].render(5).startswith(
        "@王阿姨 请不要强行扒门，被困在电梯里请按警铃等待救援，情况危急请拨打 119！已收到并紧急派单，工单 #5。")
    assert "有人被困正在发生，按紧急报修立单" in d.reason
    assert d.review is not None  # an admin sees what the model missed
    calm = handle_message(ctx("今天天气不错"), nlu("none", 0.8))
    assert calm.outcome == "ignored"


@pytest.mark.parametrize("intent,danger,first,category", [
    ("complaint", "violence", "请立即拨打 110 报警", "dispute"),
    ("dispute", "violence", "请立即拨打 110 报警", "dispute"),
    ("repair_request", "medical", "请立即拨打 120 急救", "wish"),
    ("none", "self_harm", "请立即拨打 110 或 120", "wish"),
    ("complaint", "self_harm", "请立即拨打 110 或 120", "wish"),
])
def test_people_in_danger_make_any_matter_an_emergency(intent, danger, first, category):
    d = handle_message(ctx("有人拿着刀在楼道里堵人"), nlu(intent, danger=danger, tier="big"))
    assert (d.create.category, d.create.urgency) == (category, "emergency")
    assert d.create.assignee_id is not None  # someone holds it at once: no volunteer claims it
    [reply] = [s for s in d.sends if s.key == "reply"]
    assert first in reply.render(5).split("已收到")[0]  # what to do first comes first
    hazard = handle_message(ctx("楼道里堆满纸箱 着火了都跑不出去"), nlu("complaint", danger="fire"))
    assert hazard.create.urgency == "normal"  # a fire feared in a complaint is no emergency


def test_a_big_dispute_is_told_to_call_the_police_if_anyone_is_in_danger():
    d = handle_message(ctx("402的男的拿着刀在楼道里骂人，说要砍死我"), nlu("dispute", tier="big"))
    assert "工单 #5（如有人身危险，请先拨打 110 报警）。" in d.sends[0].render(5)
    small = handle_message(ctx("楼上漏水不肯赔"), nlu("dispute", tier="small"))
    assert "110" not in small.sends[0].render(5)


def test_a_matter_nobody_is_responsible_for_is_not_handed_to_a_blank():
    bare = OrgMap.build(streets=[StreetInfo(1, "宜川路街道")],
                        districts=[DistrictInfo(1, "第一居民区", 1)], grids=[(1, "第1网格", 1)],
                        buildings=[BuildingInfo(10, "3", 1, 1, None)],
                        groups=[GroupInfo(100, "bridge", "b3@chatroom", "3号楼业主群", 10)])
    here = Context(Message(1, "bridge", "wxid_res1", "王阿姨", "电梯坏了", "b3@chatroom"),
                   bare, NOW, 100, 10, None)
    d = handle_message(here, nlu("repair_request"))
    text = d.sends[0].render(5)
    assert "待分配" not in text and "正在安排专人处理" in text
    assert "暂无负责人" in d.reason


# ---------------------------------------------------------------- @gridbot


@pytest.mark.parametrize("written,addressed", [
    ("@gridbot 楼道里堆满了纸箱", False),
    ("@GridBot\u2005楼道里堆满了纸箱", False),
    ("＠网格小助手　楼道里堆满了纸箱", False),
    ("@小助手 楼道里堆满了纸箱", True),
])
def test_the_mention_of_gridbot_stays_out_of_tickets_and_cards(written, addressed):
    d = handle_message(ctx(written, mentions=addressed), nlu("complaint"))
    assert d.create.text == "楼道里堆满了纸箱"
    assert "@" not in d.create.event_text and "＠" not in d.create.event_text
    _, description = d.sends[-1].render_card(5)
    assert "楼道里堆满了纸箱" in description and "@" not in description.replace("＠", "@")


def test_other_mentions_are_kept():
    assert without_bot_mention("@王阿姨 您家漏水了") == "@王阿姨 您家漏水了"
    assert without_bot_mention("@gridbot @王阿姨 您家漏水了") == "@王阿姨 您家漏水了"
    assert without_bot_mention("电梯坏了 @gridbot") == "电梯坏了 @gridbot"


def test_a_wish_reaches_volunteers_without_the_mention():
    d = handle_message(ctx("@gridbot 想找人帮忙买菜", mentions=True), nlu("micro_wish"))
    [to_volunteer] = [s for s in d.sends if "wxid_liu" in s.to.mention_ids]
    assert "@gridbot" not in to_volunteer.render(4) and "想找人帮忙买菜" in to_volunteer.render(4)


# ---------------------------------------------------------------- phone numbers into groups


def test_the_workers_note_from_the_report_reaches_the_group_masked():
    text = "进展 128 已联系业主，师傅电话139 0000 1111，座机021-12345678，+86 136-1234-5678"
    d = worker_says(text)
    group = d.sends[1].render(128)
    assert group.endswith("师傅电话139 **** 1111，座机021-********，+86 136-****-5678")
    assert "139 0000 1111" in d.changes[0].text  # the ticket history keeps it for staff


def test_a_captains_notice_reaches_the_groups_as_written_their_number_too():
    text = "通知 明早停水，有事找王楼长 139-1234-5678"
    d = handle_command(ctx(text, sender="wxid_wang", person=CAPTAIN), parse_command(text),
                       CommandData())
    notices = [s.render(None) for s in d.sends
               if isinstance(s.to, ToGroup) and not s.to.mention_ids]
    assert notices and all("有事找王楼长 139-1234-5678" in n for n in notices)


def test_an_unknown_account_is_not_repeated_into_a_group_when_it_is_a_phone():
    text = "转派 128 13912345678"
    d = handle_command(ctx(text, sender="zhangwg", person=WORKER), parse_command(text),
                       CommandData(ticket=ticket()))
    assert d.outcome == "refused"
    assert "13912345678" not in d.sends[0].render(128) and "139****5678" in d.sends[0].render(128)


# ---------------------------------------------------------------- reasons


def decisions():
    t = ticket()
    yield handle_message(ctx("电梯坏了"), nlu("repair_request", 1.0,
                                           entities=[{"entity": "facility", "value": "lift"}]))
    yield handle_message(ctx("电梯又坏了"), nlu("repair_request", entities=[
        {"entity": "facility", "value": "lift"}]), [ticket(id=42)])
    yield handle_message(ctx("独居老人想找人帮忙买菜"), nlu("micro_wish"))
    yield handle_message(ctx("楼上漏水不肯赔"), nlu("dispute", tier="small"))
    yield handle_message(ctx("路灯不亮", channel="wechat", chat_id=None, sender="o1"),
                         nlu("repair_request"))
    yield handle_message(ctx("今天天气真好"), nlu("none", 0.93))
    yield handle_message(ctx("@gridbot 你好", mentions=True), nlu("none"))
    for text in ("接单 128", "进展 128 已联系物业", "完成 128 好了", "转派 128 liwg",
                 "转派 128 某人", "升级 128", "改类 128 投诉", "改类 128 报修", "查询 128",
                 "评价 128 9", "接单 999"):
        yield handle_command(staff_ctx(text, WORKER, "zhangwg"), parse_command(text),
                             CommandData(ticket=None if "999" in text else t))
    yield handle_command(staff_ctx("接单 128", WORKER, "zhangwg"), parse_command("接单 128"),
                         CommandData(ticket=ticket(status="closed")))
    yield handle_command(ctx("接单 128"), parse_command("接单 128"), CommandData(ticket=t))
    yield handle_command(ctx("我的工单"), parse_command("我的工单"), CommandData(tickets=[t]))
    yield handle_command(staff_ctx("我的任务", WORKER, "zhangwg"), parse_command("我的任务"),
                         CommandData())
    yield handle_command(ctx("通知 明天停水", sender="wxid_wang", person=CAPTAIN),
                         parse_command("通知 明天停水"), CommandData())


def test_every_reason_is_chinese_an_admin_can_read():
    for d in decisions():
        assert d.reason and not re.search(r"[A-Za-z_]", d.reason), d.reason


def test_a_ticket_reason_keeps_intent_confidence_place_and_person():
    d = handle_message(ctx("电梯坏了"), nlu("repair_request", 1.0,
                                         entities=[{"entity": "facility", "value": "lift"}]))
    assert d.reason == "识别为报修·电梯（置信度 1.00），3号楼，派给网格员张网格"
    assert d.outcome == "ticket_created"
    chatter = handle_message(ctx("今天天气真好"), nlu("none", 0.93))
    assert "识别为无关（置信度 0.93）" in chatter.reason and chatter.outcome == "ignored"
    accepted = worker_says("接单 128", ticket())
    assert accepted.reason == "张网格发来“接单”，工单 #128 已接单"
    assert accepted.outcome == "command:accepted"


def test_the_wrong_state_is_explained():
    d = worker_says("接单 128", ticket(status="resolved", resolve_due_at=NOW - timedelta(hours=1)))
    assert d.reason == "张网格发来“接单”，未执行：工单 #128 目前已办结待评价，不能接单"


# ---------------------------------------------------------------- people in danger, whatever the model read


def test_someone_collapsed_read_as_chatter_is_an_emergency_call_for_help_to_the_worker():
    d = handle_message(ctx("我妈在家晕倒了"), nlu("none", 0.7, danger="medical"))
    assert d.outcome == "ticket_created"
    assert (d.create.category, d.create.urgency, d.create.assignee_id) == (
        "wish", "emergency", WORKER)
    assert d.create.accept_due_at == NOW + timedelta(minutes=10)
    [reply] = [s for s in d.sends if not isinstance(s.to, ToPerson)]
    assert reply.render(5).startswith("@王阿姨 请立即拨打 120 急救！已收到并紧急派单，工单 #5。")
    [task] = [s for s in d.sends if isinstance(s.to, ToPerson)]
    assert task.to == ToPerson(WORKER)  # the worker's at once: no volunteer is asked to claim
    assert task.render(5).startswith("【求助·紧急】")  # no 微心愿 to the worker
    assert "有人晕倒或受伤正在发生，按紧急求助（交网格员）立单" in d.reason


def test_someone_collapsed_read_as_a_wish_goes_to_the_worker_not_the_volunteers():
    d = handle_message(ctx("对门的独居老人晕倒了，叫不醒"), nlu("micro_wish", danger="medical"))
    assert (d.create.category, d.create.urgency, d.create.assignee_id) == (
        "wish", "emergency", WORKER)
    assert {s.to for s in d.sends if isinstance(s.to, ToPerson)} == {ToPerson(WORKER)}
    assert all("认领" not in s.render(5) for s in d.sends)
    calm = handle_message(ctx("想找志愿者陪我妈去医院复查"), nlu("micro_wish"))
    assert calm.create.assignee_id is None and calm.create.urgency == "normal"  # claimed as ever


def test_a_knife_read_as_chatter_is_a_big_dispute_and_an_emergency():
    d = handle_message(ctx("有人拿刀砍人了"), nlu("none", 0.6, danger="violence"))
    assert (d.create.category, d.create.tier, d.create.urgency) == ("dispute", "big", "emergency")
    assert "请立即拨打 110 报警，注意自身安全！已收到并紧急派单" in d.sends[0].render(5)


def test_someone_trapped_read_as_a_complaint_is_an_emergency_repair():
    d = handle_message(ctx("有人困在电梯里了"), nlu("complaint", 0.8, danger="trapped"))
    assert (d.create.category, d.create.urgency) == ("repair", "emergency")
    assert "有人被困正在发生，按紧急报修立单" in d.reason
    feared = handle_message(ctx("纸箱堆成山 着火了都跑不出去"), nlu("complaint", danger="fire"))
    assert (feared.create.category, feared.create.urgency) == ("complaint", "normal")


def test_a_danger_told_one_to_one_without_a_building_is_told_whom_to_call_first():
    d = handle_message(ctx("家里燃气味很重，头有点晕", channel="wechat", chat_id=None,
                           sender="oA_res"), nlu("repair_request", danger="gas"))
    assert d.outcome == "asked_building"
    said = d.sends[0].render(None)
    assert said.startswith("已收到。情况危急请先拨打 119 火警、120 急救或 110 报警。")
    calm = handle_message(ctx("楼道灯坏了", channel="wechat", chat_id=None, sender="oA_res"),
                          nlu("repair_request"))
    assert "119" not in calm.sends[0].render(None)


# ---------------------------------------------------------------- staff talking to gridbot


@pytest.mark.parametrize("person,userid,text", [
    (WORKER, "zhangwg", "9号楼那个老人已经送医院了，家属到了"),
    (LEADER, "chenwgz", "3号楼楼道灯的事你们跟进一下"),
])
@pytest.mark.parametrize("channel", ["wecom_app", "simulator"])  # the simulator's staff pane
def test_a_ticket_handlers_own_words_on_wecom_open_no_ticket(person, userid, text, channel):
    said = ctx(text, sender=userid, name=None, channel=channel, chat_id=None, person=person)
    d = handle_message(said, nlu("repair_request", 0.86))
    assert d.outcome == "help" and d.create is None and not d.changes
    [answer] = d.sends
    assert "没有立单" in answer.render(None) and "走访 楼号 情况" in answer.render(None)
    assert "工作人员在企业微信里的留言，不自动立单" in d.reason


def test_staff_on_wecom_still_open_an_emergency_and_captains_report_as_residents():
    b3 = [{"entity": "building", "value": "3"}]
    trapped = handle_message(staff_ctx("3号楼电梯里有人被困", WORKER, "zhangwg"),
                             nlu("repair_request", entities=b3, danger="trapped"))
    assert trapped.create is not None and trapped.create.urgency == "emergency"
    captain = handle_message(staff_ctx("3号楼楼道灯坏了", CAPTAIN, "wanglz"),
                             nlu("repair_request", entities=b3))
    assert captain.create is not None


# ---------------------------------------------------------------- asking after progress


def test_asking_after_progress_answers_with_ones_own_ticket_and_opens_none():
    mine = ticket(id=77, status="accepted", facility="lift", created_at=NOW - timedelta(days=2))
    d = handle_message(ctx("接单了没有啊，都两天了"), nlu("repair_request", 0.59), [mine])
    assert d.outcome == "already_reported" and d.create is None and d.follow is None
    assert d.sends[0].render(77).startswith("@王阿姨 您反映的这件事已有工单 #77（已接单）")
    theirs = ticket(id=78, reporter_id="wxid_other")
    d = handle_message(ctx("怎么还没人来修"), nlu("repair_request", 0.6), [theirs])
    assert d.outcome == "ignored" and d.create is None and not d.sends
    # pressed harder, as an outside probe wrote it: still only a question
    for pressed in ("怎么还没人来修啊，都等了半天了", "你们到底管不管？都三天了还没人来"):
        d = handle_message(ctx(pressed), nlu("complaint", 0.8), [mine])
        assert d.outcome == "already_reported" and d.create is None, pressed
    # A report that also asks is a report.
    d = handle_message(ctx("楼道里漏水两天了，怎么还没人来修"), nlu("repair_request", 0.9), [])
    assert d.create is not None


def test_taking_a_matter_back_in_words_is_told_how_to_withdraw_its_ticket():
    mine = ticket(id=77, status="new", created_at=NOW - timedelta(minutes=30))
    d = handle_message(ctx("算了不用了，我家老头子已经通好了"), nlu("none", 0.8), [mine])
    assert d.outcome == "help" and not d.changes and d.create is None
    assert d.sends[0].render(77) == "@王阿姨 如果工单 #77 不用处理了，请回复“撤销 77”撤销（后面可写原因）。"
    # Without a ticket of their own open, the words are chatter as before.
    theirs = ticket(id=78, reporter_id="wxid_other")
    assert handle_message(ctx("算了不用了"), nlu("none", 0.8), [theirs]).outcome == "ignored"
