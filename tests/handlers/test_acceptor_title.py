"""Residents hear who accepted their ticket by that person's role at the building: the
captain of a micro dispute is the 楼组长, a leader who took a ticket over the 网格长."""

from __future__ import annotations

import pytest

from domain.decisions import ToGroup
from handlers import Context, Message
from handlers.registry import handle_command, parse_command
from handlers.ticket_commands import CommandData
from tests.handlers.support import (
    ADMIN,
    CAPTAIN,
    DISTRICT_ADMIN,
    LEADER,
    MED_SMALL,
    NOW,
    ORG,
    WORKER,
    ticket,
)

MICRO_DISPUTE = dict(category="dispute", tier="micro", facility=None, assignee_id=CAPTAIN,
                     text="隔壁把鞋柜放在楼道里，和他家吵了几句")


@pytest.mark.parametrize("person,userid,view,title", [
    (WORKER, "zhangwg", ticket(), "网格员张网格"),
    (LEADER, "chenwgz", ticket(assignee_id=LEADER, escalation_level=1), "网格长陈网格长"),
    (DISTRICT_ADMIN, "sunsj", ticket(assignee_id=DISTRICT_ADMIN, escalation_level=2),
     "居民区负责人居委会孙书记"),
    (ADMIN, "admin1", ticket(assignee_id=ADMIN, escalation_level=3), "街道街道管理员"),
    (CAPTAIN, "wanglz", ticket(**MICRO_DISPUTE), "楼组长王楼长"),
    (MED_SMALL, "zhaozr", ticket(**dict(MICRO_DISPUTE, tier="small", assignee_id=MED_SMALL)),
     "调解员居委会赵主任"),
])
def test_the_group_hears_the_acceptors_own_title(person, userid, view, title):
    context = Context(Message(1, "wecom_app", userid, None, "接单 128", None), ORG, NOW, None,
                      None, person)
    decision = handle_command(context, parse_command("接单 128"), CommandData(ticket=view))
    assert decision.outcome == "command:accepted"
    [said] = [s.render(128) for s in decision.sends if isinstance(s.to, ToGroup)]
    assert f"已由{title}接单" in said, said
