"""The console's actions, decided without a server: a chat command taken in the console is
the chat's decision for the signed-in person, with what it answers kept for the page; the
actions no chat command has (结案, 重开, 取消, 改层级) decide who may, which status allows
them, and what the residents, the holder and the new holder hear."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.decisions import ToDepartment, ToGroup, ToPerson, ToSender
from handlers.actions import (
    ACTIONS,
    CONSOLE,
    console_answer,
    console_command,
    console_context,
    decide,
    refusal_kind,
)
from handlers.streets import transfer_candidates
from handlers.ticket_commands import CommandData
from tests.handlers.support import (
    ADMIN,
    CAPTAIN,
    DISTRICT_ADMIN,
    LEADER,
    MED_BIG,
    MED_SMALL,
    NOW,
    ORG,
    OTHER_WORKER,
    VOLUNTEER,
    WORKER,
    ticket,
)

RESOLVED = dict(status="resolved", resolved_at=NOW - timedelta(hours=3),
                confirm_due_at=NOW + timedelta(days=2), accepted_at=NOW - timedelta(hours=5))


def act(name: str, person: int, view, arg: str | None = None):  # type: ignore[no-untyped-def]
    action = ACTIONS[name]
    command = console_command(action, view.id, arg)
    return decide(console_context(ORG, NOW, person), action, command, CommandData(ticket=view))


def answer(decision) -> str:  # type: ignore[no-untyped-def]
    return console_answer(decision, 128)[1]


def to_group(decision) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.render(128) for s in decision.sends if isinstance(s.to, ToGroup)]


# ---------------------------------------------------------------- chat commands in the console


def test_accepting_in_the_console_is_the_chat_decision_and_its_answer_goes_to_nobody():
    decision = act("accept", WORKER, ticket())
    assert decision.outcome == "command:accepted"
    [change] = decision.changes
    assert change.status == "accepted" and change.fields["accepted_at"] == NOW
    assert to_group(decision) == ["@王阿姨 工单 #128 已由网格员张网格接单，正在安排处理。"]
    left, said = console_answer(decision, 128)
    assert said == "好的，工单 #128 已接单。"
    assert not [s for s in left.sends if isinstance(s.to, ToSender)]
    assert refusal_kind(decision) is None


def test_the_console_context_names_the_person_and_no_chat():
    ctx = console_context(ORG, NOW, LEADER, "接单 128")
    assert ctx.person_id == LEADER and ctx.group_id is None and ctx.building_id is None
    assert ctx.message.channel == CONSOLE and ctx.message.sender_id == "chenwgz"
    assert ctx.message.sender_name == "陈网格长"


@pytest.mark.parametrize("name,arg", [("accept", None), ("progress", "已联系物业"),
                                      ("resolve", None), ("escalate", None)])
def test_someone_whose_role_does_not_allow_it_is_refused_as_role(name, arg):
    decision = act(name, OTHER_WORKER, ticket(status="accepted" if name != "accept" else "new"),
                   arg)
    assert decision.outcome == "refused" and decision.changes == []
    assert refusal_kind(decision) == "role"
    assert answer(decision).startswith("抱歉，工单 #128：只有")
    assert not to_group(decision)


def test_a_status_that_does_not_allow_it_is_refused_as_state():
    decision = act("accept", WORKER, ticket(status="closed"))
    assert refusal_kind(decision) == "state"
    assert answer(decision) == "工单 #128 目前已关闭，不能接单。"


def test_a_missing_argument_is_the_commands_usage():
    decision = act("progress", WORKER, ticket(status="accepted"), "  ")
    assert refusal_kind(decision) == "usage" and answer(decision) == "格式：进展 编号 进展说明"
    transfer = act("transfer", WORKER, ticket(status="accepted"), "nobody-here")
    assert refusal_kind(transfer) == "usage" and "nobody-here" in answer(transfer)


def test_an_argument_is_read_as_the_chat_reads_it():
    action = ACTIONS["transfer"]
    assert console_command(action, 128, " ｌｉｗｇ ").arg == "liwg"  # folded, like the chat
    assert console_command(ACTIONS["accept"], 128, "ignored").arg == ""
    assert console_command(ACTIONS["tier"], 128, "huge").error is not None


def test_a_missing_ticket_is_refused_as_missing():
    action = ACTIONS["accept"]
    decision = decide(console_context(ORG, NOW, WORKER), action,
                      console_command(action, 999, None), CommandData())
    assert refusal_kind(decision) == "missing"


def test_whistling_from_the_console_is_the_leaders():
    decision = act("whistle", LEADER, ticket(), "房管所")
    # The test estate has no departments: the street's list is empty.
    assert refusal_kind(decision) == "state" and "还没有登记" in answer(decision)
    worker = act("whistle", WORKER, ticket(), "房管所")
    assert refusal_kind(worker) == "role"


def test_transfer_candidates_are_the_streets_staff_on_wecom_but_volunteers():
    names = [p.name for p in transfer_candidates(ORG, ticket())]
    assert "张网格" in names and "陈网格长" in names and "居委会孙书记" in names
    assert "王楼长" in names  # a captain with a WeCom account
    assert "党员刘师傅" not in names and "曹杨街道管理员" not in names
    assert VOLUNTEER not in [p.id for p in transfer_candidates(ORG, ticket())]


# ---------------------------------------------------------------- 结案 close


def test_a_leader_closes_a_resolved_ticket_without_the_rating():
    decision = act("close", LEADER, ticket(**RESOLVED))
    [change] = decision.changes
    assert change.kind == "closed" and change.status == "closed"
    assert change.expect_status == ("resolved",) and change.fields == {"closed_at": NOW}
    assert "未等居民评价" in change.text and "陈网格长" in change.text
    [said] = to_group(decision)
    assert said.startswith("@王阿姨 工单 #128 已由工作人员确认办结并关闭") and "没修好 128" in said
    assert answer(decision) == "好的，工单 #128 已结案。"


def test_a_worker_may_not_close_and_an_open_ticket_cannot_be_closed():
    worker = act("close", WORKER, ticket(**RESOLVED))
    assert refusal_kind(worker) == "role" and worker.changes == []
    still_open = act("close", ADMIN, ticket(status="accepted"))
    assert refusal_kind(still_open) == "state"
    assert answer(still_open) == "工单 #128 目前已接单，不能结案。"


def test_a_wish_closed_by_staff_thanks_the_resident_and_earns_no_points():
    decision = act("close", DISTRICT_ADMIN, ticket(**RESOLVED, category="wish"))
    assert decision.points == [] and "微心愿 #128" in to_group(decision)[0]


# ---------------------------------------------------------------- 重开 reopen


def test_staff_reopen_with_fresh_deadlines_and_the_holder_is_told():
    decision = act("reopen", LEADER, ticket(**RESOLVED, rating=None), "居民电话反映还是不亮")
    [change] = decision.changes
    assert change.status == "reopened" and change.expect_status == ("resolved", "closed")
    assert change.fields["accept_due_at"] == NOW + timedelta(hours=2)
    assert change.fields["resolve_due_at"] == NOW + timedelta(hours=24)
    assert change.fields["rating"] is None and change.fields["resolved_at"] is None
    assert "陈网格长重新打开：居民电话反映还是不亮" == change.text
    pushes = [s for s in decision.sends if isinstance(s.to, ToPerson)]
    assert [p.to.person_id for p in pushes] == [WORKER]
    assert "陈网格长重新打开（居民电话反映还是不亮）" in pushes[0].render(128)
    assert to_group(decision) == ["@王阿姨 工单 #128 已由工作人员重新打开，张网格会继续处理。"]


def test_a_whistled_department_hears_of_a_staff_reopen():
    whistled = ticket(**RESOLVED, rating=None, department_id=5, reported_at=NOW)
    decision = act("reopen", LEADER, whistled, "居民电话反映还是不亮")
    [told] = [s for s in decision.sends if s.to == ToDepartment(5)]
    assert "陈网格长重新打开（居民电话反映还是不亮）" in told.render(128)
    assert not [s for s in act("reopen", LEADER, ticket(**RESOLVED)).sends
                if isinstance(s.to, ToDepartment)]


def test_the_holder_reopening_is_not_told_and_a_long_closed_ticket_stays_closed():
    own = act("reopen", WORKER, ticket(**RESOLVED))
    assert not [s for s in own.sends if isinstance(s.to, ToPerson)]
    late = act("reopen", WORKER, ticket(status="closed", closed_at=NOW - timedelta(days=8)))
    assert refusal_kind(late) == "state" and late.changes == []
    assert "已关闭超过 7 天" in answer(late)
    stranger = act("reopen", OTHER_WORKER, ticket(**RESOLVED))
    assert refusal_kind(stranger) == "role"
    new = act("reopen", WORKER, ticket())
    assert refusal_kind(new) == "state"


# ---------------------------------------------------------------- 取消 cancel


def test_staff_cancel_with_a_reason_the_residents_hear_masked():
    view = ticket(status="accepted", department_id=5)
    decision = act("cancel", LEADER, view, "重复反映，见 #127，电话13812345678")
    [change] = decision.changes
    assert change.status == "cancelled" and "陈网格长取消" in change.text
    [said] = to_group(decision)
    assert said.startswith("@王阿姨 工单 #128 已取消：重复反映") and "13812345678" not in said
    told = {type(s.to): s for s in decision.sends if not isinstance(s.to, ToGroup | ToSender)}
    assert told[ToPerson].to == ToPerson(WORKER) and told[ToDepartment].to == ToDepartment(5)
    assert "13812345678" not in told[ToDepartment].render(128)


def test_cancel_needs_a_reason_and_an_open_ticket():
    assert refusal_kind(act("cancel", WORKER, ticket(), None)) == "usage"
    assert refusal_kind(act("cancel", WORKER, ticket(**RESOLVED), "重复")) == "state"
    assert refusal_kind(act("cancel", OTHER_WORKER, ticket(), "重复")) == "role"


# ---------------------------------------------------------------- 改层级 a dispute's tier


def dispute(**over):  # type: ignore[no-untyped-def]
    return ticket(category="dispute", tier="small", assignee_id=MED_SMALL, facility=None,
                  text="楼上天天半夜拖椅子，找他理论还骂人", **over)


def test_a_disputes_tier_goes_to_that_tiers_mediator():
    decision = act("tier", ADMIN, dispute(), "big")
    [change] = decision.changes
    assert change.kind == "retiered" and change.fields == {"tier": "big", "assignee_id": MED_BIG}
    assert change.expect_fields == {"tier": "small"}
    assert change.event_data == {"tier": "big", "previous_tier": "small"}
    assert change.text == "调解层级由邻里小纠纷改为重大纠纷，交社区解纷员社区解纷员周法官调解"
    pushes = {s.to.person_id: s.render(128) for s in decision.sends if isinstance(s.to, ToPerson)}
    assert "定为重大纠纷，交由您调解" in pushes[MED_BIG]
    assert "改由社区解纷员社区解纷员周法官调解" in pushes[MED_SMALL]
    [said] = to_group(decision)
    # A dispute's step in the group names none of its parties.
    assert "王阿姨" not in said and said.startswith("工单 #128 已转交")


def test_micro_goes_to_the_buildings_captain_and_a_tier_without_a_mediator_stays():
    micro = act("tier", ADMIN, dispute(), "micro")
    assert micro.changes[0].fields == {"tier": "micro", "assignee_id": CAPTAIN}
    medium = act("tier", ADMIN, dispute(), "medium")  # no medium mediator in this district
    assert medium.changes[0].fields == {"tier": "medium"}
    assert not [s for s in medium.sends if isinstance(s.to, ToPerson | ToGroup)]


def test_the_tier_is_for_disputes_and_the_same_tier_changes_nothing():
    assert refusal_kind(act("tier", ADMIN, ticket(), "big")) == "state"
    same = act("tier", ADMIN, dispute(), "small")
    assert same.outcome == "answered" and same.changes == []
    assert refusal_kind(act("tier", OTHER_WORKER, dispute(), "big")) == "role"
    assert refusal_kind(act("tier", ADMIN, dispute(), "enormous")) == "usage"
