"""Staff views and visits, decided without a server: 本楼工单 for captains, 我的任务 for
whoever holds tickets, 走访 for grid workers (a ticket when the visit names a problem)."""

from __future__ import annotations

from datetime import timedelta

from domain.decisions import NEW_TICKET, RecordVisit, ToGroup, ToPerson, ToSender
from handlers.registry import handle_command, parse_command
from handlers.ticket_commands import CommandData
from handlers.visits import TICKET_CONFIDENCE
from tests.handlers.support import (
    CAPTAIN,
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

OPEN = [ticket(id=5, category="complaint", text="楼道堆物太多了没人管 电话13812345678"),
        ticket(id=6, category="dispute", tier="micro", text="王阿姨和楼上李叔为漏水吵架")]


def run(text: str, context, data: CommandData):  # type: ignore[no-untyped-def]
    return handle_command(context, parse_command(text), data)


# ---------------------------------------------------------------- 本楼工单


def test_a_captain_sees_the_open_tickets_of_their_buildings():
    captain = ctx("本楼工单", sender="wxid_wang", name="王楼长", person=CAPTAIN)
    decision = run("本楼工单", captain, CommandData(tickets=OPEN))
    assert decision.outcome == "answered" and decision.changes == []
    [answer] = decision.sends
    assert answer.to == ToGroup(100, ("wxid_wang",))
    text = answer.render(None)
    assert "2件" in text and "#5" in text and "#6" in text
    # Said in the group: a complaint's words stay out (it may name a neighbour), as a
    # dispute's do.
    assert "楼道堆物" not in text and "13812345678" not in text
    assert "王阿姨" not in text and "漏水" not in text
    # Asked 1:1 on WeCom, the captain reads what the complaint is about, numbers masked.
    alone = run("本楼工单", staff_ctx("本楼工单", CAPTAIN, "wanglz"), CommandData(tickets=OPEN))
    text = alone.sends[0].render(None)
    assert "楼道堆物" in text and "138****5678" in text and "王阿姨" not in text


def test_a_captain_with_no_open_tickets_hears_so():
    captain = ctx("本楼工单", sender="wxid_wang", name="王楼长", person=CAPTAIN)
    [answer] = run("本楼工单", captain, CommandData()).sends
    assert "没有未办结" in answer.render(None)


def test_someone_who_is_no_captain_is_refused():
    for context in (ctx("本楼工单"), staff_ctx("本楼工单", WORKER, "zhangwg")):
        decision = run("本楼工单", context, CommandData(tickets=OPEN))
        assert decision.outcome == "refused" and decision.changes == []
        assert "楼组长" in decision.sends[0].render(None)


# ---------------------------------------------------------------- 我的任务


def test_a_mediator_sees_the_disputes_they_hold_soonest_deadline_first():
    held = [ticket(id=8, category="dispute", tier="small", assignee_id=MED_SMALL,
                   status="accepted", resolve_due_at=NOW + timedelta(days=5)),
            ticket(id=9, category="dispute", tier="small", assignee_id=MED_SMALL,
                   accept_due_at=NOW + timedelta(hours=1))]
    decision = run("我的任务", staff_ctx("我的任务", MED_SMALL, "zhaozr"),
                   CommandData(tickets=held))
    [answer] = decision.sends
    assert answer.to == ToSender("wecom_app", "zhaozr", None)
    text = answer.render(None)
    assert "2件" in text and text.index("#9") < text.index("#8")


def test_a_resident_has_no_tasks():
    decision = run("我的任务", ctx("我的任务"), CommandData())
    assert decision.outcome == "refused"


# ---------------------------------------------------------------- 走访


def visit(text: str, understood: dict | None, person: int = WORKER,
          userid: str = "zhangwg"):  # type: ignore[no-untyped-def]
    return run(text, staff_ctx(text, person, userid), CommandData(nlu=understood))


LIGHT = nlu("repair_request", 0.97, entities=[{"entity": "building", "value": "3"},
                                              {"entity": "facility", "value": "light"}],
            urgency="normal")


def test_a_visit_naming_a_problem_opens_the_workers_own_ticket_linked_to_it():
    decision = visit("走访 3号楼 楼道灯不亮，已报修", LIGHT)
    assert decision.outcome == "command:visited"
    create = decision.create
    assert create is not None
    assert (create.category, create.facility, create.building_id, create.grid_id) == (
        "repair", "light", 10, 1)
    assert create.assignee_id == WORKER and create.group_id is None
    assert create.text == "楼道灯不亮，已报修" and create.location == "3号楼"
    assert create.accept_due_at == NOW + timedelta(hours=2)
    assert create.resolve_due_at == NOW + timedelta(hours=24)
    assert create.event_data["visit"] is True
    assert decision.visit == RecordVisit(WORKER, 10, "3号楼 楼道灯不亮，已报修",
                                         opened_ticket=True)
    [answer] = decision.sends
    assert answer.ticket_id is NEW_TICKET
    assert "#57" in answer.render(57) and "接单 57" in answer.render(57)
    assert decision.nlu is not None  # the console shows what was understood


def test_a_building_written_in_full_width_digits_is_found():
    decision = visit("走访 ３号楼，楼道灯不亮", LIGHT)
    assert decision.create is not None and decision.create.building_id == 10
    assert decision.create.text == "楼道灯不亮"


def test_a_building_written_in_chinese_numerals_is_found():
    decision = visit("走访 三号楼 楼道灯不亮", LIGHT)
    assert decision.create is not None and decision.create.building_id == 10
    assert decision.create.text == "楼道灯不亮"


def test_a_visit_without_a_problem_only_records_the_visit():
    decision = visit("走访 3号楼 例行走访，无异常", nlu("none", 0.66))
    assert decision.create is None
    assert decision.visit == RecordVisit(WORKER, 10, "3号楼 例行走访，无异常")
    [answer] = decision.sends
    assert "已记录3号楼的走访" in answer.render(None)


def test_a_visit_the_model_is_unsure_about_opens_no_ticket():
    unsure = nlu("repair_request", TICKET_CONFIDENCE - 0.2)
    decision = visit("走访 3号楼 一切正常，住户没有反映问题", unsure)
    assert decision.create is None and decision.visit is not None
    assert "请单独写明" in decision.sends[0].render(None)


def test_a_wish_found_on_a_visit_is_announced_to_the_volunteers():
    decision = visit("走访 5号楼 独居老人想请人帮忙买菜", nlu("micro_wish", 0.9))
    assert decision.create is not None and decision.create.category == "wish"
    assert decision.create.building_id == 11
    assert any(s.to == ToPerson(VOLUNTEER) for s in decision.sends)


def test_only_a_grid_worker_visits_and_only_the_buildings_of_their_grids():
    resident = run("走访 3号楼 楼道灯不亮", ctx("走访 3号楼 楼道灯不亮"), CommandData(nlu=LIGHT))
    assert resident.outcome == "refused" and resident.visit is None
    captain = run("走访 3号楼 楼道灯不亮",
                  ctx("走访 3号楼 楼道灯不亮", sender="wxid_wang", person=CAPTAIN),
                  CommandData(nlu=LIGHT))
    assert captain.outcome == "refused" and "网格员" in captain.sends[0].render(None)
    other_grid = visit("走访 3号楼 楼道灯不亮", LIGHT, OTHER_WORKER, "liwg")
    assert other_grid.outcome == "refused" and other_grid.create is None
    assert other_grid.visit is None and "不在您负责的网格" in other_grid.sends[0].render(None)
    unknown = visit("走访 99号楼 楼道灯不亮", LIGHT)
    assert unknown.outcome == "refused" and "没有找到 99号楼" in unknown.sends[0].render(None)
    no_building = visit("走访 楼道灯不亮", LIGHT)
    assert no_building.outcome == "refused" and "走访 楼号" in no_building.sends[0].render(None)


def test_a_visit_needs_words():
    decision = run("走访", staff_ctx("走访", WORKER, "zhangwg"), CommandData())
    assert decision.outcome == "refused" and "走访 楼号" in decision.sends[0].render(None)
