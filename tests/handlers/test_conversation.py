"""Conversations that remember, as a pure function: the message, what is remembered of its
sender, the NLU in; a decision with the new state out."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.conversations import ConversationKey, Fragment, Memory, PendingReport
from domain.decisions import NEW_TICKET, ToPerson, ToSender
from handlers import conversation
from handlers.conversation import ANSWER_WINDOW, FRAGMENT_WINDOW, converse, joined_text
from nlu.entities import extract
from tests.handlers.support import NOW, OTHER_WORKER, WORKER, ctx, nlu, ticket

OA = {"channel": "wechat", "chat_id": None, "sender": "openid1"}
KEY = ConversationKey("wechat", "openid1", "")
GROUP_KEY = ConversationKey("bridge", "wxid_res1", "b3@chatroom")


def said(text: str, intent: str = "none", confidence: float = 0.95, **where) -> tuple:
    """A message and what the NLU made of it, its places found as the parser finds them."""
    return ctx(text, **(where or OA)), nlu(intent, confidence, entities=extract(text))


def asked(text: str = "电梯坏了", at=NOW) -> Memory:
    report = nlu("repair_request", entities=extract(text) + [
        {"entity": "facility", "value": "lift"}])
    return Memory(KEY, pending=PendingReport("building", text, report, at + ANSWER_WINDOW))


def test_a_report_without_a_building_asks_and_remembers_the_report():
    message, understood = said("电梯坏了", "repair_request")
    d = converse(message, understood, Memory(KEY))
    assert d.outcome == "asked_building" and d.sends[0].to == ToSender("wechat", "openid1")
    pending = d.conversation.pending
    assert pending.text == "电梯坏了" and pending.until == NOW + ANSWER_WINDOW


def test_the_answer_completes_the_report_and_remembers_the_building():
    for answer in ("5号楼", "5栋", "我住5号楼3单元", "五号楼的"):
        message, understood = said(answer)
        d = converse(message, understood, asked())
        assert d.outcome == "ticket_created", answer
        assert d.create.building_id == 11 and d.create.facility == "lift"
        assert d.create.text == f"电梯坏了 {answer}"
        assert d.conversation.home_building_id == 11 and d.conversation.pending is None
        assert d.conversation.last_ticket_id is NEW_TICKET
        assert "已记住您住5号楼" in d.sends[0].render(9)
    assert converse(*said("我住5号楼3单元"), asked()).create.location == "5号楼3单元"


def test_an_answer_after_the_window_is_not_taken():
    message, understood = said("5号楼")
    later = replace(message, now=NOW + ANSWER_WINDOW + timedelta(seconds=1))
    d = converse(later, understood, asked())
    assert d.outcome == "help" and d.create is None


def test_something_else_is_handled_as_itself_and_the_question_lapses():
    message, understood = said("查询", "none")
    d = converse(*said("今天天气真好"), asked())
    assert d.outcome == "help" and d.conversation.pending is None
    d = converse(*said("5号楼门口的路灯不亮", "repair_request"), asked())
    assert d.outcome == "ticket_created" and d.create.text == "5号楼门口的路灯不亮"
    assert d.conversation.pending is None


def test_an_unknown_building_is_asked_again():
    d = converse(*said("99号楼"), asked())
    assert d.outcome == "asked_building" and "没有找到99号楼" in d.sends[0].render(None)
    assert d.conversation.pending.text == "电梯坏了"


def test_another_report_while_waiting_joins_the_waiting_one_without_asking_again():
    d = converse(*said("又坏了", "repair_request"), asked("电梯"))
    assert d.outcome == "asked_building" and not d.sends
    assert d.conversation.pending.text == "电梯 又坏了"


def test_the_remembered_home_is_used_in_a_1to1_chat_but_not_in_a_group():
    home = Memory(KEY, home_building_id=11)
    d = converse(*said("楼道灯不亮", "repair_request"), home)
    assert d.outcome == "ticket_created" and d.create.building_id == 11
    assert "登记的住址5号楼" in d.reason
    unknown_group = {"channel": "bridge", "chat_id": "other@chatroom", "sender": "openid1"}
    d = converse(*said("楼道灯不亮", "repair_request", **unknown_group),
                 replace(home, key=ConversationKey("bridge", "openid1", "other@chatroom")))
    assert d.outcome == "asked_building"
    # A private chat through a bridge: its chat id is the resident's WeChat id.
    private = {"channel": "bridge", "chat_id": "wxid_9", "sender": "wxid_9"}
    d = converse(*said("楼道灯不亮", "repair_request", **private),
                 replace(home, key=ConversationKey("bridge", "wxid_9", "wxid_9")))
    assert d.outcome == "ticket_created" and d.create.building_id == 11


def test_i_live_in_sets_and_changes_the_home():
    d = converse(*said("我住5号楼"), Memory(KEY, home_building_id=10))
    assert d.outcome == "home_set" and d.conversation.home_building_id == 11
    assert d.sends[0].render(None).startswith("好的，已记住您住5号楼")
    assert converse(*said("我住99号楼"), Memory(KEY)).outcome == "home_unknown"
    # Said among neighbours in a group it is chatter.
    d = converse(*said("我住5号楼", chat_id="b3@chatroom", channel="bridge", sender="wxid_res1"),
                 Memory(GROUP_KEY))
    assert d.outcome == "ignored"


def test_fragments_are_kept_and_read_together():
    group = {"channel": "bridge", "chat_id": "b3@chatroom", "sender": "wxid_res1"}
    d = converse(*said("我们楼那个", **group), Memory(GROUP_KEY))
    assert d.outcome == "ignored" and d.conversation.fragments[0].text == "我们楼那个"
    memory = Memory(GROUP_KEY, fragments=(Fragment("我们楼那个", NOW),),
                    fragments_until=NOW + FRAGMENT_WINDOW)
    message, understood = said("灯", **group)
    assert joined_text(message, understood, memory) == "我们楼那个 灯"
    d = converse(message, understood, memory,
                 joined_nlu=nlu("repair_request", entities=[{"entity": "facility",
                                                             "value": "light"}]))
    assert d.outcome == "ticket_created" and d.create.text == "我们楼那个 灯"
    assert d.conversation.fragments == () and d.conversation.last_ticket_id is NEW_TICKET
    # Joined chatter stays chatter, so does a guess; fragments too old are not joined.
    d = converse(message, understood, memory, joined_nlu=nlu("none"))
    assert d.outcome == "ignored" and len(d.conversation.fragments) == 2
    d = converse(message, understood, memory, joined_nlu=nlu("repair_request", 0.55))
    assert d.outcome == "ignored"
    late = replace(message, now=NOW + FRAGMENT_WINDOW)
    assert joined_text(late, understood, memory) is None


def test_a_short_message_right_after_a_report_is_added_to_it():
    group = {"channel": "bridge", "chat_id": "b3@chatroom", "sender": "wxid_res1"}
    made = ticket(text="电梯", location="3号楼", created_at=NOW - timedelta(seconds=20))
    memory = Memory(GROUP_KEY, last_ticket_id=128, last_ticket_until=NOW + timedelta(seconds=70))
    d = converse(*said("又坏了", "repair_request", **group), memory, last_ticket=made)
    assert d.outcome == "supplemented" and d.create is None
    (change,) = d.changes
    assert change.ticket_id == 128 and change.fields == {"text": "电梯 又坏了"}
    assert [s.to for s in d.sends] == [ToPerson(WORKER)]  # nothing more in the group
    made = replace(made, text="电梯 又坏了")
    d = converse(*said("3单元的", "repair_request", 0.57, **group), memory, last_ticket=made)
    assert d.changes[0].fields == {"text": "电梯 又坏了 3单元的", "location": "3号楼3单元"}
    # Thanks, another facility or a sure report of another kind are not additions; after
    # thanks the report is still open to them.
    thanks = converse(*said("谢谢", **group), memory, last_ticket=made)
    assert thanks.outcome == "ignored" and thanks.conversation.last_ticket_id == 128
    other = converse(*said("楼道灯也不亮", "repair_request", **group), memory, last_ticket=made)
    assert other.outcome == "ticket_created"
    other = converse(*said("楼上天天吵", "complaint", 0.95, **group), memory, last_ticket=made)
    assert other.outcome == "ticket_created"
    # Two complaints in a row are two matters; a few more words on the same one are not.
    noise = replace(made, category="complaint", facility=None, text="楼上装修太吵了")
    other = converse(*said("楼下停车乱停", "complaint", 0.9, **group), memory, last_ticket=noise)
    assert other.outcome == "ticket_created"
    more = converse(*said("天天如此！", "complaint", 0.9, **group), memory, last_ticket=noise)
    assert more.outcome == "supplemented"
    # The report said again is not added to itself: it is handled as a repeat, answered.
    again = converse(*said("楼上装修太吵了！", "complaint", 0.9, **group), memory,
                     last_ticket=noise)
    assert again.outcome != "supplemented" and not again.changes


def test_an_addition_that_says_people_are_in_danger_makes_the_ticket_an_emergency():
    group = {"channel": "bridge", "chat_id": "b3@chatroom", "sender": "wxid_res1"}
    stopped = ticket(text="3号楼电梯又停了", location="3号楼", created_at=NOW - timedelta(seconds=2))
    memory = Memory(GROUP_KEY, last_ticket_id=128, last_ticket_until=NOW + timedelta(seconds=88))
    message, understood = said("里面有人被困住了！！快点", "repair_request", 0.76, **group)
    d = converse(message, {**understood, "danger": "trapped"}, memory, last_ticket=stopped)
    assert d.outcome == "supplemented" and "工单改为紧急" in d.reason
    (change,) = d.changes
    assert change.fields["urgency"] == "emergency"
    assert change.fields["accept_due_at"] == NOW + timedelta(minutes=10)  # not 2 hours
    task, reply = d.sends
    assert task.to == ToPerson(WORKER) and task.render(128).startswith(
        "【紧急】工单 #128 居民补充：里面有人被困住了！！快点")
    assert reply.render(128) == ("@王阿姨 已补充到工单 #128（紧急，已优先派单；情况危急请先拨打"
                                 " 119 火警、120 急救或 110 报警）。")
    # Someone trapped after a report of a dark stairwell is in a lift: another matter.
    dark = replace(stopped, text="楼道灯不亮", facility="light")
    trapped, understood = said("有人困在里面了", "repair_request", 0.6, **group)
    other = converse(trapped, {**understood, "danger": "trapped"}, memory, last_ticket=dark)
    assert other.outcome == "ticket_created" and other.create.urgency == "emergency"
    assert other.create.facility == "lift"
    # after a door that will not open, someone trapped is behind it: an addition
    door = replace(stopped, text="单元门的锁坏了打不开", facility="door")
    behind = converse(trapped, {**understood, "danger": "trapped"}, memory, last_ticket=door)
    assert behind.outcome == "supplemented" and behind.changes[0].fields["urgency"] == "emergency"
    # A fight during a repair, or a fire during a dispute, is another matter.
    fight, understood = said("有人拿刀砍人了", "repair_request", 0.7, **group)
    other = converse(fight, {**understood, "danger": "violence"}, memory, last_ticket=stopped)
    assert other.outcome == "ticket_created"
    quarrel = replace(stopped, category="dispute", facility=None, text="楼上楼下吵起来了")
    fire, understood = said("着火了", "dispute", 0.5, **group)
    other = converse(fire, {**understood, "danger": "fire"}, memory, last_ticket=quarrel)
    assert other.outcome != "supplemented"


def test_a_command_lets_what_was_remembered_lapse():
    from domain.decisions import Decision

    d = conversation.after_command(Decision("command:query", ""), ctx("查询", **OA), asked())
    assert d.conversation is not None and d.conversation.empty
    d = conversation.after_command(Decision("command:query", ""), ctx("查询", **OA), Memory(KEY))
    assert d.conversation is None


def test_a_short_1to1_repair_naming_nothing_asks_what_is_broken():
    home = Memory(KEY, home_building_id=11)
    d = converse(*said("又坏了", "repair_request"), home)
    assert d.outcome == "asked_facility" and d.create is None
    assert "什么坏了" in d.sends[0].render(None)
    pending = d.conversation.pending
    assert pending.question == "facility" and pending.text == "又坏了"
    waiting = replace(home, pending=pending)
    message, understood = said("电梯")
    understood = nlu("repair_request", entities=[{"entity": "facility", "value": "lift"}])
    d = converse(message, understood, waiting)
    assert d.outcome == "ticket_created" and d.create.facility == "lift"
    assert d.create.text == "又坏了 电梯" and d.create.building_id == 11
    assert d.conversation.pending is None and d.conversation.last_ticket_id is NEW_TICKET
    # Another sure matter is not the answer; nor is an answer too late.
    d = converse(*said("楼上天天吵", "complaint"), waiting)
    assert d.outcome == "ticket_created" and d.create.category == "complaint"
    late = replace(message, now=NOW + ANSWER_WINDOW)
    assert converse(late, understood, waiting).create.text == "电梯"
    # A report that says what is broken, an emergency or a group's report is not asked.
    assert converse(*said("楼道灯坏了", "repair_request",), home).outcome == "ticket_created"
    group = {"channel": "bridge", "chat_id": "b3@chatroom", "sender": "wxid_res1"}
    assert converse(*said("又坏了", "repair_request", **group),
                    Memory(GROUP_KEY)).outcome == "ticket_created"


def test_a_building_corrected_a_moment_after_moves_the_report_to_the_right_worker():
    group = {"channel": "bridge", "chat_id": "b3@chatroom", "sender": "wxid_res1"}
    wrong = ticket(text="3号楼门口的路灯坏了，晚上黑乎乎的", location="3号楼", facility="street_light",
                   created_at=NOW - timedelta(seconds=20))
    memory = Memory(GROUP_KEY, last_ticket_id=128, last_ticket_until=NOW + timedelta(seconds=70))
    for text in ("不是3号楼，是7号楼门口", "说错了，是7号楼的"):
        d = converse(*said(text, **group), memory, last_ticket=wrong)
        assert d.outcome == "ticket_created" and "更正刚反映的工单 #128 的楼栋为7号楼" in d.reason
        # 7号楼 is the second grid's: its worker has the report now, the first is told.
        assert (d.create.building_id, d.create.assignee_id, d.create.facility) == (
            12, OTHER_WORKER, "street_light")
        assert d.create.text == f"3号楼门口的路灯坏了，晚上黑乎乎的（更正：{text}）"
        [cancel] = d.changes
        assert (cancel.ticket_id, cancel.status, cancel.expect_status) == (
            128, "cancelled", ("new",))
        told = [s for s in d.sends if s.to == ToPerson(WORKER)]
        assert [s.render(128) for s in told] == [
            "工单 #128 已由反映人撤销（反映人更正为7号楼，已按7号楼重新立单），无需再处理，谢谢！"]
        assert {s.to for s in d.sends if isinstance(s.to, ToPerson)} == {
            ToPerson(WORKER), ToPerson(OTHER_WORKER)}
    # read matter by matter (a thanks set aside), the correction still keeps the report's words
    text = "谢谢，不是3号楼，是7号楼门口"
    message, understood = said(text, **group)
    understood = {**understood, "text": "不是3号楼，是7号楼门口", "set_aside": ["谢谢"],
                  "whole": understood["intent"]}
    d = converse(message, understood, memory, last_ticket=wrong)
    assert d.create.text == f"3号楼门口的路灯坏了，晚上黑乎乎的（更正：{text}）"
    # Once accepted, or a building only mentioned, it is not moved.
    accepted = replace(wrong, status="accepted")
    d = converse(*said("不是3号楼，是7号楼门口", **group), memory, last_ticket=accepted)
    assert not any(c.status == "cancelled" for c in d.changes)
    d = converse(*said("7号楼的也坏了", "repair_request", **group), memory, last_ticket=wrong)
    assert not any(c.status == "cancelled" for c in d.changes)
