"""A burst of group messages, on the embedded SQLite default and on PostgreSQL: every
message answered 2xx ends with one ticket or follow and one reply, every ticket with one
push, and the server logs no error while it carries the load."""

from __future__ import annotations

import os

import pytest

from . import ledger as ledger_
from .load import matters, post

BURST = int(os.environ.get("GRIDBOT_FAULTS_BURST", "2000"))
CLIENTS = 16


@pytest.mark.parametrize("fault_db", ["sqlite", "postgresql"], indirect=True)
async def test_burst_of_group_messages(fault_db, fakes, gridbot):
    server = await gridbot(fault_db)
    messages = matters(BURST)

    load = await post([server.url], messages, concurrency=CLIENTS)
    print(load.summary())
    settled, waited = await ledger_.settle(fault_db, fakes.bridge, fakes.wecom, timeout=120,
                                           expect_stored=len(load.accepted))
    ledger = await ledger_.count(fault_db, messages, fakes.bridge, fakes.wecom,
                                 logs=[server.log()])
    log = ledger_.read_log(server.log())
    print(ledger.report(f"burst of {BURST} on {fault_db.split(':')[0]} "
                        f"({'settled' if settled else 'NOT settled'} after {waited:.1f}s)"))
    print("server log:", log.summary())

    assert load.statuses() == {200: BURST}, load.summary()
    assert ledger.lost_count == 0 and ledger.doubled_count == 0, ledger.problems()
    assert settled, f"still working {waited:.0f}s after the burst"
    assert not log.errors and log.locked == 0, log.summary()
