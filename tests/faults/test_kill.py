"""kill -9 with a backlog, then a restart: every message answered 2xx is handled exactly
once. A send can only be repeated if the kill caught it between its delivery and its being
marked sent, and the bridge's delivery id then absorbs the repeat."""

from __future__ import annotations

import asyncio
import time

from . import ledger as ledger_
from .load import matters, post

BACKLOG = 300
# Without Redis the restarted process takes over its predecessor's claims at once; with
# Redis the claims wait for their leases (10 s for messages, 20 s for sends).
SETTLE = 60


async def kill_mid_work(server, db_url: str, total: int) -> dict[str, int]:
    """Kill -9 `server` once it has handled part of the backlog and sent part of its
    replies, while work remains on both sides."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = await ledger_.progress(db_url)
        handled = state["inbound"] - state["inbound_open"]
        sent = state["outbox"] - state["outbox_pending"]
        if handled >= total // 3 and sent >= 20 and (
                state["inbound_open"] > 0 or state["outbox_pending"] > 0):
            await server.kill9()
            return state
        await asyncio.sleep(0.02)
    raise AssertionError(f"gridbot never got a third of the way through: {state}")


async def test_kill9_with_backlog_then_restart(backend, fakes, gridbot):
    db_url, redis_url = backend.db_url, backend.redis_url
    server = await gridbot(db_url, redis_url)
    messages = matters(BACKLOG, buildings=range(1, 61))
    load = await post([server.url], messages, concurrency=16)
    print(load.summary())

    at_kill = await kill_mid_work(server, db_url, len(load.accepted))
    await asyncio.sleep(0.3)  # let the fakes finish requests that were under way
    in_flight = await ledger_.in_flight(db_url, fakes.bridge, fakes.wecom)
    print(f"killed at {at_kill}; outbox rows delivered but not marked sent: "
          f"{sorted(in_flight)}")

    restarted = time.monotonic()
    await server.start()
    settled, waited = await ledger_.settle(db_url, fakes.bridge, fakes.wecom, timeout=SETTLE,
                                           expect_stored=len(load.accepted))
    ledger = await ledger_.count(db_url, messages, fakes.bridge, fakes.wecom,
                                 excused_doubles=in_flight, logs=[server.log()])
    print(ledger.report(f"kill -9 with {BACKLOG} queued, {backend.label} "
                        f"({'settled' if settled else 'NOT settled'} "
                        f"{time.monotonic() - restarted:.1f}s after the restart)"))
    log = ledger_.read_log(server.log())
    print("server log:", log.summary())

    assert load.statuses() == {200: BACKLOG}, load.summary()
    assert ledger.lost_count == 0 and ledger.doubled_count == 0, ledger.problems()
    assert settled, f"still working {waited:.0f}s after the restart"
    assert not log.errors and log.locked == 0, log.summary()
