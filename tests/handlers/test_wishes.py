"""Micro-wishes and the points bank, decided without a database: publishing a wish to the
grid's volunteers (WeCom pushes, @-mentions in the building group), claiming it, the
re-announcement and the hand-over to the grid worker, points for a confirmed wish, 心愿,
积分 and redemption."""

from __future__ import annotations

from datetime import timedelta

from domain.decisions import (
    NEW_TICKET,
    AwardPoints,
    Context,
    Message,
    ScheduleTimer,
    ToGroup,
    ToPerson,
    ToSender,
)
from domain.org import BuildingInfo, DistrictInfo, GroupInfo, OrgMap, RoleInfo, StreetInfo
from domain.points import PointsAccount, PointsLine
from handlers import CommandData, handle_command, handle_message, wishes
from handlers.registry import parse_command
from handlers.timers import TimerContext, TimerView, on_timer
from tests.handlers.support import NOW, nlu, ticket

WORKER, LEADER, LIU, XIAOLI, ZHAO, OTHER_WORKER, OTHER_VOLUNTEER, LONE_WORKER, ADMIN = (
    1, 2, 4, 5, 6, 7, 8, 9, 3)


def wish_org() -> OrgMap:
    """Grid 1 has two volunteers on WeChat only and one on WeCom; grid 2 has its own
    volunteer; grid 3 has none. The street gives 15 points for a wish."""
    return OrgMap.build(
        streets=[StreetInfo.from_row(1, "宜川路街道", None, {"wish": 15})],
        districts=[DistrictInfo(1, "第一居民区", 1)],
        grids=[(1, "第1网格", 1), (2, "第2网格", 1), (3, "第3网格", 1)],
        buildings=[BuildingInfo(10, "3", 1, 1, "key-b3"), BuildingInfo(11, "5", 1, 1, None),
                   BuildingInfo(12, "7", 2, 1, None), BuildingInfo(13, "9", 3, 1, None)],
        groups=[GroupInfo(100, "bridge", "b3@chatroom", "3号楼业主群", 10),
                GroupInfo(101, "wecom_bot", "wrOgAAAA3", None, 10),
                GroupInfo(102, "bridge", "b5@chatroom", "5号楼业主群", 11),
                GroupInfo(103, "bridge", "b7@chatroom", "7号楼业主群", 12),
                GroupInfo(104, "bridge", "b9@chatroom", "9号楼业主群", 13)],
        people=[
            (WORKER, "张网格", "zhangwg", None, None),
            (LEADER, "陈网格长", "chenwgz", None, None),
            (ADMIN, "街道管理员", "admin1", None, None),
            (LIU, "党员刘师傅", None, "wxid_liu", None),
            (XIAOLI, "志愿者小李", None, "wxid_xiaoli", None),
            (ZHAO, "志愿者老赵", "zhaovol", None, None),
            (OTHER_WORKER, "李网格", "liwg", None, None),
            (OTHER_VOLUNTEER, "志愿者小王", None, "wxid_other", None),
            (LONE_WORKER, "周网格", "zhouwg", None, None),
        ],
        roles=[
            (WORKER, RoleInfo("grid_worker", "grid", 1)),
            (LEADER, RoleInfo("grid_leader", "grid", 1)),
            (ADMIN, RoleInfo("admin", "street", 1)),
            (LIU, RoleInfo("volunteer", "grid", 1)),
            (XIAOLI, RoleInfo("volunteer", "grid", 1)),
            (ZHAO, RoleInfo("volunteer", "grid", 1)),
            (OTHER_WORKER, RoleInfo("grid_worker", "grid", 2)),
            (OTHER_VOLUNTEER, RoleInfo("volunteer", "grid", 2)),
            (LONE_WORKER, RoleInfo("grid_worker", "grid", 3)),
        ],
    )


ORG = wish_org()


def say(text: str, *, sender: str = "wxid_res1", name: str | None = "王阿姨",
        channel: str = "bridge", chat_id: str | None = "b3@chatroom",
        person: int | None = None, mentions: bool = False) -> Context:
    group = ORG.group_for(channel, chat_id) if chat_id else None
    return Context(Message(1, channel, sender, name, text, chat_id, mentions), ORG, NOW,
                   group.id if group else None, group.building_id if group else None, person)


def command(ctx: Context, data: CommandData | None = None):  # type: ignore[no-untyped-def]
    return handle_command(ctx, parse_command(ctx.message.text), data or CommandData())


def wish(**over):  # type: ignore[no-untyped-def]
    base = dict(category="wish", facility=None, assignee_id=None, accept_due_at=None,
                text="独居老人想找人帮忙买菜，电话13812345678", location="3号楼")
    return ticket(**{**base, **over})


# ---------------------------------------------------------------- publishing


def test_a_wish_in_a_group_calls_the_volunteers_there_and_pushes_those_on_wecom():
    d = handle_message(say("独居老人想找人帮忙买菜，电话13812345678"), nlu("micro_wish"))
    assert d.outcome == "ticket_created" and d.create.category == "wish"
    [reply, push] = d.sends
    # One message in the group: the resident's answer, with the WeChat-only volunteers.
    assert reply.to == ToGroup(100, ("wxid_res1", "wxid_liu", "wxid_xiaoli"))
    text = reply.render(128)
    assert text.startswith("@王阿姨 ") and "@党员刘师傅 @志愿者小李" in text
    assert "认领 128" in text and "138****5678" in text and "13812345678" not in text
    assert push.to == ToPerson(ZHAO) and "认领 128" in push.render(128)
    assert push.ticket_id is NEW_TICKET


def test_a_new_wish_is_nobodys_task_until_two_days_pass():
    d = handle_message(say("想找人帮忙买菜"), nlu("micro_wish"))
    assert d.create.assignee_id is None and d.create.accept_due_at is None
    assert d.create.resolve_due_at == NOW + timedelta(days=7)
    assert not [s for s in d.sends if s.to == ToPerson(WORKER) or s.card is not None]
    assert d.timers == [ScheduleTimer("wish_reannounce", NOW + timedelta(days=1), NEW_TICKET),
                        ScheduleTimer("wish_handover", NOW + timedelta(days=2), NEW_TICKET)]
    assert "3位志愿者" in d.reason


def test_a_wish_sent_one_to_one_calls_the_volunteers_in_the_buildings_wechat_group():
    here = say("3号楼独居老人想找人帮忙买菜", channel="wechat", chat_id=None, sender="o-res")
    d = handle_message(here, nlu("micro_wish", entities=[{"entity": "building", "value": "3"}]))
    reply, call, push = d.sends
    assert reply.to == ToSender("wechat", "o-res", None)
    assert call.to == ToGroup(100, ("wxid_liu", "wxid_xiaoli"))
    assert "@党员刘师傅 @志愿者小李 新的微心愿 #128" in call.render(128)
    assert push.to == ToPerson(ZHAO)


def test_a_wish_in_a_wecom_group_calls_wechat_volunteers_in_the_wechat_group():
    here = say("想找人帮忙买菜", channel="wecom_bot", chat_id="wrOgAAAA3", sender="res-wecom")
    d = handle_message(here, nlu("micro_wish"))
    reply, call, _ = d.sends
    assert reply.to == ToGroup(101, ("res-wecom",))
    assert call.to == ToGroup(100, ("wxid_liu", "wxid_xiaoli"))


def test_a_wish_in_a_grid_without_volunteers_goes_to_the_worker_at_once():
    d = handle_message(say("想找人帮忙买菜", chat_id="b9@chatroom"), nlu("micro_wish"))
    assert d.create.assignee_id == LONE_WORKER and d.create.accept_due_at is not None
    assert d.timers == []
    reply, task = d.sends
    assert "没有登记志愿者" in reply.render(5) and "周网格" in reply.render(5)
    assert task.to == ToPerson(LONE_WORKER)
    _, description = task.render_card(5)
    assert "本网格没有登记志愿者" in description and "接单 5" in description


# ---------------------------------------------------------------- claiming


def test_a_volunteer_of_the_grid_claims_an_open_wish():
    d = command(say("认领 128", sender="wxid_liu", name="刘师傅", person=LIU),
                CommandData(ticket=wish()))
    assert d.outcome == "command:claimed"
    [change] = d.changes
    assert change.fields["assignee_id"] == LIU and change.status == "accepted"
    assert change.expect_status == ("new", "reopened")
    assert change.expect_fields == {"assignee_id": None}  # nobody took it meanwhile
    texts = [s.render(128) for s in d.sends]
    assert any("已由志愿者党员刘师傅认领" in t for t in texts)


def test_a_volunteer_of_another_grid_is_refused_politely():
    d = command(say("认领 128", sender="wxid_other", name="小王", chat_id="b7@chatroom",
                    person=OTHER_VOLUNTEER), CommandData(ticket=wish()))
    assert d.outcome == "refused" and not d.changes and not d.points
    [answer] = d.sends
    text = answer.render(128)
    assert "第1网格" in text and "感谢您的热心" in text and answer.to.mention_ids == ("wxid_other",)


def test_a_resident_and_a_worker_cannot_claim():
    resident = command(say("认领 128"), CommandData(ticket=wish()))
    assert resident.outcome == "refused" and not resident.changes
    worker = command(say("认领 128", sender="zhangwg", name=None, channel="wecom_app",
                         chat_id=None, person=WORKER), CommandData(ticket=wish()))
    assert worker.outcome == "refused" and not worker.changes


def test_a_wish_handed_to_the_worker_can_still_be_claimed_and_the_worker_hears():
    handed = wish(assignee_id=WORKER, accept_due_at=NOW + timedelta(hours=2))
    d = command(say("认领 128", sender="zhaovol", name=None, channel="wecom_app",
                    chat_id=None, person=ZHAO), CommandData(ticket=handed))
    [change] = d.changes
    assert change.fields["assignee_id"] == ZHAO
    assert change.expect_fields == {"assignee_id": WORKER}
    [told] = [s for s in d.sends if s.to == ToPerson(WORKER)]
    assert "志愿者志愿者老赵认领" in told.render(128) and "不用再跟进" in told.render(128)


def test_the_loser_of_two_claims_is_told_who_has_it():
    claimed = wish(status="accepted", assignee_id=LIU)
    d = command(say("认领 128", sender="wxid_xiaoli", name="小李", person=XIAOLI),
                CommandData(ticket=claimed))
    assert d.outcome == "refused" and not d.changes
    assert "已由志愿者党员刘师傅认领" in d.sends[0].render(128)


# ---------------------------------------------------------------- points for a confirmed wish


def test_confirming_a_wish_earns_its_volunteer_the_streets_points():
    fulfilled = wish(status="resolved", assignee_id=LIU)
    d = command(say("评价 128 5"), CommandData(ticket=fulfilled))
    assert d.outcome == "command:rated" and d.changes[0].status == "closed"
    [award] = d.points
    assert award == AwardPoints(LIU, 15, award.reason, "wish:128", 128)
    assert "微心愿 #128" in award.reason and "13812345678" not in award.reason
    [told] = [s for s in d.sends if "wxid_liu" in getattr(s.to, "mention_ids", ())]
    assert told.to == ToGroup(100, ("wxid_liu",))
    text = told.render(128)
    assert text.startswith("@党员刘师傅 ") and "15 积分" in text and "#128" in text
    assert "党员刘师傅获得 15 积分" in d.reason


def test_a_volunteer_on_wecom_hears_of_their_points_by_push():
    d = command(say("评价 128 4"), CommandData(ticket=wish(status="resolved", assignee_id=ZHAO)))
    assert [a.person_id for a in d.points] == [ZHAO]
    assert [s.to for s in d.sends if isinstance(s.to, ToPerson)] == [ToPerson(ZHAO)]


def test_no_points_for_a_worker_a_repair_or_a_refused_rating():
    by_worker = command(say("评价 128 5"), CommandData(ticket=wish(status="resolved",
                                                                 assignee_id=WORKER)))
    assert by_worker.changes and not by_worker.points
    repair = command(say("评价 128 5"), CommandData(ticket=ticket(status="resolved")))
    assert repair.changes and not repair.points
    early = command(say("评价 128 5"), CommandData(ticket=wish(status="accepted",
                                                             assignee_id=LIU)))
    assert early.outcome == "refused" and not early.points
    stranger = command(say("评价 128 5", sender="wxid_someone"),
                       CommandData(ticket=wish(status="resolved", assignee_id=LIU)))
    assert stranger.outcome == "refused" and not stranger.points


# ---------------------------------------------------------------- 心愿


def test_the_wishes_of_the_buildings_grid_are_listed_in_its_group():
    here = say("心愿")
    assert wishes.wish_grids(here) == (1,)
    listed = [wish(id=128), wish(id=129, status="accepted", assignee_id=LIU, building_id=11),
              wish(id=130, assignee_id=WORKER)]
    d = command(here, CommandData(tickets=listed))
    assert d.outcome == "answered"
    [answer] = d.sends
    assert answer.to == ToGroup(100, ("wxid_res1",))
    text = answer.render(None)
    assert "第1网格的微心愿（3件）" in text
    assert "#128｜3号楼｜待认领｜独居老人想找人帮忙买菜" in text
    assert "#129｜5号楼｜志愿者党员刘师傅已认领" in text
    assert "#130｜3号楼｜张网格跟进中，仍可认领" in text
    assert "13812345678" not in text


def test_no_open_wishes_and_where_to_ask():
    none = command(say("心愿", chat_id="b7@chatroom"), CommandData())
    assert "第2网格目前没有待完成的微心愿" in none.sends[0].render(None)
    one_to_one = say("心愿", channel="wechat", chat_id=None, sender="o-res")
    assert wishes.wish_grids(one_to_one) == ()
    refused = command(one_to_one, CommandData())
    assert refused.outcome == "refused" and "楼组群" in refused.sends[0].render(None)
    volunteer = say("微心愿", sender="zhaovol", name=None, channel="wecom_app", chat_id=None,
                    person=ZHAO)
    assert wishes.wish_grids(volunteer) == (1,)
    assert command(volunteer, CommandData()).outcome == "answered"


# ---------------------------------------------------------------- 积分


def test_a_volunteer_sees_their_balance_and_latest_entries():
    account = PointsAccount(LIU, 5, (
        PointsLine(NOW, -10, "兑换：大米一袋"),
        PointsLine(NOW - timedelta(days=1), 15, "完成微心愿 #128：帮忙买菜", 128)))
    d = command(say("积分", sender="wxid_liu", name="刘师傅", person=LIU),
                CommandData(facts={"account": account}))
    assert d.outcome == "answered"
    text = d.sends[0].render(None)
    assert "积分余额：5 分" in text
    assert "11-22 16:00 -10 兑换：大米一袋" in text and "+15 完成微心愿 #128" in text
    fresh = command(say("积分", sender="zhaovol", name=None, channel="wecom_app", chat_id=None,
                        person=ZHAO), CommandData(facts={"account": PointsAccount(ZHAO)}))
    assert "积分余额：0 分" in fresh.sends[0].render(None)


def test_only_volunteers_have_points():
    resident = command(say("积分"), CommandData())
    assert resident.outcome == "refused" and "只对登记的志愿者开放" in resident.sends[0].render(None)
    worker = command(say("积分", sender="zhangwg", name=None, channel="wecom_app", chat_id=None,
                         person=WORKER), CommandData(facts={"account": PointsAccount(WORKER)}))
    assert worker.outcome == "refused"


# ---------------------------------------------------------------- redemption


def test_redeeming_spends_the_balance_once_per_request():
    d = wishes.redeem(ORG, ZHAO, 25, 10, "大米一袋", "admin", "redeem:abc")
    assert d.outcome == "redeemed"
    assert d.points == [AwardPoints(ZHAO, -10, "兑换：大米一袋", "redeem:abc")]
    [told] = d.sends
    assert told.to == ToPerson(ZHAO) and "余额 15 分" in told.render(None)
    quiet = wishes.redeem(ORG, LIU, 25, 10, "大米一袋", "admin", "redeem:def")
    assert quiet.points and quiet.sends == []  # on WeChat only: redeemed at the counter


def test_a_short_balance_redeems_nothing():
    d = wishes.redeem(ORG, LIU, 5, 10, "大米一袋", "admin", "redeem:abc")
    assert d.outcome == "refused" and not d.points and not d.sends
    assert "余额只有 5 分" in d.reason


# ---------------------------------------------------------------- timers


def fire(kind: str, view, days: int) -> object:  # type: ignore[no-untyped-def]
    due = NOW + timedelta(days=days)
    return on_timer(TimerContext(ORG, due, TimerView(7, kind, due, view.id), view))


def test_an_unclaimed_wish_is_announced_again_after_a_day():
    d = fire("wish_reannounce", wish(), 1)
    assert d.outcome == "wish_reannounced"
    [change] = d.changes
    assert change.kind == "reannounced" and change.expect_status == ("new",)
    assert change.expect_fields == {"assignee_id": None}
    call, push = d.sends
    assert call.to == ToGroup(100, ("wxid_liu", "wxid_xiaoli"))
    assert "发布一天了" in call.render(128) and "138****5678" in call.render(128)
    assert push.to == ToPerson(ZHAO) and "认领 128" in push.render(128)


def test_an_unclaimed_wish_goes_to_the_grid_worker_a_day_later():
    d = fire("wish_handover", wish(), 2)
    assert d.outcome == "wish_handed_over"
    [change] = d.changes
    assert change.kind == "handed_over" and change.expect_fields == {"assignee_id": None}
    assert change.fields == {"assignee_id": WORKER,
                             "accept_due_at": NOW + timedelta(days=2, hours=2)}
    task, residents = d.sends
    assert task.to == ToPerson(WORKER) and task.card is not None
    title, description = task.render_card(128)
    assert "#128" in title and "发布两天仍无志愿者认领" in description
    assert "13812345678" in description  # staff reach the resident
    assert residents.to == ToGroup(100, ("wxid_res1",))
    assert "暂时没有志愿者认领" in residents.render(128) and "网格员张网格" in residents.render(128)


def test_the_timers_do_nothing_once_the_wish_is_claimed_or_handed_over():
    for view in (wish(status="accepted", assignee_id=LIU), wish(assignee_id=WORKER),
                 wish(status="resolved", assignee_id=LIU), wish(status="cancelled")):
        for kind, days in (("wish_reannounce", 1), ("wish_handover", 2)):
            d = fire(kind, view, days)
            assert d.outcome == "ignored" and not d.changes and not d.sends


def test_a_volunteer_asking_for_help_hears_the_volunteers_commands():
    volunteer = handle_message(say("@gridbot 你好", sender="wxid_liu", name="刘师傅",
                                   person=LIU, mentions=True), nlu("none"))
    assert "认领 编号" in volunteer.sends[0].render(None)
    assert "积分" in volunteer.sends[0].render(None)
    assert "接单" not in volunteer.sends[0].render(None)
    worker = handle_message(say("你好", sender="zhangwg", name=None, channel="wecom_app",
                                chat_id=None, person=WORKER), nlu("none"))
    assert "接单 编号" in worker.sends[0].render(None)


def test_a_poor_rating_of_a_wish_reaches_its_volunteer_once_and_never_the_group():
    """Pushed on WeCom: the points and the rating in one message. @-mentioned in the group:
    the points only; the rating is not said before the group, nor pushed where no push
    reaches."""
    d = command(say("评价 128 1 来晚了"), CommandData(ticket=wish(status="resolved",
                                                                 assignee_id=ZHAO)))
    [pushed] = [s for s in d.sends if isinstance(s.to, ToPerson)]
    assert pushed.to == ToPerson(ZHAO)
    text = pushed.render(128)
    assert "评价 1 星：来晚了" in text and "15 积分" in text
    d = command(say("评价 128 2"), CommandData(ticket=wish(status="resolved", assignee_id=LIU)))
    assert not [s for s in d.sends if isinstance(s.to, ToPerson)]
    [told] = [s for s in d.sends if "wxid_liu" in getattr(s.to, "mention_ids", ())]
    assert "15 积分" in told.render(128) and "星" not in told.render(128)
    good = command(say("评价 128 5"), CommandData(ticket=wish(status="resolved",
                                                             assignee_id=ZHAO)))
    [pushed] = [s for s in good.sends if isinstance(s.to, ToPerson)]
    assert "星" not in pushed.render(128)
