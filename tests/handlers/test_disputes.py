"""Disputes decided without a server: their ladder, the tier change as an event, and group
messages that name none of the parties."""

from __future__ import annotations

import re

import pytest

from domain.decisions import Send, ToGroup, ToSender
from domain.org import OrgMap, RoleInfo
from handlers import Context, Message, escalation, handle_message
from handlers.registry import handle_command, parse_command
from handlers.routing import route
from handlers.ticket_commands import CommandData
from tests.handlers.support import (
    ADMIN,
    CAPTAIN,
    DISTRICT_ADMIN,
    MED_BIG,
    MED_SMALL,
    NOW,
    ORG,
    WORKER,
    nlu,
    ticket,
)

MED_MEDIUM = 22


def with_medium_mediator(base: OrgMap) -> OrgMap:
    people = [(p.id, p.name, p.wecom_userid, p.wechat_id, p.phone) for p in base.people.values()]
    roles = [(p.id, r) for p in base.people.values() for r in p.roles]
    people.append((MED_MEDIUM, "第三方调解李老师", "litj", None, None))
    roles.append((MED_MEDIUM, RoleInfo("mediator", "district", 1, "medium")))
    return OrgMap.build(
        streets=base.streets.values(), districts=base.districts.values(),
        grids=[(g.id, g.name, g.district_id) for g in base.grids.values()],
        buildings=base.buildings.values(), groups=base.groups.values(),
        people=people, roles=roles,
    )


LADDER_ORG = with_medium_mediator(ORG)
PHONE = re.compile(r"1[3-9]\d{9}")


def group_texts(sends: list[Send]) -> list[str]:
    return [s.render(128) for s in sends if isinstance(s.to, ToGroup)]


def assert_anonymous(sends: list[Send], names_ticket: bool = True) -> None:
    said = [s for s in sends if isinstance(s.to, ToGroup)]
    assert said, "something was said in the group"
    for send in said:
        text = send.render(128)
        assert send.to.mention_ids == (), text
        assert "王阿姨" not in text and "@" not in text and not PHONE.search(text), text
        assert "#128" in text or not names_ticket, text


# ---------------------------------------------------------------- the ladder


def test_each_tier_is_routed_to_its_own_mediator():
    assert route(LADDER_ORG, "dispute", "micro", 10).assignee_id == CAPTAIN
    assert route(LADDER_ORG, "dispute", "small", 10).assignee_id == MED_SMALL
    assert route(LADDER_ORG, "dispute", "medium", 10).assignee_id == MED_MEDIUM
    assert route(LADDER_ORG, "dispute", "big", 10).assignee_id == MED_BIG


def test_a_dispute_climbs_every_tier_then_the_district_and_the_street():
    view = ticket(category="dispute", tier="micro", assignee_id=CAPTAIN)
    climbed = []
    while (decision := escalation.escalate(LADDER_ORG, NOW, view, cause="升级",
                                           for_holder="升级")).changes:
        [change] = decision.changes
        climbed.append((change.fields["assignee_id"], change.event_data.get("tier"),
                        change.event_data.get("previous_tier")))
        view = ticket(category="dispute", tier=change.fields.get("tier", view.tier),
                      assignee_id=change.fields["assignee_id"],
                      escalation_level=change.fields["escalation_level"])
    assert climbed == [
        (MED_SMALL, "small", "micro"),
        (MED_MEDIUM, "medium", "small"),
        (MED_BIG, "big", "medium"),
        (DISTRICT_ADMIN, None, None),  # above the ladder: the tier stays big
        (ADMIN, None, None),
    ]


def test_the_tier_change_is_in_the_event_and_its_text():
    view = ticket(category="dispute", tier="small", assignee_id=MED_SMALL)
    [change] = escalation.escalate(LADDER_ORG, NOW, view, cause="赵主任发起升级",
                                   for_holder="升级").changes
    assert change.fields["tier"] == "medium"
    assert change.event_data == {"level": 1, "holder": "第三方调解李老师",
                                 "title": "第三方调解员", "tier": "medium",
                                 "previous_tier": "small"}
    assert "调解层级由邻里小纠纷升为中等纠纷" in change.text


def test_the_command_moves_a_dispute_one_tier_up():
    context = Context(Message(1, "wecom_app", "zhaozr", None, "升级 128", None), LADDER_ORG,
                      NOW, None, None, MED_SMALL)
    decision = handle_command(context, parse_command("升级 128"), CommandData(
        ticket=ticket(category="dispute", tier="small", assignee_id=MED_SMALL)))
    [change] = decision.changes
    assert change.kind == "escalated" and change.event_data["tier"] == "medium"
    assert_anonymous(decision.sends)
    assert any("第三方调解员" in t for t in group_texts(decision.sends))


# ---------------------------------------------------------------- nobody named in a group


def group_ctx(text: str, sender: str = "wxid_res1", person: int | None = None) -> Context:
    return Context(Message(1, "bridge", sender, "王阿姨", text, "b3@chatroom"), ORG, NOW, 100,
                   10, person)


def test_a_dispute_reported_in_a_group_is_acknowledged_without_a_name():
    decision = handle_message(group_ctx("楼上邻居天天漏水不肯赔，我电话13812345678"),
                              nlu("dispute", tier="small"))
    [reply] = [s for s in decision.sends if isinstance(s.to, ToGroup)]
    assert reply.to == ToGroup(100)
    said = reply.render(128)
    assert "王阿姨" not in said and "@" not in said and "#128" in said
    assert "已收到您反映的矛盾纠纷" in said and "查询 128" in said


def test_a_dispute_reported_one_to_one_may_address_the_reporter():
    context = Context(Message(1, "wechat", "oResident1", "王阿姨", "3号楼楼上漏水不肯赔", None),
                      ORG, NOW, None, None, None)
    decision = handle_message(context, nlu("dispute", tier="small",
                                           entities=[{"entity": "building", "value": "3"}]))
    [reply] = [s for s in decision.sends if isinstance(s.to, ToSender)]
    assert "王阿姨" in reply.render(128)


def test_a_repair_still_mentions_its_reporter():
    decision = handle_message(group_ctx("3号楼电梯坏了"), nlu("repair_request"))
    [reply] = [s for s in decision.sends if isinstance(s.to, ToGroup)]
    assert reply.to == ToGroup(100, ("wxid_res1",)) and "@王阿姨" in reply.render(128)


DISPUTE = dict(category="dispute", tier="small", assignee_id=MED_SMALL,
               text="楼上邻居漏水不肯赔 电话13812345678")


@pytest.mark.parametrize("text,view", [
    ("查询 128", ticket(**DISPUTE)),
    ("评价 128 4", ticket(**dict(DISPUTE, status="resolved"))),
    ("没修好 128", ticket(**dict(DISPUTE, status="closed"))),
    ("接单 128", ticket(**DISPUTE)),  # refused: still nobody named
])
def test_answers_about_a_dispute_in_a_group_name_nobody(text, view):
    decision = handle_command(group_ctx(text), parse_command(text), CommandData(ticket=view))
    assert_anonymous(decision.sends, names_ticket=decision.outcome != "refused")


def test_a_mediators_note_is_not_repeated_into_the_group():
    """A note may name anyone ("已约602王先生"), not only the parties gridbot knows: the group
    hears there is progress, not what was written."""
    context = Context(Message(1, "wecom_app", "zhaozr", None, "x", None), ORG, NOW, None, None,
                      MED_SMALL)
    text = "进展 128 已约王阿姨和602王先生周六面谈，有事打13812345678"
    decision = handle_command(context, parse_command(text), CommandData(ticket=ticket(**DISPUTE)))
    assert_anonymous(decision.sends)
    [said] = group_texts(decision.sends)
    assert said == "工单 #128 有新进展：调解情况不在群里公开，当事人可私信网格员了解"
    assert decision.changes[0].text == "已约王阿姨和602王先生周六面谈，有事打13812345678"
    # The mediator's own answer, 1:1, is untouched.
    assert any(isinstance(s.to, ToSender) for s in decision.sends)


def test_a_dispute_reported_one_to_one_hears_its_steps_by_name():
    context = Context(Message(1, "wecom_app", "zhaozr", None, "x", None), ORG, NOW, None, None,
                      MED_SMALL)
    view = ticket(**dict(DISPUTE, group_id=None, reporter_channel="wechat",
                         reporter_id="oResident1"))
    decision = handle_command(context, parse_command("接单 128"), CommandData(ticket=view))
    [reporter] = [s for s in decision.sends if s.key == "reporter"]
    assert reporter.to == ToSender("wechat", "oResident1") and "王阿姨" in reporter.render(128)


def test_a_staff_answer_about_a_repair_in_a_group_still_mentions():
    decision = handle_command(group_ctx("查询 128"), parse_command("查询 128"),
                              CommandData(ticket=ticket()))
    [answer] = decision.sends
    assert answer.to == ToGroup(100, ("wxid_res1",)) and "@王阿姨" in answer.render(128)


def test_escalating_a_dispute_past_its_ladder_names_nobody_either():
    view = ticket(**dict(DISPUTE, tier="big", assignee_id=MED_BIG))
    decision = escalation.on_deadline(ORG, NOW, view, "resolve")
    [change] = decision.changes
    assert change.fields["assignee_id"] == DISTRICT_ADMIN and "tier" not in change.event_data
    assert_anonymous(decision.sends)
    assert WORKER not in [getattr(s.to, "person_id", None) for s in decision.sends]
