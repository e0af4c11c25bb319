"""Redis hangs (its process stopped: connections are taken, nothing answers) while messages
arrive: each is still answered within WeChat's 5 seconds, stored and handled, and nothing
is lost or done twice; when Redis answers again, gridbot goes on using it."""

from __future__ import annotations

import asyncio

from . import ledger as ledger_
from .load import matters, post

MESSAGES = 300
RATE = 30  # messages a second: the load lasts 10 s
WECHAT_WAITS = 5.0  # seconds WeChat waits for an answer before it gives up on the request
FROZEN = 8.0  # longer than WeChat waits


async def test_a_hung_redis_delays_no_answer_past_wechats_deadline(
        pg_url, redis_server, fakes, gridbot):
    server = await gridbot(pg_url, redis_server.url)
    messages = matters(MESSAGES)
    load = asyncio.create_task(post([server.url], messages, concurrency=16, rate=RATE,
                                    timeout=WECHAT_WAITS))
    await asyncio.sleep(1.0)
    redis_server.freeze()
    print("Redis frozen")
    await asyncio.sleep(FROZEN)
    redis_server.thaw()
    print("Redis thawed")
    report = await load
    print(report.summary())
    settled, waited = await ledger_.settle(pg_url, fakes.bridge, fakes.wecom, timeout=90,
                                           expect_stored=len(report.accepted))
    ledger = await ledger_.count(pg_url, messages, fakes.bridge, fakes.wecom,
                                 logs=[server.log()])
    print(ledger.report(f"Redis frozen {FROZEN:.0f}s under {MESSAGES} messages "
                        f"({'settled' if settled else 'NOT settled'} after {waited:.1f}s)"))
    print("server log:", ledger_.read_log(server.log()).summary())

    slowest = max(a.seconds for m in messages for a in m.answers)
    assert report.statuses() == {200: MESSAGES}, report.summary()
    assert slowest < WECHAT_WAITS, report.summary()
    assert ledger.lost_count == 0 and ledger.doubled_count == 0, ledger.problems()
    assert settled, f"still working {waited:.0f}s after the load"
