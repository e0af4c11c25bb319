"""A message of several matters (the shell's `matters`) is decided matter by matter: a ticket
for each, each routed, answered and pushed as if it had come alone."""

from __future__ import annotations

from domain.decisions import NEW_TICKET, ToGroup, ToPerson
from handlers import handle_message
from tests.handlers.support import WORKER, ctx, nlu, ticket

SAID = "3号楼电梯坏了，垃圾也没人清，还有楼下阿婆需要人帮忙买菜"
LIFT = {"entity": "facility", "value": "lift"}


def matter(text: str, intent: str, *entities: dict, **rest) -> dict:
    return {**nlu(intent, 0.97, list(entities), **rest), "text": text}


def several(*matters: dict, building: str | None = "3") -> dict:
    whole = nlu("repair_request", 0.81, [{"entity": "building", "value": building}, LIFT]
                if building else [LIFT])
    return {**whole, "text": SAID, "matters": list(matters)}


def test_each_matter_gets_a_ticket_of_its_own_in_the_building_the_message_names():
    d = handle_message(ctx(SAID, chat_id=None, channel="wechat_mp"), several(
        matter("3号楼电梯坏了", "repair_request", {"entity": "building", "value": "3"}, LIFT,
               urgency="normal"),
        matter("垃圾也没人清", "complaint"),
        matter("还有楼下阿婆需要人帮忙买菜", "micro_wish")))
    assert [x.outcome for x in (d, *d.more)] == ["ticket_created"] * 3
    made = [x.create for x in (d, *d.more)]
    assert [(c.category, c.facility, c.building_id) for c in made] == [
        ("repair", "lift", 10), ("complaint", None, 10), ("wish", None, 10)]
    assert [c.text for c in made] == ["3号楼电梯坏了", "垃圾也没人清", "还有楼下阿婆需要人帮忙买菜"]
    assert made[0].assignee_id == made[1].assignee_id == WORKER
    # the wish goes to the grid's volunteers, the repair and the complaint to the worker
    wish = d.more[1]
    assert wish.create.assignee_id is None
    assert any(isinstance(s.to, ToGroup) and "wxid_liu" in s.to.mention_ids for s in wish.sends)
    assert any(s.to == ToPerson(WORKER) for s in d.sends)
    # each answer names its own ticket: NEW_TICKET of each decision is its own
    assert all(any(s.ticket_id is NEW_TICKET for s in x.sends) for x in (d, *d.more))
    assert d.reason.startswith("一条消息说了3件事")
    audit = d.audit()
    assert [m["outcome"] for m in audit["more"]] == ["ticket_created", "ticket_created"]


def test_a_matter_already_open_is_followed_while_the_other_is_new():
    lift_open = ticket(id=42, reporter_id="wxid_other")
    d = handle_message(ctx("电梯又坏了，楼道灯也不亮"), {
        **nlu("repair_request", 0.99, [LIFT]), "matters": [
            matter("电梯又坏了", "repair_request", LIFT),
            matter("楼道灯也不亮", "repair_request", {"entity": "facility", "value": "light"})]},
        [lift_open])
    assert d.outcome == "followed" and d.follow.ticket_id == 42
    [light] = d.more
    assert light.outcome == "ticket_created" and light.create.facility == "light"
    assert all(isinstance(s.to, ToGroup) for s in light.sends if s.key == "reply")


def test_a_message_whose_building_is_not_known_is_one_matter_asking_for_it_once():
    d = handle_message(ctx(SAID, chat_id=None, channel="wechat_mp"), several(
        matter("电梯坏了", "repair_request", LIFT), matter("垃圾也没人清", "complaint"),
        building=None))
    assert d.outcome == "asked_building" and not d.more and len(d.sends) == 1


def test_the_buildings_each_matter_names_are_read_and_locked_for_the_message():
    from domain.conversations import Memory
    from handlers.conversation import answer_buildings, key_of

    here = ctx("电梯坏了，5号楼垃圾没人清")  # in 3号楼's group: the lift is 3号楼's
    understood = {**nlu("repair_request", 0.9, [LIFT, {"entity": "building", "value": "5"}]),
                  "matters": [
        matter("电梯坏了", "repair_request", LIFT),
        matter("5号楼垃圾没人清", "complaint", {"entity": "building", "value": "5"})]}
    assert answer_buildings(here, understood, Memory(key_of(here))) == {10, 11}
    d = handle_message(here, understood)
    assert [x.create.building_id for x in (d, *d.more)] == [10, 11]


def test_someone_collapsed_beside_a_broken_lift_is_an_emergency_call_for_help_of_its_own():
    d = handle_message(ctx("对面的老人晕倒了，另外电梯也坏了"), {
        **nlu("repair_request", 0.8, [LIFT], danger="medical"), "matters": [
            matter("对面的老人晕倒了", "repair_request", danger="medical"),
            matter("另外电梯也坏了", "repair_request", LIFT)]})
    help_, lift = d, d.more[0]
    assert (help_.create.category, help_.create.urgency) == ("wish", "emergency")
    assert help_.create.assignee_id == WORKER  # the worker's at once, no volunteer's
    assert help_.sends[0].render(5).startswith("@王阿姨 请立即拨打 120 急救！")
    assert (lift.create.category, lift.create.urgency, lift.create.facility) == (
        "repair", "normal", "lift")
