"""A command naming a ticket that does not exist is answered with the number the sender
wrote, and the answer is about no ticket (its outbox row could not refer to one)."""

from __future__ import annotations

import pytest

from domain.decisions import NEW_TICKET, ToGroup, ToSender
from handlers import CommandData, handle_command
from handlers.registry import parse_command
from tests.handlers.support import VOLUNTEER, WORKER, ctx, staff_ctx

STAFF = {"person": WORKER, "sender": "zhangwg", "name": None, "channel": "wecom_app",
         "chat_id": None}
RESIDENT: dict = {}
VOLUNTEER_SAYS = {"person": VOLUNTEER, "sender": "wxid_liu", "name": "党员刘师傅"}


@pytest.mark.parametrize("text,number,who", [
    ("接单 999", "999", STAFF),
    ("查询 999", "999", RESIDENT),
    ("评价 999 5", "999", RESIDENT),
    ("没修好 999", "999", RESIDENT),
    ("进展 0 测试", "0", STAFF),
    ("完成 999 好了", "999", STAFF),
    ("认领 999", "999", VOLUNTEER_SAYS),
    ("改类 999 投诉", "999", STAFF),
    ("接单 ＃０", "0", STAFF),
])
def test_a_missing_ticket_is_named_by_the_number_written(text, number, who):
    command = parse_command(text)
    d = handle_command(ctx(text, **who), command, CommandData(ticket=None))
    assert d.outcome == "refused" and not d.changes and d.create is None
    [answer] = d.sends
    assert answer.ticket_id is None
    assert f"没有找到工单 #{number}" in answer.render(None)
    assert "None" not in answer.render(None)
    assert f"#{number}" in d.reason


def test_the_answer_goes_where_the_command_came_from():
    in_group = handle_command(ctx("查询 999"), parse_command("查询 999"), CommandData())
    assert in_group.sends[0].to == ToGroup(100, ("wxid_res1",))
    assert in_group.sends[0].render(None).startswith("@王阿姨 没有找到工单 #999")
    alone = handle_command(staff_ctx("接单 999", WORKER, "zhangwg"), parse_command("接单 999"),
                           CommandData())
    assert alone.sends[0].to == ToSender("wecom_app", "zhangwg", None)


def test_a_phone_number_written_as_a_ticket_number_is_not_repeated_into_the_group():
    d = handle_command(ctx("查询 13912345678"), parse_command("查询 13912345678"), CommandData())
    text = d.sends[0].render(None)
    assert "13912345678" not in text and "#139****5678" in text


def test_the_new_ticket_stand_in_is_no_ticket_number():
    assert NEW_TICKET != 0 and NEW_TICKET is not None
    assert all(NEW_TICKET != n for n in (0, 1, -1, 999))
    assert repr(NEW_TICKET) == "NEW_TICKET"
