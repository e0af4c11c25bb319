"""PostgreSQL stopped for several seconds under load: while it is down every webhook
answers 503 (and answers in time), nothing answered 2xx is lost, and everything stored is
handled once it is back. The load generator retries refused messages as WeChat does."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from . import ledger as ledger_
from .load import matters, post

MESSAGES = 240
RATE = 30  # messages a second: the load lasts 8 s
DOWN_AFTER = 2.0
# Long enough that every request in between is refused and work under way must wait for the
# database; short enough that sends delivered meanwhile can still be recorded once it is
# back, without waiting for their lease to run out (a minute).
DOWN_FOR = 3.0
WECHAT_LIMIT = 5.0  # seconds WeChat waits for an answer
MARK_WITHIN = 0.5  # seconds in which a delivered send should be recorded as sent


async def test_postgres_stopped_under_load(pg_url, private_pg, fakes, gridbot):
    server = await gridbot(pg_url)
    messages = matters(MESSAGES)
    load = asyncio.create_task(post([server.url], messages, concurrency=8, rate=RATE,
                                    retry=True, retry_for=60, retry_pause=0.5))
    await asyncio.sleep(DOWN_AFTER)
    stopping_at = time.time()
    await asyncio.to_thread(private_pg.stop, "fast")
    down_at = time.time()
    await asyncio.sleep(DOWN_FOR)
    up_at = time.time()
    await asyncio.to_thread(private_pg.start)
    print(f"PostgreSQL down for {time.time() - down_at:.1f}s")
    report = await load
    print(report.summary())

    settled, waited = await ledger_.settle(pg_url, fakes.bridge, fakes.wecom, timeout=90,
                                           expect_stored=len(report.accepted))
    # A send delivered while the database was going or gone could not be recorded: it may
    # go out again, and the bridge's delivery id and WeCom's duplicate check absorb it.
    unrecordable = await ledger_.delivered_between(pg_url, fakes.bridge, fakes.wecom,
                                                   stopping_at - MARK_WITHIN, up_at)
    print(f"outbox rows delivered while PostgreSQL was unreachable: {sorted(unrecordable)}")
    ledger = await ledger_.count(pg_url, messages, fakes.bridge, fakes.wecom,
                                 excused_doubles=unrecordable, logs=[server.log()])
    print(ledger.report(f"PostgreSQL stopped {DOWN_FOR:.0f}s under {MESSAGES} messages "
                        f"({'settled' if settled else 'NOT settled'} after {waited:.1f}s)"))
    print("server log:", ledger_.read_log(server.log()).summary())

    answers = [a for m in messages for a in m.answers]
    while_down = [a for a in answers if down_at + 0.5 < a.at - a.seconds and a.at < up_at]
    print(f"answers while down: {dict(Counter(a.status for a in while_down))}")
    assert while_down and all(a.status == 503 for a in while_down), (
        f"answers while PostgreSQL was down: {dict(Counter(a.status for a in while_down))}")
    slow = [a for a in answers if a.seconds > WECHAT_LIMIT]
    assert not slow, f"{len(slow)} answers took longer than {WECHAT_LIMIT}s"
    assert all(m.accepted for m in messages), report.summary()
    assert ledger.lost_count == 0 and ledger.doubled_count == 0, ledger.problems()
    assert settled, f"still working {waited:.0f}s after PostgreSQL came back"
