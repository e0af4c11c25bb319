"""Redis restarted (and emptied) under load: messages are still answered, stored and
handled, and nothing is lost or done twice."""

from __future__ import annotations

import asyncio

from . import ledger as ledger_
from .load import matters, post

MESSAGES = 400
RATE = 100  # messages a second: the load lasts 4 s


async def test_redis_restart_under_load(pg_url, redis_server, fakes, gridbot):
    server = await gridbot(pg_url, redis_server.url)
    messages = matters(MESSAGES)
    load = asyncio.create_task(post([server.url], messages, concurrency=16, rate=RATE))
    for pause in (1.0, 1.5):  # twice while messages arrive
        await asyncio.sleep(pause)
        await asyncio.to_thread(redis_server.restart)
        print("Redis restarted")
    report = await load
    print(report.summary())
    settled, waited = await ledger_.settle(pg_url, fakes.bridge, fakes.wecom, timeout=90,
                                           expect_stored=len(report.accepted))
    ledger = await ledger_.count(pg_url, messages, fakes.bridge, fakes.wecom,
                                 logs=[server.log()])
    print(ledger.report(f"Redis restarted twice under {MESSAGES} messages "
                        f"({'settled' if settled else 'NOT settled'} after {waited:.1f}s)"))
    print("server log:", ledger_.read_log(server.log()).summary())

    assert report.statuses() == {200: MESSAGES}, report.summary()
    assert ledger.lost_count == 0 and ledger.doubled_count == 0, ledger.problems()
    assert settled, f"still working {waited:.0f}s after the load"
