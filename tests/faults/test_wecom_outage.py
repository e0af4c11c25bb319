"""WeCom down, then slow, then handing out tokens that stop working: every push to staff
is delivered exactly once in the end, because the outbox retries with backoff.

gridbot runs in this process here, with a 1 s outbound timeout instead of 5 s, so that a
hang "past the client timeout" costs the test seconds rather than minutes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.runtime import Runtime

from . import ledger as ledger_
from .conftest import ADMIN_TOKEN, gridbot_settings
from .load import matters, post

TIMEOUT = 1.0  # gridbot's outbound timeout in this test
HANG = 1.5  # how long WeCom keeps each request while it is slow


async def wait_until(condition: Callable[[], bool], at_least: float, most: float) -> None:
    """Wait `at_least` seconds, then until `condition()` holds (at most `most` seconds)."""
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        if elapsed >= at_least and condition():
            return
        if elapsed > most:
            raise AssertionError("the fault was never reached")
        await asyncio.sleep(0.05)


async def test_pushes_survive_a_wecom_outage(pg_url, fakes, nlu_model, tmp_path, caplog):
    wecom = fakes.wecom
    settings = gridbot_settings(pg_url, fakes, tmp_path / "var")
    runtime = Runtime(settings, nlu_loader=lambda: nlu_model)
    runtime.dispatcher.timeout = TIMEOUT
    server = TestServer(create_app(runtime, token=ADMIN_TOKEN), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    messages = []
    try:
        # 1. WeCom answers 500 to everything
        wecom.fail_all(500)
        batch = matters(24, buildings=range(1, 25), facilities=1, tag="down")
        messages += batch
        print("WeCom answering 500:", (await post([url], batch)).summary())
        before = wecom.injected
        await wait_until(lambda: wecom.injected >= before + 6, at_least=2.5, most=20)
        # 2. WeCom takes every request but answers after the client gave up
        wecom.clear_faults()
        wecom.hang_all(HANG)
        before = wecom.injected
        await wait_until(lambda: wecom.injected >= before + 3, at_least=2.5, most=30)
        print(f"WeCom hanging {HANG}s: {wecom.injected - before} requests held")
        # 3. WeCom is back
        wecom.clear_faults()
        batch = matters(12, buildings=range(25, 37), facilities=1, tag="back")
        messages += batch
        print("WeCom back:", (await post([url], batch)).summary())
        await wait_until(lambda: sum(ledger_.task_pushes(wecom).values()) >= 12,
                         at_least=0, most=40)
        # 4. every token issued so far expires (42001), then more work comes
        wecom.expire_tokens()
        batch = matters(12, buildings=range(37, 49), facilities=1, tag="expired")
        messages += batch
        print("tokens expired:", (await post([url], batch)).summary())
        await wait_until(lambda: sum(ledger_.task_pushes(wecom).values()) >= 24,
                         at_least=0, most=40)
        # 5. every token issued so far is revoked (40014), then more work comes
        wecom.revoke_tokens()
        batch = matters(12, buildings=range(49, 61), facilities=1, tag="revoked")
        messages += batch
        print("tokens revoked:", (await post([url], batch)).summary())

        settled, waited = await ledger_.settle(pg_url, fakes.bridge, wecom, timeout=60)
    finally:
        await server.close()
    # On a loaded machine a reply to the bridge can also outlast the test's 1 s timeout: that
    # try was in flight at a fault, and its repeat is dropped by the bridge's delivery id.
    ledger = await ledger_.count(pg_url, messages, fakes.bridge, wecom,
                                 logs=["\n".join(r.getMessage() for r in caplog.records)])
    print(ledger.report(f"WeCom 500, hang, expired and revoked tokens "
                        f"({'settled' if settled else 'NOT settled'} after {waited:.1f}s)"))
    print(f"WeCom: {len(wecom.requests)} requests, {wecom.gettoken_count} gettoken, "
          f"{wecom.injected} faulty answers")

    assert all(m.status == 200 for m in messages)
    assert ledger.lost_count == 0 and ledger.doubled_count == 0, ledger.problems()
    assert settled, f"outbox still busy {waited:.0f}s after WeCom recovered"
