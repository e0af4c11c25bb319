"""No message is lost or refused because of another message: 30 valid messages posted at
the same moment as one the database cannot hold as it came (a lone surrogate, a NUL, a chat
id or name longer than its column) are all accepted and handled, and the odd one gets its
own answer: 200 after normalising it, or a 4xx saying what was wrong — never a 503."""

from __future__ import annotations

import pytest

from . import ledger as ledger_
from .load import Message, matters, post

VALID = 30

# (what, how the odd message differs from a normal one)
ODD_ONES = [
    ("lone surrogate escape in text", {"raw_text": "今天天气真好\\ud83d"}),
    ("NUL in text", {"raw_text": "3号楼今天天气真好\\u0000"}),
    ("chat_id of 250 characters", {"chat_id": "c" * 240 + "@chatroom"}),
    ("chat_id of 300 characters", {"chat_id": "c" * 290 + "@chatroom"}),
    ("chat_name of 250 characters", {"extra": {"chat_name": "楼" * 250}}),
]


def odd_message(tag: str, change: dict) -> Message:
    message = Message(msg_id=f"{tag}-odd", chat_id="b7@chatroom", sender_id=f"wxid_{tag}_odd",
                      sender_name=f"居民{tag}odd", text="今天天气真好")
    for key, value in change.items():
        setattr(message, key, value)
    return message


@pytest.mark.parametrize("fault_db", ["sqlite", "postgresql"], indirect=True)
async def test_one_bad_message_does_not_refuse_the_others(fault_db, fakes, gridbot):
    server = await gridbot(fault_db)
    failures = []
    valid_all: list[Message] = []
    odd_all: list[tuple[str, Message]] = []
    for round_number, (what, change) in enumerate(ODD_ONES):
        tag = f"odd{round_number}"
        # 30 new buildings' worth of reports, and the odd one in the middle of them
        valid = matters(VALID, tag=tag, buildings=range(1 + round_number * 19, 97))
        odd = odd_message(tag, change)
        batch = valid[:VALID // 2] + [odd] + valid[VALID // 2:]
        load = await post([server.url], batch, concurrency=len(batch))
        print(f"{what}: {load.summary()}; odd one answered {odd.status} {odd.answers[-1].body}")
        refused = [m.msg_id for m in valid if m.status != 200]
        if refused:
            failures.append(f"{what}: {len(refused)} of {VALID} valid messages refused "
                            f"({load.statuses()})")
        answer = odd.answers[-1]
        clear_refusal = (400 <= answer.status < 500 and isinstance(answer.body, dict)
                         and "error" in answer.body)
        if answer.status != 200 and not clear_refusal:
            failures.append(f"{what}: the odd message got {answer.status} {answer.body!r}, "
                            "not 200 nor a 4xx with an error")
        valid_all += valid
        odd_all.append((what, odd))

    settled, waited = await ledger_.settle(fault_db, fakes.bridge, fakes.wecom, timeout=60)
    ledger = await ledger_.count(fault_db, valid_all, fakes.bridge, fakes.wecom,
                                 logs=[server.log()])
    print(ledger.report(f"valid messages beside odd ones, {fault_db.split(':')[0]} "
                        f"({'settled' if settled else 'NOT settled'} after {waited:.1f}s)"))
    snap = await ledger_.snapshot(fault_db)
    for what, odd in odd_all:
        row = next((r for r in snap.inbound if r.sender_id == odd.sender_id), None)
        if odd.status == 200:
            if row is None:
                failures.append(f"{what}: answered 200 but not stored")
            elif row.status in ("received", "processing", "failed"):
                failures.append(f"{what}: answered 200 but ended {row.status} ({row.error})")
        elif row is not None:
            failures.append(f"{what}: refused but stored")
    log = ledger_.read_log(server.log())
    print("server log:", log.summary())

    if ledger.lost_count or ledger.doubled_count:
        failures.append(ledger.problems())
    assert not failures, "\n".join(failures)
