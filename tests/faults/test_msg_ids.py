"""The bridge numbers messages per chat: the same msg_id from another chat is a new
message, the same msg_id again in the same chat is a redelivery. Long ids are never cut
into a collision."""

from __future__ import annotations

import pytest

from . import ledger as ledger_
from .load import Message, post


def message(msg_id: str, building: int, n: int) -> Message:
    return Message(msg_id=msg_id, chat_id=f"b{building}@chatroom", sender_id=f"wxid_ids_{n}",
                   sender_name=f"居民ids{n}", text=f"{building}号楼电梯坏了，困了人",
                   building=building)


@pytest.mark.parametrize("fault_db", ["sqlite", "postgresql"], indirect=True)
async def test_msg_id_is_unique_per_chat(fault_db, fakes, gridbot):
    server = await gridbot(fault_db)
    long_prefix = "L" * 200
    first = [
        message("1001", 3, 1),
        message("1001", 12, 2),                      # the same id in another chat
        message(long_prefix + "-first", 20, 3),      # long ids sharing 200 characters
        message(long_prefix + "-second", 20, 4),
    ]
    for m in first:  # one after the other, so that each really comes "after" the previous
        await post([server.url], [m], concurrency=1)
    again = [message("1001", 3, 1), message("1001", 12, 2),
             message(long_prefix + "-second", 20, 4)]
    for m in again:
        await post([server.url], [m], concurrency=1)

    answers = [(m.chat_id, m.msg_id[:12], m.status, m.duplicate) for m in first + again]
    print("answers:", answers)
    settled, waited = await ledger_.settle(fault_db, fakes.bridge, fakes.wecom, timeout=30)
    ledger = await ledger_.count(fault_db, first, fakes.bridge, fakes.wecom,
                                 logs=[server.log()])
    print(ledger.report(f"msg ids, {fault_db.split(':')[0]} "
                        f"({'settled' if settled else 'NOT settled'} after {waited:.1f}s)"))

    assert [m.status for m in first + again] == [200] * 7, answers
    assert [m.duplicate for m in first] == [False] * 4, (
        f"new messages answered as duplicates: {answers[:4]}")
    assert [m.duplicate for m in again] == [True] * 3, (
        f"redeliveries not recognised: {answers[4:]}")
    assert ledger.lost_count == 0 and ledger.doubled_count == 0, ledger.problems()
