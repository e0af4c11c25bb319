"""Two workers on one PostgreSQL and Redis; one is killed (kill -9) in the middle of a
backlog. The other takes over the messages the dead one had read but not finished —
through the Redis Stream's pending entries, within seconds, not after a lease of a minute —
and nothing is lost or handled twice."""

from __future__ import annotations

import asyncio
import time

from . import ledger as ledger_
from .load import matters, post

BACKLOG = 1200
# The stream gives a silent worker's messages to another after 5 s; handling the rest of
# the backlog takes a few more.
TAKEN_OVER_WITHIN = 15


async def test_a_killed_workers_messages_are_taken_over(pg_url, redis_server, fakes, gridbot):
    doomed = await gridbot(pg_url, redis_server.url, name="doomed", start=False)
    survivor = await gridbot(pg_url, redis_server.url, name="survivor", start=False)
    await asyncio.gather(doomed.start(), survivor.start())
    messages = matters(BACKLOG, buildings=range(1, 97))
    report = await post([doomed.url, survivor.url], messages, concurrency=16)
    print(report.summary())

    async def half_handled() -> bool:
        state = await ledger_.progress(pg_url)
        return state["inbound"] - state["inbound_open"] >= len(report.accepted) // 3

    assert await ledger_.until(half_handled, 60, every=0.02)
    at_kill = await ledger_.progress(pg_url)
    await doomed.kill9()
    killed = time.monotonic()
    # Sends the dead worker had out: delivered, not yet marked sent. Only these may repeat.
    await asyncio.sleep(0.3)
    in_flight = await ledger_.in_flight(pg_url, fakes.bridge, fakes.wecom)

    async def all_handled() -> bool:
        state = await ledger_.progress(pg_url)
        return state["inbound"] >= len(report.accepted) and state["inbound_open"] == 0

    handled = await ledger_.until(all_handled, TAKEN_OVER_WITHIN, every=0.1)
    after = time.monotonic() - killed
    settled, _ = await ledger_.settle(pg_url, fakes.bridge, fakes.wecom, timeout=60,
                                      expect_stored=len(report.accepted))
    ledger = await ledger_.count(pg_url, messages, fakes.bridge, fakes.wecom,
                                 excused_doubles=in_flight,
                                 logs=[doomed.log(), survivor.log()])
    log = ledger_.read_log(survivor.log())
    taken = [line for line in survivor.log().splitlines() if "took over" in line]
    print(f"killed at {at_kill}; every message decided {after:.1f}s after the kill; "
          f"survivor: {taken[-3:]}")
    print(ledger.report("kill -9 of one of two workers"))

    assert report.statuses() == {200: BACKLOG}, report.summary()
    assert handled, f"messages still open {TAKEN_OVER_WITHIN}s after the kill"
    assert ledger.lost_count == 0 and ledger.doubled_count == 0, ledger.problems()
    assert settled and not log.errors, log.summary()
